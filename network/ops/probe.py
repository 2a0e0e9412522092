"""A look at the hub's database that cannot hang: /readyz's and the outbox figures' (network.events.figures).

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

from dataclasses import dataclass
from datetime import datetime

from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from network.db import Database
from network.events import figures
from network.ledger import partitions

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


class Probe:
    def __init__(self, db: Database):
        self.db = db
        self._engine: Engine | None = None

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


def bounded_engine(engine: Engine) -> Engine:
    """The hub's database URL, connected anew for each look, every wait bounded by `SECONDS`."""
    return create_engine(engine.url, poolclass=NullPool, connect_args={
        "connect_timeout": SECONDS, "options": f"-c statement_timeout={SECONDS * 1000}"})
