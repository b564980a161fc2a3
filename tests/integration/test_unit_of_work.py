"""`Store.read` runs its one statement in autocommit (persistence/unit_of_work.py): every request's
API-key lookup does. The pooled connection it used must come back as it was, or the next unit of
work on it — a charge — would run statement by statement, and a refused charge would keep the writes
made before the refusal (R5). Within a request the units of work share one held connection, which
must come back as clean from each of them as the pool's would."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager, nullcontext
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import create_engine, event, insert, text

from adapters.contacts.directory import DirectoryProvider
from backend.domain.credits import CreditType
from backend.persistence.tables import DirectoryEntry
from backend.persistence.unit_of_work import AfterCommit, UnitOfWork, hold_connections, release_connections
from backend.services import charge_guard

RAISE_BALANCE = text("UPDATE balances SET amount = amount + 5000 WHERE account_id = :a")


class Refused(Exception):
    pass


def _connection_of(uow) -> int:
    return id(uow.conn.connection.dbapi_connection)


@contextmanager
def held():
    """As a request holds its connection (backend/app.py's hooks)."""
    hold_connections()
    try:
        yield
    finally:
        release_connections()


@pytest.mark.parametrize("scope", [nullcontext, held], ids=["pooled", "held"])
def test_a_write_after_an_autocommit_read_on_the_same_connection_still_rolls_back(store, world, scope):
    actor = world.account(email=7)
    with scope():
        read_on = store.read(_connection_of)
        before = store.read(lambda uow: charge_guard.balances(uow, actor.account_id))

        written_on = []

        def write_then_refuse(uow):
            written_on.append(_connection_of(uow))
            uow.execute(RAISE_BALANCE, {"a": actor.account_id})
            raise Refused

        with pytest.raises(Refused):
            store.run(write_then_refuse)

        assert written_on == [read_on]  # the same connection, handed back (or kept) by the read
        assert store.read(lambda uow: charge_guard.balances(uow, actor.account_id)) == before


def test_a_connection_an_autocommit_read_hands_back_keeps_the_pools_next_transaction_whole(store, world):
    """The read switches autocommit on the driver; the pool's next user, whoever it is, gets the
    connection as the engine makes it, so a transaction it rolls back leaves nothing behind."""
    actor = world.account(email=7)
    before = store.read(lambda uow: charge_guard.balances(uow, actor.account_id))
    with pytest.raises(Refused), store.engine.begin() as conn:
        conn.execute(RAISE_BALANCE, {"a": actor.account_id})
        raise Refused
    assert store.read(lambda uow: charge_guard.balances(uow, actor.account_id)) == before


def test_a_charging_reveal_takes_one_pooled_connection_for_its_key_read_lookup_and_charge(app, api):
    """The embedded directory reads the app's database: a reveal looks its person up on the unit of
    work's connection, and the directory's own pool lends none."""
    user = api.account(email=3)
    [url] = api.directory(1)
    taken, directory_taken = [], []
    event.listen(app.extensions["store"].engine, "checkout", lambda *_: taken.append(1))
    event.listen(app.extensions["store"].contacts.engine, "checkout", lambda *_: directory_taken.append(1))
    r = user.post("/v1/extension/reveal", {"linkedin_url": url})
    assert r.status_code == 200 and r.json["credits"]["charged"]["email"] == 1
    assert r.json["person"]["email"]  # found by the lookup
    assert len(taken) == 1 and directory_taken == []
    assert app.extensions["store"].engine.pool.checkedout() == 0  # handed back at the request's end
    assert user.balance()["email"] == 2


def test_a_unit_of_work_inside_another_takes_its_own_connection(store, world):
    actor = world.account(email=7)
    seen_inside = []

    def outer(uow):
        uow.execute(RAISE_BALANCE, {"a": actor.account_id})
        read = store.run(lambda inner: charge_guard.balances(inner, actor.account_id), write=False)
        seen_inside.append(read[CreditType.EMAIL])

    with held():
        store.run(outer)
        store.run(lambda uow: uow.execute(RAISE_BALANCE, {"a": actor.account_id}))
    assert seen_inside == [7_000]  # not the outer's uncommitted raise: another connection
    assert store.engine.pool.checkedout() == 0
    assert store.read(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 17_000


def test_a_read_answers_what_is_committed(store, world):
    actor = world.account(email=7)
    store.run(lambda uow: uow.execute(RAISE_BALANCE, {"a": actor.account_id}))
    balance = store.read(lambda uow: charge_guard.balances(uow, actor.account_id))
    assert balance[CreditType.EMAIL] == 12_000


def test_an_after_commit_answer_is_built_once_its_transaction_committed(store, world):
    """A reveal's answer is rendered this way, holding no lock: built any earlier, the read below
    (another connection) would not see the raise yet."""
    actor = world.account(email=7)

    def raise_then_answer(uow):
        uow.execute(RAISE_BALANCE, {"a": actor.account_id})
        return AfterCommit(lambda: store.read(lambda other: charge_guard.balances(other, actor.account_id)))

    assert store.run(raise_then_answer)[CreditType.EMAIL] == 12_000


class _BusyAtCommit:
    """A DBAPI connection whose first commit fails as a busy database's does; the rest is its own."""

    def __init__(self, driver, error: Exception):
        self._driver, self._error = driver, error

    def __getattr__(self, name):
        return getattr(self._driver, name)

    def commit(self):
        error, self._error = self._error, None
        if error is not None:
            raise error
        return self._driver.commit()


def test_a_commit_the_database_refuses_as_busy_is_rolled_back_retried_and_lands_once(
    store, world, monkeypatch
):
    """A unit of work commits on the driver (its statements ran there, unknown to SQLAlchemy): the
    driver's error must still come out as SQLAlchemy's, so `run` rolls that attempt back and, the
    error being transient, runs it again."""
    actor = world.account(email=7)
    if store.engine.dialect.name == "sqlite":
        busy = sqlite3.OperationalError("database is locked")
    else:
        busy = psycopg.errors.SerializationFailure("could not serialize access")
    real_enter, attempts = UnitOfWork.__enter__, []

    def entered(uow):
        real_enter(uow)
        attempts.append(uow)
        if len(attempts) == 1:
            uow.driver = _BusyAtCommit(uow.driver, busy)
        return uow

    monkeypatch.setattr(UnitOfWork, "__enter__", entered)
    store.run(lambda uow: uow.fetch(RAISE_BALANCE, {"a": actor.account_id}))
    monkeypatch.undo()
    assert len(attempts) == 2
    assert store.read(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 12_000


def test_a_directory_on_another_database_is_looked_up_there_inside_a_unit_of_work(store, tmp_path):
    """Only a directory that reads the unit of work's own database runs on its connection: one kept
    elsewhere (a file of its own; an in-memory database, never shared) answers from where it is."""
    url = "https://www.linkedin.com/in/elsewhere"
    other = DirectoryProvider(f"sqlite:///{tmp_path / 'directory.db'}")
    DirectoryEntry.__table__.create(other.engine)
    with other.engine.begin() as conn:
        conn.execute(insert(DirectoryEntry.__table__).values(linkedin_url=url, email="e@x.example"))
    try:
        found = store.with_ports(contacts=other).read(lambda uow: uow.contacts.lookup(url))
        assert found is not None and found.email == "e@x.example"
        assert store.read(lambda uow: uow.contacts.lookup(url)) is None  # not in the app's own database
        in_memory = DirectoryProvider("sqlite://")
        assert in_memory.within(SimpleNamespace(engine=create_engine("sqlite://"))) is in_memory
    finally:
        other.engine.dispose()
