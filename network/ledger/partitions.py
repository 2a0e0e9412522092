"""Postings and lot movements in one PostgreSQL partition per month of booking.

Closing a month reads that month's movements, and only its partition
holds them: the plan never touches the years before. An old month can be
detached and archived as a table of its own. Journal entries stay one
table: a dozen tables refer to an entry by its id, and PostgreSQL lets a
partitioned table be referred to only by a key holding its partition key,
so every one of them would carry the entry's booking time too. Their
booking time has an index that reads a month as one range instead.

Months are UTC months, and each partition is made ahead of its month (by
`coalition db upgrade` and `coalition db partitions`, which is safe to run
from cron at any time). A row booked in a month nobody made lands in the
table's default partition, so an earn never fails for want of one; making
that month later moves its rows out of the default, in one transaction.
SQLite keeps each table whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Connection, text

#: The partitioned tables; each row carries `booked_at`, its journal entry's booking time.
TABLES = ("postings", "lot_movements")
#: Months made ahead of the current one: a quarter, so a missed monthly run costs nothing.
MONTHS_AHEAD = 3

_PARTITION = re.compile(rf"^(?:{'|'.join(TABLES)})_(?:\d{{4}}_\d{{2}}|default)$")


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: date | None  # None: the default partition, for rows of a month not made yet
    rows: int


@dataclass(frozen=True)
class Cover:
    """How far the partitions reach: what /metrics shows, so a cron job that stopped is seen months before it matters."""

    months_ahead: int  # whole months after the current one made for every table; -1: not even the current one
    waiting: int  # rows in the default partitions: booked in a month nobody made


def is_partition(name: str) -> bool:
    """Whether a table is one of these partitions: the schema's comparison with the models leaves them out."""
    return bool(_PARTITION.match(name))


def partition_name(table: str, month: date) -> str:
    return f"{table}_{month:%Y_%m}"


def month_of(moment: datetime) -> date:
    moment = moment.astimezone(timezone.utc)
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partitioned(connection: Connection, table: str) -> bool:
    """Whether `table` is partitioned here: never on SQLite, and not on PostgreSQL before migration 0018."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:table)"), {"table": table})
    return kind.scalar() == "p"


def ensure(connection: Connection, *, now: datetime, ahead: int = MONTHS_AHEAD,
           since: date | None = None) -> list[str]:
    """Make every month's partition from `since` (default: this month) to `ahead` months on; returns those made.

    Months whose rows wait in the default partition are made too, and
    their rows moved in. Run in the caller's transaction.
    """
    made = []
    for table in TABLES:
        if not partitioned(connection, table):
            continue
        waiting = connection.execute(text(
            f"SELECT DISTINCT date_trunc('month', booked_at AT TIME ZONE 'UTC')::date FROM {table}_default"
        )).scalars().all()
        month, last = min([since or month_of(now), *waiting]), max([add_months(month_of(now), ahead), *waiting])
        while month <= last:
            if _make(connection, table, month, has_rows=month in waiting):
                made.append(partition_name(table, month))
            month = add_months(month, 1)
    return made


def _make(connection: Connection, table: str, month: date, *, has_rows: bool) -> bool:
    name = partition_name(table, month)
    if connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None:
        return False
    bounds = f"FROM ('{month.isoformat()} 00:00:00+00') TO ('{add_months(month, 1).isoformat()} 00:00:00+00')"
    if not has_rows:
        connection.execute(text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES {bounds}"))
        return True
    # A month's rows already in the default partition: PostgreSQL refuses a partition that would take them, so
    # the month is made beside the table, filled from the default, and attached (which checks nothing is left).
    within = (f"booked_at >= '{month.isoformat()} 00:00:00+00' "
              f"AND booked_at < '{add_months(month, 1).isoformat()} 00:00:00+00'")
    connection.execute(text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    connection.execute(text(f"WITH moved AS (DELETE FROM {table}_default WHERE {within} RETURNING *) "
                            f"INSERT INTO {name} SELECT * FROM moved"))
    connection.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES {bounds}"))
    return True


def listing(connection: Connection) -> list[Partition]:
    """Every partition of the partitioned tables, oldest month first and the default last, with its rows.

    A month's rows are PostgreSQL's estimate (counting a month of a large
    ledger takes seconds); the default's are counted, as any there is news.
    """
    found = []
    for table in TABLES:
        if not partitioned(connection, table):
            continue
        children = connection.execute(text(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:table)"
        ), {"table": table}).all()
        for name, estimate in children:
            if name.endswith("_default"):
                rows = connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                found.append(Partition(table, name, None, rows))
            else:
                found.append(Partition(table, name, date(int(name[-7:-3]), int(name[-2:]), 1), estimate))
    return sorted(found, key=lambda p: (p.table, p.month is None, p.month or date.min))


def cover(connection: Connection, *, now: datetime) -> Cover | None:
    """None where nothing is partitioned (SQLite, or PostgreSQL before migration 0018)."""
    if not partitioned(connection, TABLES[0]):
        return None
    ahead, waiting = None, 0
    for table in TABLES:
        made = 0
        while made <= 120 and connection.execute(
            text("SELECT to_regclass(:name)"), {"name": partition_name(table, add_months(month_of(now), made))}
        ).scalar() is not None:
            made += 1
        ahead = made - 1 if ahead is None else min(ahead, made - 1)
        waiting += connection.execute(text(f"SELECT count(*) FROM {table}_default")).scalar_one()
    return Cover(ahead, waiting)
