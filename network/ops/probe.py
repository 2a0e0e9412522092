"""A look at the hub's database that cannot hang: /readyz's, and /metrics' figures read from it (the outbox's, the
partitions', the read replica's lag).

A load balancer asks every few seconds and gives up after a few more: an
answer that waits on a database that stopped answering (a host gone, packets
dropped) would hold a worker's thread, and the probe's own timeout would
then say no more than a prompt 503. So the probe connects on an engine of
its own, a new connection each time (it also shows that the hub can still
connect, which a pooled connection would not), with a connect timeout and a
statement timeout of `SECONDS`. SQLite is a file with no server to wait on:
there the hub's own engine serves (an in-memory database exists only on it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from network.db import Database
from network.events import figures
from network.ledger import partitions

log = logging.getLogger(__name__)

#: How long the probe waits to connect, and then for each statement (libpq counts connect_timeout in whole seconds).
SECONDS = 2


@dataclass(frozen=True)
class Revisions:
    """The database's Alembic revisions and the code's heads: ready when they are the same."""

    database: tuple[str, ...]
    code: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return set(self.database) == set(self.code)


@dataclass(frozen=True)
class Replica:
    """The read replica as /metrics shows it: whether it answered, and how far its replay is behind."""

    up: bool
    lag_seconds: float | None  # None when it did not answer


#: The replica's delay: 0 once it has replayed all it received (a quiet primary sends nothing to replay, and the
#: last replayed transaction's time would then grow with no lag at all), else how old that transaction is.
_LAG = text(
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


class Probe:
    def __init__(self, db: Database):
        self.db = db
        self._engine: Engine | None = None
        self._replica: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.db.engine if self.db.is_sqlite else bounded_engine(self.db.engine)
        return self._engine

    def revisions(self, code: tuple[str, ...]) -> Revisions:
        """Raises SQLAlchemy's error when the database does not answer in time."""
        with self.engine.connect() as connection:
            return Revisions(tuple(MigrationContext.configure(connection).get_current_heads()), code)

    def backlog(self, now: datetime) -> tuple[figures.Backlog, list[figures.WebhookFigures], partitions.Cover | None]:
        """The outbox's backlog, each webhook's figures and the ledger partitions' reach; raises SQLAlchemy's error when
        the database does not answer in time."""
        with self.engine.connect() as connection, Session(connection) as session:
            return figures.backlog(session, now), figures.per_webhook(session, now), partitions.cover(connection, now=now)

    def replica(self) -> Replica | None:
        """None when no replica is set; never raises: a replica that does not answer in time is down."""
        if self.db.replica is None:
            return None
        if self._replica is None:
            self._replica = bounded_engine(self.db.replica)
        try:
            with self._replica.connect() as connection:
                return Replica(True, float(connection.execute(_LAG).scalar_one()))
        except SQLAlchemyError as exc:
            log.warning("metrics: the read replica does not answer: %s", str(exc).splitlines()[0][:300])
            return Replica(False, None)


def bounded_engine(engine: Engine) -> Engine:
    """The hub's database URL, connected anew for each look, every wait bounded by `SECONDS`.

    The statement timeout is set in each transaction (SET LOCAL), not as a
    startup option: PgBouncer in transaction pooling drops startup options,
    and a look through it would then wait as long as the pooler lets it.
    Nothing is prepared, for the same pooler.
    """
    bounded = create_engine(engine.url, poolclass=NullPool,
                            connect_args={"connect_timeout": SECONDS, "prepare_threshold": None})
    event.listen(bounded, "begin", _timeout)
    return bounded


def _timeout(connection) -> None:
    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {SECONDS * 1000}")
