"""What every blueprint needs: the store, the caller, and the configured settings."""

from __future__ import annotations

from flask import current_app, g

from backend.config import Settings
from backend.services.charge_guard import Actor


def run(fn):
    """Run a use case in one unit of work (retried on transient DB errors)."""
    return current_app.extensions["store"].run(fn)


def actor() -> Actor:
    return g.actor


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def rewound(stream):
    """An uploaded file from its start: a retried transaction reads it again."""
    stream.seek(0)
    return stream
