"""A team's users against real databases, on both engines: two admins demoting or removing each
other at once leave exactly one admin; a removed user's queued job still runs, charging as them; the
migration turns every user's token into their first key."""

import hashlib
import secrets

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from backend.config import Settings
from backend.domain.errors import Conflict
from backend.jobs.runner import run_job
from backend.persistence import migrations
from backend.persistence.db import make_engine
from backend.persistence.tables import User
from backend.persistence.unit_of_work import Store
from backend.services import accounts, api_keys, jobs, lists, owned, post_exports, users
from backend.services.charge_guard import Actor
from tests.integration.test_migrations import unmigrated_url  # noqa: F401  (a fixture)
from tests.integration.test_races import once_both_arrive, race

NOW = "2026-12-01 00:00:00"
DEMOTE = lambda me, other: lambda uow: users.change_role(uow, me, other.user_id, "member")  # noqa: E731
REMOVE = lambda me, other: lambda uow: users.deactivate(uow, me, other.user_id)  # noqa: E731


def two_admins(store, world) -> tuple[Actor, Actor]:
    first = world.account()
    second = store.run(lambda uow: accounts.add_user(uow, first.account_id, "b@t.example", "admin"))
    return (
        Actor(first.account_id, first.user_id, "admin"),
        Actor(first.account_id, second["id"], "admin"),
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("action", [DEMOTE, REMOVE], ids=["demote", "remove"])
def test_two_admins_acting_on_each_other_at_once_leave_exactly_one_admin(store, world, monkeypatch, action):
    """Each reads the other as an admin before either writes, unless the account's lock makes the
    second wait for the first's commit (without it, both would succeed and leave no admin)."""
    a, b = two_admins(store, world)
    monkeypatch.setattr(owned, "get", once_both_arrive(owned.get))
    done, errors = race(2, [lambda: store.run(action(a, b)), lambda: store.run(action(b, a))])
    assert len(done) == 1 and len(errors) == 1 and isinstance(errors[0], Conflict), errors
    with store.engine.connect() as conn:
        admins = conn.execute(
            select(User.__table__.c.id).where(
                User.__table__.c.account_id == a.account_id,
                User.__table__.c.role == "admin",
                User.__table__.c.deactivated_at.is_(None),
            )
        ).all()
    assert len(admins) == 1


@pytest.mark.timeout(60)
def test_a_removed_users_queued_job_still_runs_and_charges_as_them(store, world, db_url):
    first = world.account(email=10)
    admin = Actor(first.account_id, first.user_id, "admin")
    member = world.teammate(admin)
    urls = world.people(3)
    lid = store.run(lambda uow: lists.create(uow, member, "L"))["id"]
    engagers = [{"linkedin_url": u, "full_name": None, "engagement": "like"} for u in urls]
    job = store.run(
        lambda uow: post_exports.queue(uow, member, "https://x.example/p", engagers, "list", lid, False)
    )
    store.run(lambda uow: users.deactivate(uow, admin, member.user_id))
    run_job(store, Settings(database_url=db_url), job["id"])
    done = store.run(lambda uow: jobs.get(uow, admin, job["id"]))
    assert done["status"] == "succeeded", done
    assert done["credits"]["charged"]["email"] == 3
    with store.engine.connect() as conn:
        charged_by = conn.execute(
            text("SELECT DISTINCT user_id FROM ledger_entries WHERE action = 'post_export' AND amount < 0")
        ).all()
        leads = conn.execute(text("SELECT count(*) FROM list_leads WHERE list_id = :l"), {"l": lid}).scalar()
    assert charged_by == [(member.user_id,)] and leads == 3


def test_every_users_token_becomes_their_first_key_and_keeps_working(unmigrated_url):  # noqa: F811
    """The tokens handed out before keys existed: the migration keeps them (as keys without a
    prefix), and the downgrade gives each user their oldest key that still works."""
    engine = make_engine(unmigrated_url)
    token = "ll_" + secrets.token_urlsafe(32)
    try:
        migrations.upgrade(engine, "0a0700000001")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'A', :t)"), {"t": NOW}
            )
            conn.execute(
                text(
                    "INSERT INTO users (id, account_id, email, role, token_hash, created_at) "
                    "VALUES ('u1', 'a1', 'u@t.example', 'admin', :h, :t)"
                ),
                {"h": hashlib.sha256(token.encode()).hexdigest(), "t": NOW},
            )
        migrations.upgrade(engine)
        store = Store(engine)
        caller = store.run(lambda uow: api_keys.authenticate(uow, token), write=False)
        assert caller is not None and caller.actor == Actor("a1", "u1", "admin") and caller.scope == "full"
        [key] = store.run(lambda uow: api_keys.listing(uow, caller.actor, None, 50, None))["api_keys"]
        assert key["prefix"] is None and key["name"] == "first key" and key["user_id"] == "u1"
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("users")}
        assert "token_hash" not in columns and "deactivated_at" in columns
        with engine.connect() as conn:
            command.downgrade(migrations.alembic_config(conn), "0a0700000001")
            conn.commit()
            kept = conn.execute(text("SELECT token_hash FROM users WHERE id = 'u1'")).scalar()
        assert kept == hashlib.sha256(token.encode()).hexdigest()
    finally:
        engine.dispose()
