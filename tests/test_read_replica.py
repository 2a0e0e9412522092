"""A read replica: reads that may lag go to DATABASE_REPLICA_URL, balances and writes stay on the primary.

Against a real streaming replica: a hot standby of the local PostgreSQL on
127.0.0.1:5433, made by `bash .ci/replica` (COALITION_TEST_REPLICA_URL). The
test database this session made on the primary reaches the replica by
streaming. Without a replica these tests skip, unless
COALITION_REQUIRE_REPLICA=1 (CI), which makes that a failure.

Routing is proven by pausing the replica's replay: what is booked then shows
at once where the primary answers, and where the replica answers only once
replay resumes. The pause is global to the replica, so a test holds it under
an advisory lock that every process of every run on this machine shares.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from network.db import make_replica_engine
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.metrics import scrape, value

REPLICA_URL = os.environ.get("COALITION_TEST_REPLICA_URL", "postgresql+psycopg://postgres@127.0.0.1:5433/postgres")
REQUIRE_REPLICA = os.environ.get("COALITION_REQUIRE_REPLICA") == "1"
#: pg_advisory_lock's key for "this process holds the replica's replay paused".
PAUSE_LOCK = 0x5EB1CA
REPLAY_TIMEOUT_SECONDS = 30


@pytest.fixture
def backend():
    """PostgreSQL alone: a replica of SQLite is no such thing."""
    return "postgres"


@pytest.fixture(scope="module")
def replica_admin():
    """The replica's own `postgres` database, to watch and steer its replay."""
    engine = create_engine(REPLICA_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            standby = connection.execute(text("SELECT pg_is_in_recovery()")).scalar()
    except OperationalError as exc:
        engine.dispose()
        message = f"No read replica answers at {REPLICA_URL} (`bash .ci/replica` makes one): {exc.orig}"
        if REQUIRE_REPLICA:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if not standby:
        engine.dispose()
        pytest.fail(f"{REPLICA_URL} answers but is not a standby (not in recovery)", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture
def primary_url(database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def replica_url(primary_url, replica_admin, database) -> str:
    """This test's database on the replica, once the replica has replayed its making and its TRUNCATE."""
    system = "SELECT system_identifier FROM pg_control_system()"
    with database.engine.connect() as primary, replica_admin.connect() as replica:
        if primary.execute(text(system)).scalar() != replica.execute(text(system)).scalar():
            pytest.fail(f"{REPLICA_URL} is not a replica of the test server", pytrace=False)
    replayed(database.engine, replica_admin)
    return make_url(REPLICA_URL).set(database=make_url(primary_url).database).render_as_string(hide_password=False)


@pytest.fixture
def replicated(make_app, primary_url, replica_url):
    """A hub built from its URLs, as from the environment: DATABASE_URL the primary, DATABASE_REPLICA_URL the replica."""
    app = make_app(DATABASE=None, DATABASE_URL=primary_url, DATABASE_REPLICA_URL=replica_url)
    yield app
    db = app.extensions["coalition"].db
    db.engine.dispose()
    db.replica.dispose()


def replayed(primary, replica_admin) -> None:
    """Wait until the replica has replayed everything the primary had written when this was called."""
    _caught_up(primary, replica_admin, "pg_last_wal_replay_lsn", "replay")


def received(primary, replica_admin) -> None:
    """Wait until the replica has received (not necessarily replayed) what the primary had written."""
    _caught_up(primary, replica_admin, "pg_last_wal_receive_lsn", "receive")


def _caught_up(primary, replica_admin, position: str, what: str) -> None:
    with primary.connect() as connection:
        written = connection.execute(text("SELECT pg_current_wal_lsn()")).scalar()
    deadline = time.monotonic() + REPLAY_TIMEOUT_SECONDS
    with replica_admin.connect() as connection:
        while not connection.execute(text(f"SELECT {position}() >= CAST(:lsn AS pg_lsn)"), {"lsn": written}).scalar():
            assert time.monotonic() < deadline, f"the replica did not {what} up to {written} in {REPLAY_TIMEOUT_SECONDS}s"
            time.sleep(0.02)


@contextlib.contextmanager
def replay_paused(primary_url, replica_admin):
    """The replica receives WAL but applies none of it; replay always resumes on the way out."""
    lock = create_engine(make_url(primary_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with lock.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PAUSE_LOCK})
            try:
                with replica_admin.connect() as connection:
                    connection.execute(text("SELECT pg_wal_replay_pause()"))
                yield
            finally:
                with replica_admin.connect() as connection:
                    connection.execute(text("SELECT pg_wal_replay_resume()"))
                holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PAUSE_LOCK})
    finally:
        lock.dispose()


def order_ids(hub: HubClient, member_id: str) -> list[str]:
    return [entry["order_id"] for entry in hub.history(member_id)["items"] if entry["kind"] == "earn"]


def sales_audited(hub: HubClient) -> int:
    answer = hub.call("GET", "/v1/audit-events", query_string={"action": "POST /v1/transactions"})
    assert answer.status_code == 200, answer.json
    return len(answer.json["items"])


def test_history_and_audit_trail_come_from_the_replica_and_the_balance_from_the_primary(
        replicated, replica_admin, database, primary_url):
    hub = HubClient(replicated.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    first = hub.sale(world.coffee, world.card, "10.00", order="RR-1")
    assert first.status_code == 201, first.json
    replayed(database.engine, replica_admin)
    assert order_ids(hub, world.member_id) == ["RR-1"]
    assert sales_audited(hub) == 1
    before = hub.points(world.card)

    with replay_paused(primary_url, replica_admin):
        second = hub.sale(world.coffee, world.card, "25.00", order="RR-2")
        assert second.status_code == 201, second.json
        received(database.engine, replica_admin)  # the sale is on the replica's disk, not yet applied
        after = hub.points(world.card)
        assert after["available"] + after["pending"] == before["available"] + before["pending"] + second.json["points"]
        assert second.json["points"] > 0
        assert order_ids(hub, world.member_id) == ["RR-1"]
        assert sales_audited(hub) == 1
        with replica_admin.connect() as connection:
            assert connection.execute(text("SELECT pg_get_wal_replay_pause_state()")).scalar() == "paused"

    replayed(database.engine, replica_admin)
    assert order_ids(hub, world.member_id) == ["RR-2", "RR-1"]
    assert sales_audited(hub) == 2


def test_a_key_revoked_a_moment_ago_reads_no_history_on_a_replica_that_has_not_replayed_the_revocation(
        replicated, replica_admin, database, primary_url):
    hub = HubClient(replicated.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # this worker now knows the key
    replayed(database.engine, replica_admin)
    assert hub.call("GET", f"/v1/members/{world.member_id}/history", world.coffee).status_code == 200
    key_id = hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"][0]["id"]
    with replay_paused(primary_url, replica_admin):
        assert hub.call("DELETE", f"/v1/partners/brew-bar/api-keys/{key_id}").status_code == 200
        received(database.engine, replica_admin)
        refused = hub.call("GET", f"/v1/members/{world.member_id}/history", world.coffee)
        assert refused.status_code == 401, refused.json
        assert refused.json["error"]["code"] == "invalid_token"


def test_the_statement_list_lags_with_the_replica_and_a_statement_fetched_by_its_number_does_not(
        replicated, replica_admin, database, primary_url, clock):
    hub = HubClient(replicated.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    for slug in ("brew-bar", "green-grocer"):
        contract = hub.call("PUT", f"/v1/partners/{slug}/contract", json={
            "issue_fee": "0.002", "redeem_rate": "0.010", "effective_from": (clock.now - timedelta(days=1)).isoformat()})
        assert contract.status_code == 201, contract.json
    assert hub.sale(world.coffee, world.card, "20.00").status_code == 201
    clock.advance(hours=1)
    replayed(database.engine, replica_admin)

    with replay_paused(primary_url, replica_admin):
        closed = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
        assert closed.status_code == 201, closed.json
        sequence = closed.json["statement"]["sequence"]
        received(database.engine, replica_admin)
        assert hub.call("GET", f"/v1/settlement/statements/{sequence}").status_code == 200
        assert hub.call("GET", "/v1/settlement/statements").json["items"] == []

    replayed(database.engine, replica_admin)
    assert [row["sequence"] for row in hub.call("GET", "/v1/settlement/statements").json["items"]] == [sequence]


def test_the_replicas_engine_refuses_writes(replicated, database):
    replica = replicated.extensions["coalition"].db.replica
    with pytest.raises(DBAPIError, match="read-only"), replica.connect() as connection:
        connection.execute(text("UPDATE settings_version SET version = version + 1"))
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM settings_version")).scalar() == 0


def test_a_replica_url_that_names_the_primary_still_refuses_writes(database, primary_url):
    """A mistake in DATABASE_REPLICA_URL must not let a lagging read write past the ledger's locks."""
    misnamed = make_replica_engine(primary_url)
    try:
        with pytest.raises(DBAPIError, match="read-only"), misnamed.connect() as connection:
            connection.execute(text("UPDATE settings_version SET version = version + 1"))
    finally:
        misnamed.dispose()
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM settings_version")).scalar() == 0


def test_a_replica_that_does_not_answer_costs_the_history_nothing_but_its_offload(make_app, primary_url):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = make_url(primary_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    app = make_app(DATABASE=None, DATABASE_URL=primary_url, DATABASE_REPLICA_URL=down)
    try:
        hub = HubClient(app.test_client(), ADMIN_TOKEN)
        world = World.build(hub)
        assert hub.sale(world.coffee, world.card, "10.00", order="DOWN-1").status_code == 201
        assert order_ids(hub, world.member_id) == ["DOWN-1"]
    finally:
        app.extensions["coalition"].db.engine.dispose()
        app.extensions["coalition"].db.replica.dispose()


def test_a_replica_url_must_be_postgresql(make_app, primary_url, tmp_path):
    with pytest.raises(ValueError, match="DATABASE_REPLICA_URL must be a PostgreSQL URL"):
        make_app(DATABASE=None, DATABASE_URL=primary_url, DATABASE_REPLICA_URL=f"sqlite:///{tmp_path}/replica.db")


def test_metrics_show_the_replica_up_and_its_lag_and_a_replica_gone_as_down(
        replicated, replica_admin, database, primary_url, make_app):
    hub = HubClient(replicated.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    replayed(database.engine, replica_admin)
    found = scrape(hub.client)
    assert value(found, "coalition_replica_up") == 1
    # Caught up; other tests' writes may be on their way to it meanwhile, a moment behind at most.
    assert 0 <= value(found, "coalition_replica_lag_seconds") < 1

    with replay_paused(primary_url, replica_admin):
        assert hub.sale(world.coffee, world.card, "10.00").status_code == 201
        received(database.engine, replica_admin)
        time.sleep(1.1)  # the last transaction it replayed is now older than a second
        found = scrape(hub.client)
        assert value(found, "coalition_replica_up") == 1
        assert value(found, "coalition_replica_lag_seconds") >= 1

    with socket.socket() as unused:  # a replica nobody answers for: reads go to the primary, and /metrics says so
        unused.bind(("127.0.0.1", 0))
        gone = make_url(primary_url).set(port=unused.getsockname()[1]).render_as_string(hide_password=False)
    app = make_app(DATABASE=None, DATABASE_URL=primary_url, DATABASE_REPLICA_URL=gone)
    try:
        found = scrape(app.test_client())
    finally:
        app.extensions["coalition"].db.engine.dispose()
    assert value(found, "coalition_replica_up") == 0
    assert not [key for key in found if key[0] == "coalition_replica_lag_seconds"]
