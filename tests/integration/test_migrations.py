"""The migrations are the schema: one head (two make `flask db upgrade` fail on a fresh clone), and
after upgrading, the database matches the tables the code declares, on both engines."""

from __future__ import annotations

import base64
import secrets
import warnings
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text
from sqlmodel import SQLModel

from backend.persistence import migrations, tables  # noqa: F401  (declares the tables)
from backend.persistence.db import make_engine
from backend.persistence.sealed import Keyring, new_key
from backend.persistence.unit_of_work import Store
from backend.services import crm
from tests.conftest import PG_SERVER

NOW = datetime(2026, 12, 1)
CONNECTIONS = tables.CrmConnection.__table__
OLD_CONNECTIONS = sa.table(  # crm_connections as revision c0ffee000001 left it, as far as needed here
    "crm_connections",
    sa.column("id", sa.String),
    sa.column("account_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("name", sa.String),
    sa.column("config", sa.JSON),
    sa.column("created_at", sa.DateTime),
)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request, tmp_path):
    """An empty database of this test's own (the shared ones are migrated already)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/unmigrated.db"
        return
    request.getfixturevalue("pg_database")  # skips (or fails under CI=true) without a server
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    name = "leadledger_mig_" + secrets.token_hex(4)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield f"{PG_SERVER}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_credentials_stored_in_clear_are_sealed_by_the_migration_and_opened_by_its_downgrade(unmigrated_url):
    """api.md "Secrets at rest" for what was stored before: the migration seals with the app's keys,
    refuses (changing nothing) without them, and downgrade puts the credentials back in config."""
    token, secret = (
        "pat-" + secrets.token_hex(8),
        "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
    )
    hubspot = {"access_token": token, "base_url": "http://127.0.0.1:9"}
    webhook = {"url": "http://127.0.0.1:9/h", "secret": secret}
    engine = make_engine(unmigrated_url)
    keyring = Keyring([new_key()])
    try:
        migrations.upgrade(engine, "c0ffee000001")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES ('a', 't', CURRENT_TIMESTAMP)")
            )
            conn.execute(
                OLD_CONNECTIONS.insert(),
                [
                    {
                        "id": "h",
                        "account_id": "a",
                        "kind": "hubspot",
                        "name": "h",
                        "config": hubspot,
                        "created_at": NOW,
                    },
                    {
                        "id": "w",
                        "account_id": "a",
                        "kind": "webhook",
                        "name": "w",
                        "config": webhook,
                        "created_at": NOW,
                    },
                ],
            )
        with pytest.raises(RuntimeError, match="2 CRM connection.*SECRET_KEYS"):
            migrations.upgrade(engine)
        migrations.upgrade(engine, keyring=keyring)

        store = Store(engine, keyring=keyring)
        rows = store.run(lambda uow: {r.id: r for r in uow.execute(select(CONNECTIONS))}, write=False)
        assert rows["h"].config == {"base_url": "http://127.0.0.1:9"} and token not in rows["h"].secrets
        assert rows["w"].config == {"url": "http://127.0.0.1:9/h"} and secret not in rows["w"].secrets
        opened = store.run(
            lambda uow: {i: crm.connection_config(uow, r) for i, r in rows.items()}, write=False
        )
        assert opened == {"h": hubspot, "w": webhook}

        with engine.connect() as conn:
            command.downgrade(migrations.alembic_config(conn, keyring), "c0ffee000001")
            conn.commit()
        with engine.connect() as conn:
            back = {r.id: r.config for r in conn.execute(select(OLD_CONNECTIONS))}
        assert back == {"h": hubspot, "w": webhook}
    finally:
        engine.dispose()
