"""Experiments behind the suggestions in bench/RESULTS.md, on throwaway databases.

    python -m bench.experiments drained-lots [--backend postgres]
    python -m bench.experiments sqlite-writer-lock

drained-lots: redemption latency on a member whose oldest lots are spent.
  The open-lots query filters `remaining > 0` on top of the index
  (member_id, expires_at, id), so every spent lot ahead of the first open one
  is read again by every redemption. Lots are drained with a direct UPDATE
  (this database is thrown away); then the same redemptions run again, and
  once more with a partial index WHERE remaining > 0.

sqlite-writer-lock: tail latency of 8 threads writing to one SQLite file,
  waiting in SQLite's busy handler (sleep and poll) versus queueing on a
  process-local lock taken before BEGIN IMMEDIATE.
"""

from __future__ import annotations

import threading
import time

import click
from sqlalchemy import text

from bench import backends, load, seed, service, world
from network import redemptions
from network.clock import utc_now
from network.db import Database, make_engine
from network.schema import upgrade


def _database(backend: str, postgres_url: str):
    return backends.sqlite_database() if backend == "sqlite" else backends.postgres_database(postgres_url)


@click.group()
def main() -> None:
    """Experiments behind bench/RESULTS.md."""


@main.command("drained-lots")
@click.option("--backend", type=click.Choice(["sqlite", "postgres"]), default="postgres", show_default=True)
@click.option("--postgres-url", default=backends.DEFAULT_POSTGRES_URL, show_default=True)
@click.option("--lots", default=200_000, show_default=True, help="1-point lots on the member")
@click.option("--drain", default=80_000, show_default=True, help="lots to mark spent")
@click.option("--redemptions", "count", default=500, show_default=True)
def drained_lots(backend: str, postgres_url: str, lots: int, drain: int, count: int) -> None:
    with _database(backend, postgres_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            db = Database(engine)
            scene = world.build(db, partners=2, member_count=4, clients=1, progress=False)
            member_id, card = seed.seed_heavy_member(db, scene.partners[0], lots, progress=True)
            partner = scene.partners[0].partner

            def batch(tag: str) -> str:
                def op(i: int) -> None:
                    db.transact(lambda s: redemptions.redeem(s, partner, card_number=card, points=5,
                                                             order_id=f"{tag}-{i}", now=utc_now()))

                m = load.run(tag, count, [op], progress=False)
                return f"p50 {m.p50:.2f} ms, p99 {m.p99:.2f} ms ({m.errors} errors)"

            click.echo(f"{backend}: redeem 5 points, member with {lots:,} open 1-point lots")
            click.echo(f"  no spent lot ahead:                 {batch('A')}")
            with engine.begin() as connection:
                connection.execute(text(
                    "UPDATE lots SET remaining = 0 WHERE id IN (SELECT id FROM lots WHERE member_id = :m "
                    "AND remaining > 0 ORDER BY expires_at, id LIMIT :n)"), {"m": member_id, "n": drain})
                connection.execute(text("UPDATE accounts SET balance = balance - :n "
                                        "WHERE member_id = :m AND kind = 'available'"), {"m": member_id, "n": drain})
            click.echo(f"  {drain:,} spent lots ahead:           {batch('B')}")
            with engine.begin() as connection:
                connection.execute(text("CREATE INDEX ix_lots_open ON lots (member_id, account_id, expires_at, id) "
                                        "WHERE remaining > 0"))
                if backend == "postgres":
                    connection.execute(text("ANALYZE lots"))
            click.echo(f"  same, partial index WHERE remaining > 0: {batch('C')}")
        finally:
            engine.dispose()


class _QueuedWriters(Database):
    """Database.transact behind a process-local lock: threads queue instead of polling SQLite's busy handler."""

    _writer = threading.Lock()

    def transact(self, work, attempts=5):
        with self._writer:
            return super().transact(work, attempts)


@main.command("sqlite-writer-lock")
@click.option("--ops", default=1000, show_default=True)
@click.option("--clients", default=8, show_default=True)
def sqlite_writer_lock(ops: int, clients: int) -> None:
    with backends.sqlite_database() as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            scene = world.build(Database(engine), partners=4, member_count=200, clients=clients, progress=False)
            for round_ in (1, 2):
                for cls in (Database, _QueuedWriters):
                    db = cls(engine)
                    started = time.perf_counter()
                    m = load.run("x", ops, service.earn_ops(db, scene, clients, hot=False, tag=f"{cls.__name__}{round_}"),
                                 progress=False)
                    name = "busy handler (as is)" if cls is Database else "process-local writer lock"
                    click.echo(f"{name:26} {m.rate:5.0f} earns/s  p50 {m.p50:7.1f} ms  p99 {m.p99:7.1f} ms  "
                               f"max {max(m.latencies) * 1000:7.1f} ms  ({time.perf_counter() - started:.1f}s)")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
