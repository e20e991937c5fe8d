"""deliverable links as rows: the item a deliverable is in each source (was deliverable.asana_gid)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliverable_link',
    sa.Column('deliverable_key', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('ref', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('deliverable_key', 'kind')
    )
    with op.batch_alter_table('deliverable_link', schema=None) as batch_op:
        batch_op.create_index('ix_deliverable_link_ref', ['kind', 'ref'], unique=False)
    op.execute(
        "INSERT INTO deliverable_link (deliverable_key, kind, ref)"
        " SELECT key, 'asana', asana_gid FROM deliverable WHERE asana_gid IS NOT NULL"
    )
    with op.batch_alter_table('deliverable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliverable_asana_gid'))
        batch_op.drop_column('asana_gid')


def downgrade() -> None:
    with op.batch_alter_table('deliverable', schema=None) as batch_op:
        batch_op.add_column(sa.Column('asana_gid', sa.String(), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliverable_asana_gid'), ['asana_gid'], unique=False)
    op.execute(
        "UPDATE deliverable SET asana_gid = (SELECT ref FROM deliverable_link"
        " WHERE deliverable_link.deliverable_key = deliverable.key AND deliverable_link.kind = 'asana')"
    )
    with op.batch_alter_table('deliverable_link', schema=None) as batch_op:
        batch_op.drop_index('ix_deliverable_link_ref')
    op.drop_table('deliverable_link')
