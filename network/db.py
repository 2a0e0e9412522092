"""Engine and transactions: the one place that knows SQLite from PostgreSQL.

Every write goes through `Database.transact`, which
- on SQLite opens the transaction with BEGIN IMMEDIATE (with a busy timeout),
  so concurrent writers queue instead of failing with "database is locked";
- on PostgreSQL relies on row locks taken by the ledger (SELECT ... FOR UPDATE);
- retries deadlocks and serialisation failures a bounded number of times and
  then raises `Unavailable` (HTTP 503).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from network.errors import Unavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
ATTEMPTS = 5
SQLITE_BUSY_MS = 30_000


def normalise_url(url: str) -> str:
    """Let people write postgresql:// and still get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, transaction_pooler: bool = False, **kwargs) -> Engine:
    """`transaction_pooler`: the URL is a PgBouncer (or alike) in transaction pooling mode.

    Such a pooler hands each transaction whichever server connection is
    free, so nothing may outlive a transaction on one: psycopg's prepared
    statements (made after a statement's fifth run on a connection) would be
    asked for on a server connection that never saw them. With it set, none
    is prepared; every statement is parsed at each run, the price of the pooler.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **kwargs)
        _sqlite_transactions(engine)
        return engine
    if transaction_pooler:
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pool_pre_ping: it costs a round trip on every checkout. A connection
    # found dead (the server restarted) is invalidated and the work retried.
    return create_engine(url, **kwargs)


def _sqlite_transactions(engine: Engine) -> None:
    """Take over BEGIN from pysqlite, as SQLAlchemy's SQLite docs recommend."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        immediate = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def insert_unless_taken(table, unique: list[str]) -> dict[str, object]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, by dialect name.

    The caller learns from an empty result that the unique key is taken; on
    PostgreSQL a concurrent insert of the same key is waited for first.
    """
    return {
        dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(table).on_conflict_do_nothing(index_elements=unique).returning(table.c.id)
        for dialect in (postgresql, sqlite)
    }


def _retryable(exc: DBAPIError, attempt: int) -> bool:
    if exc.connection_invalidated:
        return True
    if isinstance(exc, IntegrityError):
        # A concurrent writer inserted the same unique key first (an order id,
        # an idempotency key). Run once more: the work now sees that row and
        # answers as for any duplicate.
        return attempt == 1
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


class Retry(Exception):
    """Work that found, once it held its locks, a change it would book wrongly: run it again from the start.

    A batch of sales writes its rows before it locks its members (so two
    chunks of an import write at once); if a merge absorbed one of them
    meanwhile, the rows name the closed member, and the chunk is booked
    again, now reading the survivor's card.
    """


def make_replica_engine(url: str, **kwargs) -> Engine:
    """An engine on a PostgreSQL read replica, every transaction of it read-only.

    A hot standby refuses writes by itself; read-only transactions make a
    replica URL that names a primary by mistake refuse them too, rather than
    let a lagging read write past the ledger's locks.
    """
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"DATABASE_REPLICA_URL must be a PostgreSQL URL, not {make_url(url).get_backend_name()}")
    connect_args = {**kwargs.pop("connect_args", {}), "options": "-c default_transaction_read_only=on"}
    return make_engine(url, connect_args=connect_args, **kwargs)


class Database:
    def __init__(self, engine: Engine, replica: Engine | None = None):
        self.engine = engine
        #: Where reads that may lag go (`lagging_read`); None: the primary, as every other read.
        self.replica = replica
        self.replica_readers = (None if replica is None
                                else sessionmaker(replica.execution_options(isolation_level="AUTOCOMMIT"),
                                                  expire_on_commit=False))
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.is_sqlite = engine.dialect.name == "sqlite"
        # Reads on PostgreSQL run in autocommit: no BEGIN and ROLLBACK round
        # trips around a single SELECT (authentication, a balance).
        self.reading = engine if self.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self.readers = self.sessions if self.is_sqlite else sessionmaker(self.reading, expire_on_commit=False)
        # SQLite takes one writer at a time; threads of this process queue on
        # a lock instead of SQLite's busy handler, which sleeps and polls.
        self._writer = threading.Lock() if self.is_sqlite else contextlib.nullcontext()

    def session(self) -> Session:
        """A session for reads; the caller closes it."""
        return self.sessions()

    def read(self, work: Callable[[Session], T]) -> T:
        """Run a read; once more on a fresh connection if the pooled one was dead."""
        for attempt in (1, 2):
            with self.readers() as session:
                try:
                    return work(session)
                except DBAPIError as exc:
                    if not exc.connection_invalidated or attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def lagging_read(self, work: Callable[[Session], T]) -> T:
        """Run a read that may lag the ledger by the replica's replay delay: on the replica when there is one.

        Only for what a person reads to look back (a history, a statement
        list, a report, the audit trail), never a balance a till acts on nor
        anything a write decides from. A replica that fails (down, or a query
        cancelled by a conflict with its replay) costs the read its offload,
        not its answer: it runs on the primary instead.
        """
        if self.replica_readers is None:
            return self.read(work)
        try:
            with self.replica_readers() as session:
                return work(session)
        except OperationalError as exc:
            log.warning("read replica failed (%s); reading the primary", type(exc.orig).__name__)
            return self.read(work)

    def lagging_reads(self, works: Mapping[str, Callable[[Session], T]]) -> dict[str, T]:
        """Independent lagging reads at once, each on its own connection: a report's parts, which take seconds each.

        A report's parts share nothing but the span they read, so on
        PostgreSQL they run side by side and the report waits for the slowest
        instead of their sum (the database has a core for each). On SQLite,
        one process and one file, they run one after the other.
        """
        if self.is_sqlite or len(works) < 2:
            return {name: self.lagging_read(work) for name, work in works.items()}
        with ThreadPoolExecutor(max_workers=len(works), thread_name_prefix="report") as pool:
            running = {name: pool.submit(self.lagging_read, work) for name, work in works.items()}
            return {name: future.result() for name, future in running.items()}

    def row(self, statement, parameters: dict):
        """One row of one Core statement, without a Session: what every request's authentication costs."""
        for attempt in (1, 2):
            with self.reading.connect() as connection:
                try:
                    return connection.execute(statement, parameters).first()
                except DBAPIError as exc:
                    if not exc.connection_invalidated or attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def transact(self, work: Callable[[Session], T], attempts: int = ATTEMPTS) -> T:
        """Run `work` in one write transaction, committed when it returns.

        `work` may run more than once (after a deadlock), so it must do
        nothing outside the database that cannot be repeated.
        A unique-key race is retried once, deadlocks and serialisation
        failures up to `attempts` times.
        """
        for attempt in range(1, attempts + 1):
            with self._writer, self.sessions() as session:
                session.connection(execution_options={"write": True})
                try:
                    result = work(session)
                    session.commit()
                    return result
                except Retry as exc:
                    session.rollback()
                    if attempt == attempts:
                        raise Unavailable("The ledger is busy; retry the request") from exc
                except DBAPIError as exc:
                    session.rollback()
                    if not _retryable(exc, attempt):
                        raise
                    if attempt == attempts:
                        raise Unavailable("The ledger is busy; retry the request") from exc
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")
