"""Fixtures: a migrated database per test on SQLite (a copied template file) and on PostgreSQL
(one database per run, migrated once, truncated between tests), the app, and a small world."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from adapters.contacts.directory import DirectoryProvider
from backend.app import create_app
from backend.config import Settings
from backend.domain.credits import MILLI, CreditType
from backend.domain.suppression import Suppressor, new_suppression_key
from backend.jobs.queue import queue_file
from backend.persistence import migrations
from backend.persistence.db import make_engine
from backend.persistence.sealed import Keyring, new_key
from backend.persistence.unit_of_work import Store
from backend.services import accounts, directory
from backend.services.charge_guard import Actor

hypothesis_settings.register_profile("ci", deadline=None, max_examples=40)
hypothesis_settings.load_profile("ci")

PG_SERVER = os.environ.get("TEST_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
ADMIN = "admin-test-token"
ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
SECRET_KEYS = (new_key(),)  # this run's SECRET_KEYS: the store fixture and the app seal with it
SUPPRESSION_KEY = (
    new_suppression_key()
)  # this run's SUPPRESSION_KEY (R27): the store and the app hash with it
# every app and server a test makes runs with limits no test reaches (tests/api/test_rate_limits.py
# sets its own): the suite's back-to-back requests are not what api.md "Rate limits" is about
HIGH_RATE_LIMIT = "1000000/second"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrations.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database():
    """A database of our own on the local server, dropped at the end. Skips without a server,
    except under CI=true, where a missing server is a failure."""
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = "leadledger_test_" + secrets.token_hex(4)
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable at {PG_SERVER}: {exc}")
        pytest.skip(
            f"no PostgreSQL at {PG_SERVER} ({exc.__class__.__name__}); start one or set TEST_PG_SERVER"
        )
    url = f"{PG_SERVER}/{name}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A migrated, empty database on each engine (DB-level tests run on both)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate(url)
    return url


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_store(url: str) -> Store:
    return Store(
        make_engine(url),
        DirectoryProvider(url),
        keyring=Keyring(SECRET_KEYS),
        suppressor=Suppressor(SUPPRESSION_KEY),
    )


@pytest.fixture
def store(db_url):
    s = make_store(db_url)
    yield s
    s.engine.dispose()
    s.contacts.engine.dispose()


class World:
    """Accounts, users and directory people, made through the services (no HTTP)."""

    def __init__(self, store: Store):
        self.store = store

    def account(self, email=100, phone=10, tracking=5) -> Actor:
        grants = {
            CreditType.EMAIL: email * MILLI,
            CreditType.PHONE: phone * MILLI,
            CreditType.TRACKING: tracking * MILLI,
        }
        out = self.store.run(lambda uow: accounts.create_account(uow, "t", "a@t.example", grants))
        return Actor(out["id"], out["users"][0]["id"])

    def teammate(self, actor: Actor) -> Actor:
        user = self.store.run(lambda uow: accounts.add_user(uow, actor.account_id, "m@t.example", "member"))
        return Actor(actor.account_id, user["id"])

    def people(self, n: int, *, start: int = 0, email=True, phone=True) -> list[str]:
        rows = [
            {
                "linkedin_url": f"https://www.linkedin.com/in/person-{i}",
                "full_name": f"Person {i}",
                "title": "Engineer",
                "company": f"Co {i % 7}",
                "email": f"p{i}@co.example" if email else None,
                "phone": f"+1555{i:07d}" if phone else None,
            }
            for i in range(start, start + n)
        ]
        self.store.run(lambda uow: directory.import_people(uow, rows))
        return [r["linkedin_url"] for r in rows]


@pytest.fixture
def world(store):
    return World(store)


def app_settings(url: str, **kw) -> Settings:
    base = dict(
        database_url=url,
        admin_token=ADMIN,
        cors_origins=(ORIGIN,),
        crm_allow_private_networks=True,
        secret_keys=SECRET_KEYS,
        suppression_key=(SUPPRESSION_KEY,),
        rate_limit=HIGH_RATE_LIMIT,
        rate_limit_bulk=HIGH_RATE_LIMIT,
    )
    return Settings(**{**base, **kw})


@pytest.fixture
def app(db_url):
    """The app on each engine: the contract must hold on SQLite and on PostgreSQL alike."""
    app = create_app(app_settings(db_url))
    yield app
    app.extensions["store"].engine.dispose()


class Client:
    """The extension's view of the API: a bearer token and JSON."""

    def __init__(self, flask_client, token: str):
        self.c, self.headers = flask_client, {"Authorization": f"Bearer {token}"}

    def post(self, path, body=None, **headers):
        return self.c.post(path, json=body, headers={**self.headers, **headers})

    def get(self, path, **headers):
        return self.c.get(path, headers={**self.headers, **headers})

    def balance(self) -> dict:
        return self.get("/v1/credits").json["balance"]


