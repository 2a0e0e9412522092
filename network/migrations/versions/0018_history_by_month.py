"""postings and lot movements carry their entry's booking time (movements their lot's issuer); on PostgreSQL, one
partition per month of it

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

Closing a month reads its lot movements; partitioned by booking month, it
reads that month's partition and no other (network.ledger.partitions).
PostgreSQL wants the partition key in the primary key, so a posting's is
(id, booked_at) there; ids still come from the one sequence, unique alone.
Journal entries get a BRIN index on their booking time: they are written in
that order, so a few pages of it find a month's entries. A movement names
its lot's issuer, so the month's figures need no lot of the years before.
SQLite gains the columns and nothing else.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from network.ledger import partitions

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

#: What each table gains, and the SQL that fills it for a row `w` (with its entry `e`).
GAINED = {
    'postings': {'booked_at': ('timestamptz NOT NULL', 'e.booked_at')},
    'lot_movements': {'booked_at': ('timestamptz NOT NULL', 'e.booked_at'),
                      'issuer_id': ('bigint', 'l.issuer_id')},
}
#: What the filling reads beside the row and its entry.
JOINED = {'postings': '', 'lot_movements': ' JOIN lots l ON l.id = w.lot_id'}
#: Each table's columns before this revision, what it refers to, and its indexes.
SHAPES = {
    'postings': (('id', 'entry_id', 'account_id', 'amount'),
                 {'entry_id': 'journal_entries', 'account_id': 'accounts'}, ('account_id', 'entry_id')),
    'lot_movements': (('id', 'lot_id', 'entry_id', 'points'),
                      {'entry_id': 'journal_entries', 'lot_id': 'lots'}, ('entry_id', 'lot_id')),
}


def _keys(table: str, primary: str) -> None:
    _, refers, indexed = SHAPES[table]
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({primary})")
    for column, target in refers.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_{target} "
                   f"FOREIGN KEY ({column}) REFERENCES {target} (id)")
    for column in indexed:
        op.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")


def upgrade() -> None:
    op.create_index('ix_journal_entries_booked_at', 'journal_entries', ['booked_at'], postgresql_using='brin')
    if op.get_bind().dialect.name != 'postgresql':
        for table in SHAPES:
            with op.batch_alter_table(table) as batch:
                batch.add_column(sa.Column('booked_at', sa.DateTime(timezone=True), nullable=True))
                if 'issuer_id' in GAINED[table]:
                    batch.add_column(sa.Column('issuer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite')))
            op.execute(f"UPDATE {table} SET booked_at = "
                       f"(SELECT e.booked_at FROM journal_entries e WHERE e.id = {table}.entry_id)")
            if 'issuer_id' in GAINED[table]:
                op.execute(f"UPDATE {table} SET issuer_id = (SELECT l.issuer_id FROM lots l WHERE l.id = {table}.lot_id)")
            with op.batch_alter_table(table) as batch:
                batch.alter_column('booked_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        return
    for table in SHAPES:
        gained = ", ".join(f"{column} {kind}" for column, (kind, _) in GAINED[table].items())
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_whole")
        op.execute(f"CREATE TABLE {table} (LIKE {table}_whole INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
                   f"{gained}) PARTITION BY RANGE (booked_at)")
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    connection = op.get_bind()
    first = connection.execute(sa.text("SELECT min(booked_at) FROM journal_entries")).scalar()
    now = datetime.now(timezone.utc)
    partitions.ensure(connection, now=now, since=partitions.month_of(first or now))
    for table, (columns, _, _) in SHAPES.items():
        listed = ", ".join([*columns, *GAINED[table]])
        filled = ", ".join([*(f'w.{c}' for c in columns), *(fill for _, fill in GAINED[table].values())])
        op.execute(f"INSERT INTO {table} ({listed}) SELECT {filled} "
                   f"FROM {table}_whole w JOIN journal_entries e ON e.id = w.entry_id{JOINED[table]}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
        op.execute(f"DROP TABLE {table}_whole")
        _keys(table, "id, booked_at")
        # A table made anew has no statistics until autovacuum comes by: without them a close's plan scans all.
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    op.drop_index('ix_journal_entries_booked_at', table_name='journal_entries')
    if op.get_bind().dialect.name != 'postgresql':
        for table in SHAPES:
            with op.batch_alter_table(table) as batch:
                for column in GAINED[table]:
                    batch.drop_column(column)
        return
    for table, (columns, _, _) in SHAPES.items():
        listed = ", ".join(columns)
        op.execute(f"CREATE TABLE {table}_whole (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        for column in GAINED[table]:
            op.execute(f"ALTER TABLE {table}_whole DROP COLUMN {column}")
        op.execute(f"INSERT INTO {table}_whole ({listed}) SELECT {listed} FROM {table}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}_whole.id")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_whole RENAME TO {table}")
        _keys(table, "id")
        op.execute(f"ANALYZE {table}")
