"""Applying Alembic migrations from code: `coalition db upgrade`, the demo and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head", master_key_file: str | None = None) -> None:
    """`master_key_file`: where the migration encrypting members' data finds the master key when COALITION_MASTER_KEY is unset."""
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        cfg.attributes["master_key_file"] = master_key_file
        command.upgrade(cfg, revision)
