"""The demo's SQLite file: made afresh on every run, and never a file the demo did not make."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from network.demo.catalogue import DEMO_SLUGS


def default_database() -> Path:
    from flask import Flask

    return Path(Flask("network").instance_path) / "demo.db"


def is_demo_database(path: Path) -> bool:
    """Only ever delete a file this command made (its partners are the demo's) or an empty ledger."""
    if path.stat().st_size == 0:
        return True
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            slugs = {row[0] for row in connection.execute("SELECT slug FROM partners")}
            rows = connection.execute("SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM journal_entries)").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return (bool(slugs) and slugs <= DEMO_SLUGS) or (not slugs and rows == 0)


def fresh_file(path: Path) -> None:
    if path.exists() and not is_demo_database(path):
        raise click.UsageError(f"{path} exists and is not a demo database; remove it or pass another --database")
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
