"""Alembic environment: the tables' metadata, and the connection `flask db upgrade` hands over."""

from alembic import context
from sqlmodel import SQLModel

import backend.persistence.tables  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
