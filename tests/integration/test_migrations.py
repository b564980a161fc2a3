"""The migrations are the schema: one head (two make `flask db upgrade` fail on a fresh clone), and
after upgrading, the database matches the tables the code declares, on both engines."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from backend.persistence import migrations, tables  # noqa: F401  (declares the tables)
from backend.persistence.db import make_engine


def test_one_head():
    heads = ScriptDirectory.from_config(migrations.alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads {heads}: chain the newest onto the other"


def test_migrated_schema_matches_the_tables(db_url):
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLite cannot reflect expression indexes; Alembic says so
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"tables.py and the migrations disagree: {diff}"
