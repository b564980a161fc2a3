"""`flask --app wsgi db upgrade`, `seed-demo`, `worker`, `rotate-secrets`."""

from __future__ import annotations

import os
from functools import partial

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from backend import server_secrets
from backend.persistence import migrations

db = AppGroup("db", help="Database schema migrations.")


@db.command("upgrade")
def db_upgrade():
    """Apply schema migrations (running it twice is harmless)."""
    store = current_app.extensions["store"]
    migrations.upgrade(store.engine, keyring=store.keyring)
    click.echo("database at the latest schema")
    settings = current_app.config["SETTINGS"]
    if not settings.secret_keys:  # embedded: PostgreSQL refused to start without them (server_secrets.py)
        path = server_secrets.key_file(settings, "SECRET_KEYS")
        click.echo(f"SECRET_KEYS unset: CRM credentials are sealed with the key kept in {path}")
    if not settings.suppression_key:
        path = server_secrets.key_file(settings, "SUPPRESSION_KEY")
        click.echo(f"SUPPRESSION_KEY unset: erasures are remembered under the key kept in {path}; back it up")


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message):
    """Write a new migration from the tables' changes (for developers)."""
    migrations.autogenerate(current_app.extensions["store"].engine, message)


@click.command("seed-demo")
@click.option("--people", default=300, show_default=True)
def seed_demo(people):
    """Create the demo account (100 email, 20 phone, 10 tracking credits) and a demo directory."""
    from backend import demo

    store = current_app.extensions["store"]
    token, sample = demo.seed(store, people)
    port = os.environ.get("PORT", "8000")
    click.echo(
        f"\ndemo API token: {token}\n\nreveal someone:\n"
        f"curl -s -X POST http://127.0.0.1:{port}/v1/extension/reveal \\\n"
        f"  -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n"
        f'  -d \'{{"linkedin_url": "{sample}", "fields": ["email", "phone"]}}\'\n'
    )


@click.command("worker")
def worker():
    """Send CRM deliveries and run background jobs until stopped."""
    from backend.jobs import worker as worker_process
    from backend.observe import logs

    logs.configure()
    worker_process.run(current_app._get_current_object())


RESEAL_BATCH = 200  # connections per transaction: a short write lock, however many there are


@click.command("rotate-secrets")
def rotate_secrets():
    """Seal every stored credential again under the first key of SECRET_KEYS (api.md "Secrets at
    rest"): put a new key first, run this, then drop the old key."""
    from backend.services import crm

    store = current_app.extensions["store"]
    total, after = 0, ""
    while after is not None:
        resealed, after = store.run(partial(crm.reseal, after=after, limit=RESEAL_BATCH))
        total += resealed
    click.echo(f"{total} sealed CRM credentials re-encrypted under the first key of SECRET_KEYS")


def register(app: Flask) -> None:
    app.cli.add_command(db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
    app.cli.add_command(rotate_secrets)
