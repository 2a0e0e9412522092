"""A fresh, migrated database per backend per run, always removed afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from network.db import normalise_url

DEFAULT_POSTGRES_URL = os.environ.get(
    "COALITION_BENCH_POSTGRES_URL",
    os.environ.get("COALITION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)


@contextmanager
def sqlite_database() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="coalition_bench_")
    try:
        yield f"sqlite:///{os.path.join(folder, 'bench.db')}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _admin(admin_url: str):
    return create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


def postgres_problem(admin_url: str) -> str | None:
    """None when the server answers, else why not."""
    engine = _admin(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: run SQLite only
        return f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}".strip()
    finally:
        engine.dispose()
    return None


def postgres_version(admin_url: str) -> str:
    engine = _admin(admin_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """CREATE a database of our own on the server, yield its URL, DROP it (WITH (FORCE)) at the end."""
    name = f"coalition_bench_{secrets.token_hex(4)}"
    engine = _admin(admin_url)
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(normalise_url(admin_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