@pytest.fixture
def api(app):
    """A factory of clients: api.admin, api.account(email=..), api.directory(n)."""
    return make_api(app)


@pytest.fixture
def job_api(job_app):
    return make_api(job_app)


def make_api(app):
    flask_client = app.test_client()

    class Api:
        admin = Client(flask_client, ADMIN)

        def account(self, email=100, phone=10, tracking=5):
            r = self.admin.post(
                "/v1/admin/accounts",
                {
                    "name": "t-" + uuid.uuid4().hex[:6],
                    "admin_email": "a@t.example",
                    "grants": {"email": email, "phone": phone, "tracking": tracking},
                },
            )
            assert r.status_code == 201, r.json
            client = Client(flask_client, r.json["users"][0]["api_token"])
            client.account_id = r.json["id"]
            return client

        def teammate(self, client):
            r = self.admin.post(
                f"/v1/admin/accounts/{client.account_id}/users", {"email": "m@t.example", "role": "member"}
            )
            return Client(flask_client, r.json["api_token"])

        def directory(self, n, start=0, email=True, phone=True):
            rows = [
                {
                    "linkedin_url": f"https://www.linkedin.com/in/person-{i}",
                    "full_name": f"Person {i}",
                    "title": "Engineer",
                    "company": "Co",
                    "email": f"p{i}@co.example" if email else None,
                    "phone": f"+1555{i:07d}" if phone else None,
                }
                for i in range(start, start + n)
            ]
            assert self.admin.post("/v1/admin/directory", {"people": rows}).status_code == 200
            return [r["linkedin_url"] for r in rows]

        raw = flask_client

    return Api()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_or_skip() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required under CI=true and is not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}; start one or set TEST_REDIS_URL")
    return REDIS_URL


@pytest.fixture(params=["embedded", "redis"])
def job_app(request, db_url):
    """The app with a real huey consumer (2 threads) working its queue: the embedded SQLite queue,
    or Redis under a queue name of this test's own (removed afterwards)."""
    redis_url = redis_or_skip() if request.param == "redis" else None
    settings = app_settings(
        db_url, redis_url=redis_url, queue_name="ll-test-" + uuid.uuid4().hex[:8], job_chunk_size=20
    )
    app = create_app(settings)
    queue = app.extensions["queue"]
    consumer = queue.huey.create_consumer(workers=2, worker_type="thread", max_delay=0.1, periodic=False)
    consumer.start()
    yield app
    consumer.stop(graceful=True)
    if redis_url:
        queue.huey.storage.flush_all()
    else:
        remove_queue_file(settings)
    app.extensions["store"].engine.dispose()


def remove_queue_file(settings: Settings) -> None:
    """The embedded queue of a test's own queue name: on PostgreSQL it is a file in the checkout's var/
    (backend/jobs/queue.py: queue_file), which every run used to leave behind."""
    for suffix in ("", "-shm", "-wal"):
        Path(queue_file(settings) + suffix).unlink(missing_ok=True)
