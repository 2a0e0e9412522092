"""Many rows in one statement: what lets a 100,000-row export book in seconds.

On PostgreSQL each column travels as one array, in binary, and the rows are
rebuilt by `unnest` on the server: one short statement, parsed once,
whatever the number of rows (a multi-row VALUES list is a statement as long
as the data, parsed anew each time). On SQLite, which runs in this process,
an executemany is already that cheap.
"""

from __future__ import annotations

import functools
import re
from collections import namedtuple
from collections.abc import Sequence

from sqlalchemy import Connection, Table, any_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from network.models import Account

_accounts = Account.__table__


def insert_many(
    connection: Connection,
    table: Table,
    rows: Sequence[dict],
    *,
    same: dict | None = None,
    returning: Sequence[str] = (),
    unless_taken: Sequence[str] = (),
) -> list:
    """Insert `rows` (dicts with the same keys), each with the values of `same` too.

    Returns the `returning` columns of each row inserted. With
    `unless_taken` (the columns of a unique key), rows whose key is taken
    are skipped (ON CONFLICT DO NOTHING) and missing from the answer. The
    answer's order is not the rows' order: return a column to match on.
    """
    if not rows:
        return []
    same = same or {}
    columns = tuple(rows[0])
    # One row (a till's sale) is a plain INSERT ... VALUES: cheaper for the server to plan than unnest.
    dialect = "postgresql-arrays" if connection.dialect.name == "postgresql" and len(rows) > 1 else connection.dialect.name
    statement = _statement(dialect, table, columns, tuple(same), tuple(returning), tuple(unless_taken))
    if dialect == "postgresql-arrays":
        params = {**same, **{column: [row[column] for row in rows] for column in columns}}
        return _binary(connection, statement, params, tuple(returning))
    params = [{**same, **row} for row in rows]
    result = connection.execute(statement, params if len(params) > 1 else params[0])
    return result.all() if returning else []


#: One table's rows for `insert_together`: the table, the rows (dicts with the same keys), values every row shares.
Rows = tuple[Table, Sequence[dict], dict]


def insert_together(connection: Connection, writes: Sequence[Rows]) -> None:
    """Insert into several tables at once, none of the rows depending on another's: one round trip on PostgreSQL.

    An earn writes its postings, its lot and its awards, all keyed by the
    entry written just before: three statements, three waits on the
    server, where one statement of data-modifying CTEs (`WITH a AS (INSERT
    ...), b AS (INSERT ...) INSERT ...`) does the same work. Each table's
    rows travel as arrays, as `insert_many` sends them. On SQLite, which
    runs in this process, each is an executemany as before.
    """
    writes = [(table, rows, same or {}) for table, rows, same in writes if rows]
    if connection.dialect.name != "postgresql" or len(writes) < 2:
        for table, rows, same in writes:
            insert_many(connection, table, rows, same=same)
        return
    shapes = tuple((table, tuple(rows[0]), tuple(same)) for table, rows, same in writes)
    params = {}
    for n, (table, rows, same) in enumerate(writes):
        params.update({f"w{n}_{name}": value for name, value in same.items()})
        params.update({f"w{n}_{column}": [row[column] for row in rows] for column in rows[0]})
    with connection.connection.cursor() as cursor:
        cursor.execute(_together_sql(connection.dialect, shapes), params)


@functools.cache
def _together_sql(dialect, shapes: tuple[tuple[Table, tuple[str, ...], tuple[str, ...]], ...]) -> str:
    """The CTE statement for tables of these columns, each one's parameters prefixed `w<n>_`, sent in binary."""
    parts = []
    for n, (table, columns, same) in enumerate(shapes):
        sql = str(_statement("postgresql-arrays", table, columns, same, (), ()).compile(dialect=dialect))
        parts.append(re.sub(r"%\((\w+)\)s", rf"%(w{n}_\1)b", sql))
    *first, last = parts
    return "WITH " + ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(first)) + " " + last


def _binary(connection: Connection, statement, params: dict, returning: tuple[str, ...]) -> list:
    """Run on the driver's cursor with every parameter in binary format.

    psycopg would send arrays as text, quoting each element (a datetime
    costs microseconds); binary sends them as they are. These tables hold
    only integers, short strings and aware datetimes, which need none of
    SQLAlchemy's type processing.
    """
    sql, shape = _binary_sql(connection.dialect, statement, returning)
    with connection.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [shape(*row) for row in cursor.fetchall()] if returning else []


@functools.cache
def _binary_sql(dialect, statement, returning: tuple[str, ...]) -> tuple[str, type]:
    """The statement's SQL with binary placeholders (`%(name)b`), and a row type for what it returns."""
    sql = re.sub(r"%\((\w+)\)s", r"%(\1)b", str(statement.compile(dialect=dialect)))
    return sql, namedtuple("Inserted", returning or ("nothing",))


def add_to_balances(connection: Connection, changes: dict[int, int]) -> None:
    """Move many member balances at once: {account id: points to add}."""
    if not changes:
        return
    if connection.dialect.name == "postgresql" and len(changes) > 1:
        connection.execute(_PG_BALANCES, {"ids": list(changes), "changes": list(changes.values())})
    else:
        connection.execute(_MOVE_BALANCE, [{"account": a, "change": c} for a, c in changes.items()])


@functools.cache
def _statement(dialect: str, table: Table, columns: tuple[str, ...], same: tuple[str, ...], returning: tuple[str, ...],
               unless_taken: tuple[str, ...]):
    if dialect == "postgresql-arrays":
        arrays = select(
            *(func.unnest(bindparam(name, type_=postgresql.ARRAY(table.c[name].type))).label(name) for name in columns),
            *(bindparam(name, type_=table.c[name].type).label(name) for name in same),
        )
        statement = postgresql.insert(table).from_select([*columns, *same], arrays)
    else:
        statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    if unless_taken:
        statement = statement.on_conflict_do_nothing(index_elements=list(unless_taken))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
    return statement


_MOVE_BALANCE = (
    update(_accounts).where(_accounts.c.id == bindparam("account")).values(balance=_accounts.c.balance + bindparam("change"))
)
_changes = select(
    func.unnest(bindparam("ids", type_=postgresql.ARRAY(_accounts.c.id.type))).label("id"),
    func.unnest(bindparam("changes", type_=postgresql.ARRAY(_accounts.c.balance.type))).label("change"),
).subquery()
_PG_BALANCES = (
    update(_accounts).where(_accounts.c.id == _changes.c.id).values(balance=_accounts.c.balance + _changes.c.change)
)


def any_of(column, name: str) -> dict:
    """`column IN (...)` by dialect: one array on PostgreSQL (a statement of fixed length, parsed once), a list on SQLite."""
    return {
        "postgresql": column == any_(bindparam(name, type_=postgresql.ARRAY(column.type))),
        "sqlite": column.in_(bindparam(name, expanding=True)),
    }
