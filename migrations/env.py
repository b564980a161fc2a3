"""Alembic environment: the tables' metadata, and the connection `flask db upgrade` hands over."""

from alembic import context
from sqlmodel import SQLModel

import backend.persistence.tables  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes["connection"]
    sqlite = connection.dialect.name == "sqlite"
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=sqlite)
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite rebuilds a table to drop or change a column (batch mode): dropping the old table would
    # fail on the rows of other tables that reference it, so foreign keys are off meanwhile and
    # checked before the commit, as SQLite's own procedure for altering a table says
    # (https://www.sqlite.org/lang_altertable.html#otheralter). The pragma works only outside a
    # transaction, so it goes to the driver before ours begins.
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            broken = driver.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke {len(broken)} foreign key(s): {broken[:5]}")
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


run()
