"""person identities as rows: a person's id in each source (was person.slack_id, person.asana_gid)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 13:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# the columns this revision turns into rows, and the source each one named
LEGACY_COLUMNS = (('slack_id', 'slack'), ('asana_gid', 'asana'))


def upgrade() -> None:
    # Read the ids first and fill the new table last: SQLite drops a column by copying `person`
    # to a new table and dropping the old one, which (foreign keys on) deletes every row that
    # references it. A later migration that rebuilds `person` on SQLite must do the same.
    legacy = op.get_bind().execute(sa.text(
        f"SELECT id, {', '.join(c for c, _ in LEGACY_COLUMNS)} FROM person ORDER BY id"
    )).all()
    with op.batch_alter_table('person', schema=None) as batch_op:
        for column, _ in LEGACY_COLUMNS:
            batch_op.drop_index(batch_op.f(f'ix_person_{column}'))
            batch_op.drop_column(column)
    identity = op.create_table('person_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('external_id', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'source', name='uq_person_identity_person_source'),
    sa.UniqueConstraint('source', 'external_id', name='uq_person_identity_external_id')
    )
    assert identity is not None
    # the columns were not unique: an id two people shared stays with the older row
    holder: dict[tuple[str, str], int] = {}
    for person_id, *ids in legacy:
        for (_, source), external_id in zip(LEGACY_COLUMNS, ids):
            if external_id is not None:
                holder.setdefault((source, external_id), person_id)
    op.bulk_insert(identity, [
        {'person_id': person_id, 'source': source, 'external_id': external_id}
        for (source, external_id), person_id in sorted(holder.items(), key=lambda item: item[1])
    ])


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        for column, _ in LEGACY_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.String(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_person_{column}'), [column], unique=False)
    for column, source in LEGACY_COLUMNS:
        op.execute(
            f"UPDATE person SET {column} = (SELECT external_id FROM person_identity"
            f" WHERE person_identity.person_id = person.id AND person_identity.source = '{source}')"
        )
    op.drop_table('person_identity')
