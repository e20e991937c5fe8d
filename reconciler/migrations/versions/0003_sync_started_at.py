"""sync cursors: when the sync under way started (the sweep leaves its deliverables alone)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 08:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reconciler.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_started_at', reconciler.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.drop_column('sync_started_at')
