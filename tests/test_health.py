"""/healthz and /readyz: what a load balancer asks, answered as it relies on (a database that stops, migrations behind).

The database is stopped without stopping the shared PostgreSQL server: the
hub connects through a forwarder (tests/support/forwarder.py) that the test
closes and opens again, or makes hang.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from network import create_app, schema
from network.db import Database, make_engine
from network.ops.probe import SECONDS
from tests.support.forwarder import Forwarder
from tests.support.hub import ADMIN_TOKEN


def hub_on(tmp_path, **config):
    return create_app({"TESTING": True, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN,
                       "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "keys"),
                       "COALITION_MASTER_KEY_FILE": str(tmp_path / "master.key"), **config})


def test_healthz_answers_ok_to_anyone(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_is_ready_on_a_database_at_the_code_s_head(client):
    response = client.get("/readyz")
    assert (response.status_code, response.json) == (200, {"status": "ok", "revision": ", ".join(schema.heads())})


@pytest.fixture
def forwarded(postgres_server_url):
    """The test session's PostgreSQL database (at head), reached through a forwarder the test controls."""
    url = make_url(postgres_server_url)
    with Forwarder((url.host or "127.0.0.1", url.port or 5432)) as forwarder:
        yield forwarder, url.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False)


def readiness(client) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = client.get("/readyz")
    return response.status_code, response.json, time.monotonic() - started


def test_readyz_goes_503_when_the_database_stops_and_200_when_it_is_back(forwarded, tmp_path):
    forwarder, url = forwarded
    app = hub_on(tmp_path, DATABASE_URL=url)
    client = app.test_client()
    assert readiness(client)[:2] == (200, {"status": "ok", "revision": ", ".join(schema.heads())})

    forwarder.close()
    status, body, took = readiness(client)
    assert (status, body["error"]["code"]) == (503, "not_ready")
    assert body["error"]["details"] == {"database": [f"does not answer within {SECONDS} s"]}
    assert took < SECONDS + 1
    assert client.get("/healthz").status_code == 200  # the process still answers: no restart for a database outage
    metrics = client.get("/metrics")  # the figures too, less what only the database knows
    assert metrics.status_code == 200 and b"coalition_outbox_pending_deliveries" not in metrics.data

    forwarder.open()
    assert readiness(client)[:2] == (200, {"status": "ok", "revision": ", ".join(schema.heads())})
    assert b"coalition_outbox_pending_deliveries 0.0" in client.get("/metrics").data
    app.extensions["coalition"].db.engine.dispose()


def test_readyz_does_not_hang_on_a_database_that_never_answers(forwarded, tmp_path):
    forwarder, url = forwarded
    client = hub_on(tmp_path, DATABASE_URL=url).test_client()
    forwarder.stall()
    status, body, took = readiness(client)
    assert (status, body["error"]["code"]) == (503, "not_ready")
    assert took < 2 * SECONDS + 1


@pytest.fixture(params=["sqlite", "postgres"])
def old_database(request, tmp_path):
    """A database of the test's own, migrated to the revision before the code's head."""
    (head,) = schema.heads()
    previous = f"{int(head) - 1:04d}"
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        schema.upgrade(engine, previous, master_key_file=str(tmp_path / "master.key"))
        yield Database(engine), previous
        engine.dispose()
        return
    admin = create_engine(request.getfixturevalue("postgres_server_url"), isolation_level="AUTOCOMMIT")
    name = f"coalition_readyz_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    schema.upgrade(engine, previous, master_key_file=str(tmp_path / "master.key"))
    yield Database(engine), previous
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_readyz_is_503_naming_both_revisions_while_migrations_are_behind(old_database, tmp_path):
    db, previous = old_database
    (head,) = schema.heads()
    client = hub_on(tmp_path, DATABASE=db).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == {
        "code": "not_ready", "message": f"The database's migrations are at {previous}, the code's at {head}",
        "details": {"migrations": [f"the database is at {previous}, the code at {head}: run coalition db upgrade"],
                    "database_revision": previous, "code_revision": head}}
    schema.upgrade(db.engine, "head", master_key_file=str(tmp_path / "master.key"))
    assert client.get("/readyz").json == {"status": "ok", "revision": head}


def test_readyz_of_an_empty_database_says_it_has_no_revision(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    response = hub_on(tmp_path, DATABASE=Database(engine)).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["details"]["database_revision"] == "none"
    engine.dispose()
