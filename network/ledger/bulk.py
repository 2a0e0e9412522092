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

from sqlalchemy import Connection, Table, any_, bindparam, column, func, select, update
from sqlalchemy import table as table_clause
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


#: One table's rows for `insert_entries_with`: the table, the rows (dicts with the same keys), values every row shares.
Rows = tuple[Table, Sequence[dict], dict]


def insert_entries_with(connection: Connection, entries: Table, rows: Sequence[dict], same: dict,
                        writes: Sequence[Rows], balances: dict[int, int] | None = None) -> dict:
    """Insert journal entries and the rows that hang from them, and move balances: one statement on PostgreSQL.

    `rows` are the entries, each with its `order_id` (an order has one earn
    entry); each write's rows name their entry by that order id, in their
    `entry_id` column, and get the entry's real id on the way in. Returns
    {order id: entry id}. A sale at a till is thus one statement for its
    entry, postings, lot, awards and balance, where each was a wait on the
    server of its own: on PostgreSQL the entries' INSERT is a CTE the others
    join (`WITH e AS (INSERT ... RETURNING id, order_id), w0 AS (INSERT ...
    SELECT e.id ... JOIN e) ... SELECT id, order_id FROM e`). On SQLite,
    in this process, the entries go first and the others after.
    """
    writes = [(table, table_rows, more or {}) for table, table_rows, more in writes if table_rows]
    if not rows:
        return {}
    if connection.dialect.name != "postgresql":
        entry_of = {row.order_id: row.id for row in insert_many(connection, entries, rows, same=same,
                                                                returning=("id", "order_id"))}
        for table, table_rows, more in writes:
            insert_many(connection, table, [{**row, "entry_id": entry_of[row["entry_id"]]} for row in table_rows],
                        same=more)
        add_to_balances(connection, balances or {})
        return entry_of
    changes = {account: change for account, change in (balances or {}).items() if change}
    one = len(rows) == 1
    shapes = (entries, tuple(rows[0]), tuple(same),
              tuple((table, tuple(table_rows[0]), tuple(more)) for table, table_rows, more in writes), min(len(changes), 2), one)
    params = {f"e_{name}": value for name, value in same.items()}
    params.update({f"e_{column}": row_values[0] if one else row_values
                   for column, row_values in ((c, [row[c] for row in rows]) for c in rows[0])})
    for n, (_, table_rows, more) in enumerate(writes):
        params.update({f"w{n}_{name}": value for name, value in more.items()})
        params.update({f"w{n}_{column}": [row[column] for row in table_rows] for column in table_rows[0]
                       if not (one and column == "entry_id")})  # one entry: the rows take its id, sent no more
    if len(changes) == 1:
        ((params["b_account"], params["b_change"]),) = changes.items()
    elif changes:
        params.update({"b_ids": list(changes), "b_changes": list(changes.values())})
    with connection.connection.cursor() as cursor:
        cursor.execute(_with_entries_sql(connection.dialect, shapes), params)
        return {order_id: entry_id for entry_id, order_id in cursor.fetchall()}


#: The entries' CTE, as the rows that hang from them join it.
_e = table_clause("e", column("id"), column("order_id"))


@functools.cache
def _with_entries_sql(dialect, shapes) -> str:
    """`insert_entries_with`'s statement for rows of these columns, its parameters prefixed e_, w<n>_ and b_."""
    entries, columns, same, writes, balances, one = shapes
    # One entry (a till's sale) is a plain INSERT ... VALUES, and the rows take its id without a join: the
    # server plans that for less.
    head = _statement("postgresql" if one else "postgresql-arrays", entries, columns, same, ("id", "order_id"), ())
    if one:
        head = head.values({name: bindparam(name, type_=entries.c[name].type) for name in (*columns, *same)})
    ctes = [f"e AS ({_sql(head, dialect, 'e')})"]
    for n, (table, table_columns, more) in enumerate(writes):
        sent = [c for c in table_columns if not (one and c == "entry_id")]
        arrays = select(
            *(func.unnest(bindparam(f"w{n}_{c}", type_=postgresql.ARRAY(table.c[c].type))).label(c) for c in sent),
        ).subquery("x")
        entry_id = select(_e.c.id).scalar_subquery() if one else _e.c.id
        picked = [entry_id if c == "entry_id" else arrays.c[c] for c in table_columns]
        constants = [bindparam(f"w{n}_{name}", type_=table.c[name].type) for name in more]
        source = select(*picked, *constants).select_from(
            arrays if one else arrays.join(_e, _e.c.order_id == arrays.c.entry_id))
        statement = postgresql.insert(table).from_select([*table_columns, *more], source)
        ctes.append(f"w{n} AS ({_sql(statement, dialect, None)})")
    if balances:  # 1: one account's, by its id; 2: several, as arrays
        ctes.append(f"b AS ({_sql(_MOVE_BALANCE if balances == 1 else _PG_BALANCES, dialect, 'b')})")
    return "WITH " + ", ".join(ctes) + " SELECT id, order_id FROM e"


def _sql(statement, dialect, prefix: str | None) -> str:
    """The statement's SQL with binary placeholders, each renamed `<prefix>_<name>` when a prefix is given."""
    sql = str(statement.compile(dialect=dialect))
    return re.sub(r"%\((\w+)\)s", (rf"%({prefix}_\1)b" if prefix else r"%(\1)b"), sql)


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
