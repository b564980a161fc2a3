"""Alembic, driven from our own engine (no alembic.ini): `flask db upgrade` and the tests use it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from backend.config import ROOT
from backend.persistence.sealed import Keyring


def alembic_config(connection=None, keyring: Keyring | None = None) -> Config:
    """`keyring`: the app's SECRET_KEYS, for data migrations that seal or open credentials."""
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["connection"] = connection
    cfg.attributes["keyring"] = keyring
    return cfg


def upgrade(engine: Engine, revision: str = "head", keyring: Keyring | None = None) -> None:
    """Apply migrations; running it again is harmless (Alembic records the head)."""
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn, keyring), revision)
        conn.commit()


def autogenerate(engine: Engine, message: str) -> None:
    with engine.connect() as conn:
        command.revision(alembic_config(conn), message=message, autogenerate=True)
