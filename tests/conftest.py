"""Fixtures after the Flask tutorial: an app per test on a database of its own.

Every test that asks for `app` (or anything built on it) runs twice: on
SQLite and on PostgreSQL. Each backend's schema is made once per test
session by the real Alembic migrations; each test then gets it empty (a copy
of the migrated SQLite file; TRUNCATE on a PostgreSQL database this session
created and drops at the end). After the test, the ledger's invariants are
checked.

PostgreSQL comes from COALITION_TEST_POSTGRES_URL (default: the local
server, database `test`, used only to create and drop our own database). If
it does not answer the PostgreSQL runs are skipped, unless
COALITION_REQUIRE_POSTGRES=1 (CI), which makes that a failure. Redis, for
the tests that ask for `redis_limits`, the same way: COALITION_TEST_REDIS_URL
(default the local server), COALITION_REQUIRE_REDIS=1.

The test app counts every request against rate limits far above what any
test sends (`LIMITS`), in its own memory: the limiter runs on every request
of the suite without refusing one. A test that needs other settings overrides
`app_config`, or makes more hubs with `make_app`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from network import create_app
from network.db import Database, make_engine
from network.ledger.invariants import violations
from network.models import Base
from network.schema import upgrade
from tests.support.cli import HubRunner
from tests.support.declared import watch
from tests.support.hub import ADMIN_TOKEN, HubClient, World

PG_URL = os.environ.get("COALITION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("COALITION_REQUIRE_POSTGRES") == "1"
REDIS_URL = os.environ.get("COALITION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("COALITION_REQUIRE_REDIS") == "1"
#: On, in memory, and out of reach of the suite's own traffic (the fuzz, the isolation matrix).
LIMITS = {"COALITION_RATE_LIMIT": "1000000/hour", "COALITION_RATE_LIMIT_ANONYMOUS": "1000000/hour", "COALITION_REDIS_URL": None,
          "COALITION_SIGN_IN_LIMIT": "1000000/hour", "COALITION_SIGN_IN_LIMIT_PER_ADDRESS": "1000000/hour"}


class Clock:
    """A clock the test moves by hand; nothing ever sleeps to wait for time."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


# ---------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_server_url():
    """A database of this test session's own on the PostgreSQL server, dropped at the end."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {PG_URL}: {exc.orig}"
        if REQUIRE_PG:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    name = f"coalition_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    upgrade(engine)
    engine.dispose()
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    if request.param == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("needs PostgreSQL: SQLite runs writers one at a time, so there is no race to lose")
    return request.param


@pytest.fixture
def database(backend, request, tmp_path):
    if backend == "sqlite":
        path = tmp_path / "coalition.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(make_engine(f"sqlite:///{path}"))
    else:
        db = Database(make_engine(request.getfixturevalue("postgres_server_url"), pool_size=25, max_overflow=10))
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
            connection.execute(text("INSERT INTO settings_version (id, version) VALUES (1, 0)"))  # as the migration seeds
    yield db
    with db.session() as session:
        broken = violations(session)
    db.engine.dispose()
    assert not broken, f"ledger invariants broken: {broken}"


# ---------------------------------------------------------------- app


@pytest.fixture
def clock():
    return Clock(datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc))


@pytest.fixture
def app_config():
    """Settings this test's `app` is made with, beyond the suite's: a module overrides the fixture."""
    return {}


@pytest.fixture
def make_app(database, clock, tmp_path):
    """Make a hub on this test's database (two of them are two workers); each error it answers is held to the codes
    its operation declares (tests/support/declared.py)."""
    watched: list[list[str]] = []

    def make(**settings):
        app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock,
                          "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "settlement-keys"),
                          "COALITION_MASTER_KEY_FILE": str(tmp_path / "master.key"), "COALITION_PASSWORD_HASH": "CHEAPEST",
                          "COALITION_SECRET_KEY_FILE": str(tmp_path / "session.key"),
                          **LIMITS, **settings})
        watched.append(watch(app))
        return app

    yield make
    undeclared = [entry for found in watched for entry in found]
    assert not undeclared, f"errors the OpenAPI document does not declare: {sorted(set(undeclared))}"


@pytest.fixture
def app(make_app, app_config):
    """The hub."""
    return make_app(**app_config)


@pytest.fixture
def redis_limits():
    """Settings that keep this test's rate-limit counters in the real Redis, under a prefix of its own, deleted after."""
    import redis

    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        server.ping()
    except redis.RedisError as exc:
        server.close()
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if REQUIRE_REDIS:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    prefix = f"coalition-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:12]}"
    yield {"COALITION_REDIS_URL": REDIS_URL, "COALITION_RATE_LIMIT_PREFIX": prefix}
    for key in server.scan_iter(match=f"*{prefix}*", count=1000):
        server.delete(key)
    server.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """The `coalition` command on this test's app, as the Flask tutorial's `runner` fixture."""
    return HubRunner(app)


@pytest.fixture
def hub(client):
    return HubClient(client, ADMIN_TOKEN)


@pytest.fixture
def world(hub):
    """Two partners of different trades and one enrolled member: the usual scene."""
    return World.build(hub)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (its own browser download cannot work here); without one the test skips,
    unless COALITION_REQUIRE_BROWSER=1 (CI), which makes that a failure."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM is None or sync_playwright is None:
        message = "no Chromium or no Playwright: " + (CHROMIUM or "apt-get install chromium")
        if os.environ.get("COALITION_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


@pytest.fixture
def served(make_app):
    """The hub on a free port of its own, for a browser: (app, base URL)."""
    from tests.support.server import in_a_thread

    app = make_app()
    with in_a_thread(app) as base:
        yield app, base


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where a browser test saves its screenshots: COALITION_SCREENSHOTS, or a folder of the test's own."""
    folder = Path(os.environ.get("COALITION_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
