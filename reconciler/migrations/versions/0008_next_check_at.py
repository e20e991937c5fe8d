"""deliverable.next_check_at (when time alone may change its findings) and the configuration
the last full reconcile ran with

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reconciler.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Deliverables reconciled before this have no next check: the first sweep after the upgrade
    # makes a full pass (periodic_run.fingerprint is empty), which sets every one of them.
    with op.batch_alter_table('deliverable', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_check_at', reconciler.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliverable_next_check_at'), ['next_check_at'], unique=False)
    with op.batch_alter_table('periodic_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('periodic_run', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')
    with op.batch_alter_table('deliverable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliverable_next_check_at'))
        batch_op.drop_column('next_check_at')
