"""notification.message_view: the outbox keeps a channel-neutral view, rendered when sent

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:30:00

Rows planned before this revision keep their stored text and blocks and are sent as they are.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_view', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('message_view')
