"""Where an operation's time goes: `python -m bench.hotspots [--backend postgres] [--op earn] [--ops 500]`.

Runs operations one after the other (one client, so the profile is the
code's, not lock waits) on a fresh database, counts the SQL statements each
one sends, and prints cProfile's top functions. The `app-*` operations go
through the Flask app in process (its test client: the whole request path
minus gunicorn and the socket).
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections import Counter

import click
from sqlalchemy import event

from bench import backends, raw, service, web, world
from network.db import Database, make_engine
from network.schema import upgrade


@click.command()
@click.option("--backend", type=click.Choice(["sqlite", "postgres"]), default="postgres", show_default=True)
@click.option("--postgres-url", default=backends.DEFAULT_POSTGRES_URL, show_default=True)
@click.option("--op", "op_name", type=click.Choice(["earn", "redeem", "raw-earn", "read", "app-earn", "app-redeem", "app-read"]), default="earn", show_default=True)
@click.option("--ops", default=500, show_default=True)
@click.option("--top", default=30, show_default=True)
@click.option("--sort", default="tottime", show_default=True, help="cProfile sort key: tottime, cumulative...")
@click.option("--profile/--no-profile", default=True, show_default=True, help="--no-profile: time and count only.")
def main(backend: str, postgres_url: str, op_name: str, ops: int, top: int, sort: str, profile: bool) -> None:
    database = backends.sqlite_database() if backend == "sqlite" else backends.postgres_database(postgres_url)
    with database as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            db = Database(engine)
            scene = world.build(db, partners=4, member_count=100, clients=1, progress=False)
            make = {"earn": lambda: service.earn_ops(db, scene, 1, hot=False, tag="P"),
                    "redeem": lambda: service.redeem_ops(db, scene, 1, hot=False, tag="P"),
                    "raw-earn": lambda: raw.earn_ops(engine, scene, 1, hot=False, tag="P"),
                    "read": lambda: service.balance_ops(db, scene.members[0].card, 1),
                    "app-earn": lambda: [_app_op(db, scene, "earn")],
                    "app-redeem": lambda: [_app_op(db, scene, "redeem")],
                    "app-read": lambda: [_app_op(db, scene, "read")]}[op_name]
            (op,) = make()
            for i in range(50):  # warm caches: compiled statements, prepared statements, pool
                op(10_000_000 + i)
            statements: Counter[str] = Counter()

            @event.listens_for(engine, "before_cursor_execute")
            def count(conn, cursor, statement, parameters, context, executemany):
                statements[" ".join(statement.split())[:110]] += 1

            profiler = cProfile.Profile()
            started, cpu = time.perf_counter(), time.process_time()
            if profile:
                profiler.enable()
            for i in range(ops):
                op(i)
            profiler.disable()
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            engine.dispose()
    click.echo(f"{backend} {op_name}: {ops} ops in {took:.2f}s, {took / ops * 1000:.2f} ms each "
               f"({'under the profiler' if profile else 'no profiler'}), one client; "
               f"this process's CPU {cpu / ops * 1000:.2f} ms per op")
    click.echo(f"SQL statements per op: {sum(statements.values()) / ops:.1f} (+ BEGIN/COMMIT)")
    for statement, n in statements.most_common():
        click.echo(f"  {n / ops:4.1f}  {statement}")
    if profile:
        pstats.Stats(profiler).sort_stats(sort).print_stats(top)


def _app_op(db: Database, scene: world.World, kind: str):
    from network import create_app

    app = create_app({"DATABASE": db, "COALITION_ADMIN_TOKEN": "profile-token", **web.RATE_LIMITS})  # counted, never refused
    client = app.test_client()
    partner = scene.partners[0]
    card = scene.hot.card if kind == "redeem" else scene.members[0].card  # the hot member has points to spare
    auth = {"Authorization": f"Bearer {partner.key}"}

    def op(i: int) -> None:
        if kind == "earn":
            body = {**web.SALE_BODY, "order_id": f"APP-{i}", "card_number": card}
            response = client.post("/v1/transactions", json=body, headers={**auth, "Idempotency-Key": f"APP-{i}"})
        elif kind == "redeem":
            body = {"card_number": card, "points": 1, "order_id": f"APP-{i}"}
            response = client.post("/v1/redemptions", json=body, headers={**auth, "Idempotency-Key": f"APP-{i}"})
        else:
            response = client.get(f"/v1/cards/{card}/balance", headers=auth)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{response.status_code} {response.get_data()[:200]!r}")

    return op


if __name__ == "__main__":
    main()
