"""Alembic environment: migrations run on the connection `coalition db upgrade` hands over."""

from alembic import context
from sqlalchemy import create_engine

from network.db import normalise_url
from network.models import Base
from network.schema import include_name

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(normalise_url(config.get_main_option("sqlalchemy.url")))
    with engine.begin() as connection:
        _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
