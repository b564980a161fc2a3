"""Alembic, driven from our own engine (no alembic.ini): `flask db upgrade` and the tests use it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from backend.config import ROOT


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations; running it again is harmless (Alembic records the head)."""
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


def autogenerate(engine: Engine, message: str) -> None:
    with engine.connect() as conn:
        command.revision(alembic_config(conn), message=message, autogenerate=True)
