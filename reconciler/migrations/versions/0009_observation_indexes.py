"""observation: drop ix_observation_source_ref, a prefix of uq_observation_claim's index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 13:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every look-up by (source, source_ref) is served by the unique constraint's index on
    # (source, source_ref, field, deliverable_key); the separate index only cost writes.
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_index('ix_observation_source_ref')


def downgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.create_index('ix_observation_source_ref', ['source', 'source_ref'], unique=False)
