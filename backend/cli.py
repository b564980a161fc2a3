"""`flask --app wsgi db upgrade`, `flask --app wsgi seed-demo`, `flask --app wsgi worker`."""

from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from backend.persistence import migrations

db = AppGroup("db", help="Database schema migrations.")


@db.command("upgrade")
def db_upgrade():
    """Apply schema migrations (running it twice is harmless)."""
    migrations.upgrade(current_app.extensions["store"].engine)
    click.echo("database at the latest schema")


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


def register(app: Flask) -> None:
    app.cli.add_command(db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
