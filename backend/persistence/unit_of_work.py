"""The one transaction boundary. Nothing else commits.

`run(fn)` gives `fn` a unit of work, commits when it returns, rolls back when it raises, and
retries a bounded number of times on the transient errors of either engine (PostgreSQL
serialization failures and deadlocks, SQLite busy). `run(fn, write=False)` is for reads: on SQLite
it neither takes nor waits for the write lock. `read(fn)` is for a read whose statements need no
common moment: each runs alone, with no transaction around them.

Between `hold_connections()` and `release_connections()` (a request, backend/app.py) the units of
work one after another share one pooled connection: a charging reveal's key lookup, read and write
took three checkouts and hand-backs, 7 % of its Python calls on SQLite (bench/reveal_calls.py)."""

from __future__ import annotations

import contextvars
import copy
import fcntl
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from backend.domain.suppression import Suppressor
from backend.persistence import statements
from backend.persistence.sealed import Keyring

T = TypeVar("T")
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}
ATTEMPTS = 5
# engine -> the connection this context holds while no unit of work uses it (None: none held)
_HELD: contextvars.ContextVar[dict[Engine, Connection] | None] = contextvars.ContextVar("held", default=None)


def hold_connections() -> None:
    """From now on in this context (a request's thread), a unit of work's connection is kept for the
    next one instead of going back to the pool. A thread started meanwhile holds nothing (a new
    thread's context is empty)."""
    _HELD.set({})


def release_connections(_error: BaseException | None = None) -> None:
    """The held connections back to the pool (Flask's teardown_request, which passes the error)."""
    held = _HELD.get()
    _HELD.set(None)
    for conn in (held or {}).values():
        conn.close()


class Store:
    """The database and the ports a use case may consult inside its transaction; `keyring` seals and
    opens credentials stored in the database (persistence/sealed.py); `suppressor` hashes what an
    erasure suppresses (domain/suppression.py, R27)."""

    def __init__(
        self,
        engine: Engine,
        contacts=None,
        validator=None,
        keyring: Keyring | None = None,
        suppressor: Suppressor | None = None,
    ):
        self.engine = engine
        self.contacts = contacts
        self.validator = validator
        self.keyring = keyring
        self.suppressor = suppressor
        self.writer = WriterQueue(engine.url.database) if engine.dialect.name == "sqlite" else None
        # called after a commit with what it charged (UnitOfWork.charges): the credits metric, kept
        # off the charging transaction (backend/observe/metrics.py)
        self.on_charges: Callable[[list], None] | None = None

    def run(self, fn: Callable[[UnitOfWork], T], attempts: int = ATTEMPTS, write: bool = True) -> T:
        return run(self, fn, attempts, write)

    def read(self, fn: Callable[[UnitOfWork], T]) -> T:
        """`fn`'s statements in autocommit, each its own snapshot: no BEGIN and COMMIT around them (two
        round trips on PostgreSQL), for a read whose statements need no common moment. Every
        request's API-key lookup is one."""
        return run(self, fn, ATTEMPTS, write=False, autocommit=True)

    def with_ports(self, contacts=None, validator=None) -> Store:
        """The same database (and writer queue) seen through other ports (backend/services/prefetch.py)."""
        view = copy.copy(self)
        view.contacts = contacts or self.contacts
        view.validator = validator or self.validator
        return view


class WriterQueue:
    """SQLite has one writer at a time. Writers of every process queue here — a thread lock within the
    process, an OS file lock across processes (gunicorn workers, the job worker) — instead of in
    SQLite's busy handler, which sleeps in growing steps and leaves the lock idle between sleeps."""

    def __init__(self, database: str | None):
        self.thread_lock = threading.Lock()
        self.path = f"{database}.writelock" if database and database != ":memory:" else None
        self.fd: int | None = None
        self.pid = 0

    def acquire(self) -> None:
        self.thread_lock.acquire()
        try:
            if self.path:
                if self.pid != os.getpid():  # a forked process needs its own open file, or flock is shared
                    self.fd, self.pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
                fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.thread_lock.release()


