"""The Alembic migrations build exactly the schema the models describe."""

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from network.db import make_engine
from network.models import Base
from network.schema import MIGRATIONS, alembic_config, include_name, upgrade


def test_migrations_match_the_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []


REVISIONS = sorted(path.name.split("_", 1)[0] for path in MIGRATIONS.joinpath("versions").glob("0*.py"))


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request, tmp_path):
    """A database with no schema at all, of the test's own."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    server_url = request.getfixturevalue("postgres_server_url")  # skips, or fails in CI, when there is no server
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"coalition_migrations_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_database_upgrades_one_revision_at_a_time_and_back(empty_engine, tmp_path):
    """A hub deployed at any earlier release upgrades from its revision; a downgrade is a way back, not a dead end."""
    assert REVISIONS[0] == "0001" and len(REVISIONS) >= 10
    for revision in REVISIONS:
        upgrade(empty_engine, revision, master_key_file=str(tmp_path / "master.key"))
        with empty_engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision().startswith(revision)
    with empty_engine.begin() as connection:
        cfg = alembic_config(empty_engine)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005")
        assert MigrationContext.configure(connection).get_current_revision().startswith("0005")
    upgrade(empty_engine, "head", master_key_file=str(tmp_path / "master.key"))
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []


def test_a_partners_one_key_moves_into_credentials_and_keeps_working(empty_engine, tmp_path):
    """0011 moved each partner's `api_key_hash` into `credentials`: a till deployed before keeps its key."""
    from datetime import datetime, timezone

    from network.db import Database
    from network.parties.auth import authenticate
    from partners.credentials import hash_api_key

    upgrade(empty_engine, "0010", master_key_file=str(tmp_path / "master.key"))
    key, at = "ck_a-key-made-before-keys-were-many", datetime(2026, 3, 1, tzinfo=timezone.utc)
    with empty_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO partners (id, slug, name, timezone, currency, adapter, adapter_config, rules, api_key_hash, "
            "created_at, pending_days, kind) VALUES (7, 'old-till', 'Old Till', 'UTC', 'EUR', 'canonical', '{}', '[]', "
            ":hash, :at, 0, 'retailer')"), {"hash": hash_api_key(key), "at": at})
        connection.execute(text("INSERT INTO accounts (kind, partner_id) VALUES ('issuance', 7), "
                                "('redemption', 7)"))
    upgrade(empty_engine, "head", master_key_file=str(tmp_path / "master.key"))
    with empty_engine.connect() as connection:
        moved = connection.execute(text("SELECT name, kind, hint, partner_id, revoked_at FROM credentials")).all()
    assert [tuple(row) for row in moved] == [("first key", "partner_key", "ck_", 7, None)]
    caller = authenticate(Database(empty_engine), f"Bearer {key}", None, at)
    assert (caller.role, caller.partner.slug, caller.actor) == ("partner_key", "old-till", "key 1 (first key)")
