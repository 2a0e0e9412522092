"""Applying Alembic migrations from code: `coalition db upgrade`, the demo and the tests."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from network.clock import utc_now
from network.ledger import partitions

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


@functools.cache
def heads() -> tuple[str, ...]:
    """The revisions this code's migrations end at: a database at them is up to date (read once per process)."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """What comparing the schema with the models looks at: not the monthly partitions, which no model names."""
    return not (type_ == "table" and name is not None and partitions.is_partition(name))


def upgrade(engine: Engine, revision: str = "head", master_key_file: str | None = None) -> None:
    """`master_key_file`: where the migration encrypting members' data finds the master key when COALITION_MASTER_KEY is unset.

    On PostgreSQL the months ahead get their partitions too, whether or not
    a migration ran: upgrading is what a deployment does anyway.
    """
    cfg = alembic_config(engine)
    cfg.attributes["master_key_file"] = master_key_file
    _migrate(engine, cfg, lambda: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Back to `revision`: the way back from a release, on a database that holds a ledger."""
    cfg = alembic_config(engine)
    _migrate(engine, cfg, lambda: command.downgrade(cfg, revision))


def _migrate(engine: Engine, cfg: Config, run) -> None:
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            run()
            partitions.ensure(connection, now=utc_now())
        return
    # SQLite alters a table by rebuilding it, which its foreign keys forbid while rows refer to it; they can
    # only be switched off outside a transaction (Alembic's batch mode documentation). Checked again after.
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                run()
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows referring to nothing: {broken[:10]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")
