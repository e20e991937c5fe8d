"""sync cursors count 429 answers; periodic runs keep how long they took

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('throttled', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('periodic_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seconds', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('periodic_run', schema=None) as batch_op:
        batch_op.drop_column('seconds')
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.drop_column('throttled')
