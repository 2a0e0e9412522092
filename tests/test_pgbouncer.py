"""The hub behind a PgBouncer in transaction pooling: earns, redemptions and reads from several threads, none refused.

A transaction pooler gives each transaction whichever server connection is
free, so what a session keeps (a prepared statement) is not there for the
next one. `bash .ci/pgbouncer` runs one on 127.0.0.1:6432 with two server
connections for all its clients, so a client's transactions move between
them all the time. Without one these tests skip, unless
COALITION_REQUIRE_PGBOUNCER=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from network.db import Database, make_engine
from network.ops.probe import SECONDS, bounded_engine
from tests.support.hub import ADMIN_TOKEN, HubClient, World

PGBOUNCER_URL = os.environ.get("COALITION_TEST_PGBOUNCER_URL", "postgresql+psycopg://postgres@127.0.0.1:6432/postgres")
REQUIRE_PGBOUNCER = os.environ.get("COALITION_REQUIRE_PGBOUNCER") == "1"
THREADS, SALES = 4, 15


@pytest.fixture
def backend():
    """PostgreSQL alone: a pooler is PostgreSQL's."""
    return "postgres"


@pytest.fixture
def pooled_url(database) -> str:
    """This test's database, through the pooler."""
    probe = create_engine(PGBOUNCER_URL, connect_args={"prepare_threshold": None})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        message = f"No PgBouncer answers at {PGBOUNCER_URL} (`bash .ci/pgbouncer` starts one): {exc.orig}"
        if REQUIRE_PGBOUNCER:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    finally:
        probe.dispose()
    return make_url(PGBOUNCER_URL).set(database=database.engine.url.database).render_as_string(hide_password=False)


def busy_tills(app) -> tuple[list, list, HubClient, World]:
    """THREADS tills selling and reading at once, each statement run far past psycopg's fifth (when it prepares)."""
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    answers, errors = [], []

    def till(k: int) -> None:
        try:
            for n in range(SALES):
                answers.append(hub.sale(world.coffee, world.card, "2.00", order=f"T{k}-{n}").status_code)
                answers.append(hub.call("GET", f"/v1/cards/{world.card}/balance", world.coffee).status_code)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=till, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers, errors, hub, world


def test_the_hub_set_for_a_transaction_pooler_books_and_reads_through_one(make_app, pooled_url, database):
    app = make_app(DATABASE=None, DATABASE_URL=pooled_url, DATABASE_TRANSACTION_POOLER=True)
    try:
        answers, errors, hub, world = busy_tills(app)
    finally:
        app.extensions["coalition"].db.engine.dispose()
    assert errors == []
    assert sorted(set(answers)) == [200, 201] and len(answers) == 2 * THREADS * SALES
    assert hub.points(world.card)["available"] == 2 * THREADS * SALES  # every sale booked once, on the primary behind the pooler


def test_prepared_statements_are_what_a_transaction_pooler_breaks(pooled_url, database):
    """Why the setting exists: the same statements through the pooler with psycopg's preparing left on fail."""
    plain, pooled = Database(make_engine(pooled_url)), Database(make_engine(pooled_url, transaction_pooler=True))
    failures = {}

    def hammer_catching(db: Database, name: str) -> None:
        caught: list[Exception] = []

        def one_thread() -> None:
            try:
                for _ in range(30):
                    db.read(lambda session: session.execute(text("SELECT count(*) FROM members WHERE id <> :x"),
                                                            {"x": "m"}).scalar())
            except DBAPIError as exc:
                caught.append(exc)

        workers = [threading.Thread(target=one_thread) for _ in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        failures[name] = caught

    try:
        hammer_catching(plain, "prepared")
        hammer_catching(pooled, "not prepared")
    finally:
        plain.engine.dispose()
        pooled.engine.dispose()
    assert failures["not prepared"] == []
    assert failures["prepared"], "psycopg's prepared statements survived a transaction pooler: the setting is moot"
    assert any("prepared statement" in str(exc) for exc in failures["prepared"])


@pytest.mark.parametrize("through", ["pooler", "server"])
def test_the_probe_gives_up_on_a_statement_after_its_seconds_through_the_pooler_too(through, pooled_url, database):
    """/readyz must answer promptly; PgBouncer drops a startup option's statement_timeout, a SET LOCAL it keeps."""
    url = pooled_url if through == "pooler" else database.engine.url.render_as_string(hide_password=False)
    engine = bounded_engine(make_engine(url))
    started = time.monotonic()
    with pytest.raises(DBAPIError, match="statement timeout"), engine.connect() as connection:
        connection.execute(text("SELECT pg_sleep(10)"))
    assert time.monotonic() - started < SECONDS + 3
