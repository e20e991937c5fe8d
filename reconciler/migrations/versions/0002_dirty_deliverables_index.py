"""dirty deliverables: a partial index on key instead of an index on the flag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliverable', schema=None) as batch_op:
        batch_op.drop_index('ix_deliverable_dirty')
        batch_op.create_index(
            'ix_deliverable_dirty_key', ['key'], unique=False,
            sqlite_where=sa.text('dirty = 1'), postgresql_where=sa.text('dirty'),
        )


def downgrade() -> None:
    with op.batch_alter_table('deliverable', schema=None) as batch_op:
        batch_op.drop_index('ix_deliverable_dirty_key')
        batch_op.create_index('ix_deliverable_dirty', ['dirty'], unique=False)