class UnitOfWork:
    """One transaction on one connection. Hot paths run Core statements through `execute`; use cases
    that build model objects use `session`, an ORM session joined to the same transaction."""

    def __init__(self, store: Store, write: bool = True, autocommit: bool = False):
        self.engine = store.engine
        self.writer = store.writer if write else None
        self.write = write
        self.autocommit = autocommit
        self._contacts = store.contacts
        self.validator = store.validator
        self.keyring = store.keyring
        self.suppressor = store.suppressor
        self.dialect = self.engine.dialect.name
        self._session: Session | None = None
        self.charges: list[tuple[str, str, int]] = []  # (credit type, action, milli-credits) charged
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        """The pooled connection is taken here, and handed back after the write lock (`__exit__`): the
        pool's own work is no other writer's wait. On SQLite the transaction, and a writer's lock,
        begin at the first statement (`flush`): the Python a use case runs before it (a new person's
        id and suppression hash) is none either."""
        self.holder = _HELD.get()
        held = self.holder.pop(self.engine, None) if self.holder is not None else None
        self.conn = held or self.engine.connect()  # a unit of work inside another takes its own
        self.conn.info["write"] = self.write  # read by the SQLite BEGIN hook (persistence/db.py)
        self.driver = self.conn.connection.dbapi_connection  # the hot paths' statements run on it
        self.locked = False
        # psycopg, out of autocommit, begins a transaction by itself with the first statement
        self.begun = self.autocommit or self.dialect != "sqlite"
        try:
            self._set_autocommit(self.autocommit)
        except BaseException:
            self._end()
            raise
        return self

    def _begin(self) -> None:
        """SQLite's BEGIN on the driver, IMMEDIATE for a writer once the write lock is its own."""
        if self.writer:
            self.writer.acquire()
            self.locked = True
        statements.driver_call(self.conn, self.driver.execute, "BEGIN IMMEDIATE" if self.write else "BEGIN")
        self.begun = True

    def __exit__(self, *exc) -> None:
        try:
            if self._session is not None:
                self._session.close()
            if self.conn.in_transaction():
                self.conn.rollback()
            elif not (self.committed or self.autocommit or self.conn.invalidated):
                statements.driver_call(self.conn, self.driver.rollback)  # the driver's own, if open
        finally:
            self._end()

    def _end(self) -> None:
        try:
            if self.locked:
                self.writer.release()
        finally:
            if self.holder is None or self.engine in self.holder:
                self.conn.close()  # the pool resets it (an autocommit connection too)
            else:  # kept for the context's next unit of work, which sets the mode it needs
                self.holder[self.engine] = self.conn

    def _set_autocommit(self, on: bool) -> None:
        """PostgreSQL's connection in or out of autocommit, as this unit of work needs it (SQLite's
        driver already runs each statement alone outside a transaction). Switched on the driver,
        and only when it differs: a held connection stays as the last unit of work left it, and one
        handed back is switched off again by the pool (persistence/db.py). SQLAlchemy's own switch
        (`execution_options(isolation_level=…)`, and its reset at the pool's check-in) cost a
        PostgreSQL charging reveal, whose key lookup runs in autocommit and its write not, on one
        connection, ~120 Python calls (bench/reveal_calls.py)."""
        if self.dialect == "postgresql" and self.driver.autocommit != on:
            statements.driver_call(self.conn, self.driver.set_autocommit, on)

    @property
    def contacts(self):
        """The contact port as this unit of work consults it (adapters/contacts/base.py `within`)."""
        return self._contacts.within(self)

    @property
    def session(self) -> Session:
        if self._session is None:
            self.flush()  # SQLite's transaction begins before the session's first statement
            self._session = Session(bind=self.conn, expire_on_commit=False, autoflush=False)
        return self._session

    def execute(self, statement, params=None):
        self.flush()  # pending model objects first, so statements see them
        return self.conn.execute(statement, params)

    def fetch(self, statement, params: dict) -> list:
        """A prebuilt statement's rows through the driver (`statements.fetch`): the hot paths."""
        self.flush()
        return statements.fetch(self.conn, statement, params, self.driver)

    def flush(self) -> None:
        """Before every statement: SQLite's transaction begins at the first, and the session's pending
        model objects are written, so statements see them."""
        if not self.begun:
            self._begin()
        if self._session is not None:
            self._session.flush()

    def commit(self) -> None:
        """The transaction begins and ends on the driver (SQLite's BEGIN in `flush`; psycopg, out of
        autocommit, begins with the first statement): SQLAlchemy's begin and commit bookkeeping cost
        ~40 calls a transaction, inside SQLite's write lock. A statement through SQLAlchemy
        (`execute`, the session) joins its bookkeeping to the open transaction, and then commits it."""
        if self.begun:  # else no statement ran: nothing to commit
            self.flush()
            if self.conn.in_transaction():
                self.conn.commit()
            elif not self.autocommit:
                statements.driver_call(self.conn, self.driver.commit)
        self.committed = True


class AfterCommit:
    """What a use case answers when its answer needs nothing more from the database: `build` runs once
    the transaction has committed, so rendering it holds no lock (SQLite's write lock, PostgreSQL's
    rows) — `run` answers what `build` returns."""

    def __init__(self, build: Callable[[], object]):
        self.build = build


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError) or not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def run(
    store: Store,
    fn: Callable[[UnitOfWork], T],
    attempts: int = ATTEMPTS,
    write: bool = True,
    autocommit: bool = False,
) -> T:
    """Run `fn` in one transaction; commit on return (an `AfterCommit` answer is built after it).
    Transient DB errors are retried with jitter."""
    for attempt in range(1, attempts + 1):
        try:
            with UnitOfWork(store, write, autocommit) as uow:
                result = fn(uow)
                uow.commit()
            if uow.charges and store.on_charges:
                store.on_charges(uow.charges)
            return result.build() if isinstance(result, AfterCommit) else result
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
