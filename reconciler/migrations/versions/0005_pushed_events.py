"""pushed events: event ids taken in and the newest message version stored by an event

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 08:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reconciler.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pushed_event',
    sa.Column('event_id', sa.String(), nullable=False),
    sa.Column('received_at', reconciler.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('pushed_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pushed_event_received_at'), ['received_at'], unique=False)

    op.create_table('message_version',
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('source_ref', sa.String(), nullable=False),
    sa.Column('version', sa.String(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', reconciler.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', 'source_ref')
    )
    with op.batch_alter_table('message_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_version_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_version_updated_at'))
    op.drop_table('message_version')
    with op.batch_alter_table('pushed_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pushed_event_received_at'))
    op.drop_table('pushed_event')
