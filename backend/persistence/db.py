"""Engines. SQLite gets WAL, a long busy timeout and BEGIN IMMEDIATE for every transaction that may
write, so two writers queue instead of deadlocking into 'database is locked'; reads begin deferred."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

IDLE_BEFORE_PING = 1.0  # seconds a pooled PostgreSQL connection may sit unused before it is pinged

# Per process: at most POOL_SIZE + MAX_OVERFLOW PostgreSQL connections (README "Production" adds them up)
POOL_SIZE, MAX_OVERFLOW = 10, 20


def make_engine(url: str, **kw) -> Engine:
    """hide_parameters: a failed statement's error (and so its log line) never shows the values it
    was given — credentials, tokens' hashes, emails, phones (api.md "Operations")."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **kw)
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # psycopg prepares only the statements that ask (statements.py: the prebuilt ones every request
    # runs, which PostgreSQL then plans once); the others would be prepared after this many runs, so
    # never: they are planned for their parameters at each execution, because a prepared statement's
    # generic plan for a 500-key IN list scans instead of seeking (97 ms against 7 ms measured).
    # (None would disable preparing altogether, the asked-for too.)
    options = {"prepare_threshold": 2**31 - 1}
    engine = create_engine(
        url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, connect_args=options, hide_parameters=True, **kw
    )
    ping_when_idle(engine)

    @event.listens_for(engine, "checkin")
    def _out_of_autocommit(dbapi_conn, record):
        # a unit of work switches autocommit on the driver (persistence/unit_of_work.py); the pool's
        # next user gets a connection out of it, as the engine makes them (after the pool's rollback)
        if dbapi_conn is not None and dbapi_conn.autocommit:
            try:
                dbapi_conn.autocommit = False
            except engine.dialect.loaded_dbapi.Error as exc:  # a broken connection: not handed out again
                record.invalidate(exc)

    return engine


def ping_when_idle(engine: Engine, idle: float = IDLE_BEFORE_PING) -> Engine:
    """`pool_pre_ping`, for connections that sat unused a while only. Pinging at every checkout cost a
    round trip per transaction (a charging reveal checks out two connections, and the directory
    lookup a third: py-spy put 29 % of a PostgreSQL charging reveal in the pings); a connection handed
    back within the last `idle` seconds answered then. A dead one is replaced at checkout, as
    pre-ping does (the pool retries on DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= idle:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection did not answer a ping") from exc

    return engine


def _sqlite_engine(url: str, path: str | None, **kw) -> Engine:
    if path and path != ":memory:":  # (an in-memory database has a pool of its own)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A file's pool is sized as PostgreSQL's: SQLAlchemy's default (5 kept) is fewer than a gunicorn
        # process's threads, and each connection it could not keep was opened again (its pragmas run
        # and its page cache cold) for the next transaction.
        kw = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW, **kw}
    engine = create_engine(
        url, connect_args={"timeout": 60, "check_same_thread": False}, hide_parameters=True, **kw
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        # SQLite's own lower() folds ASCII only; searches fold text as PostgreSQL's lower() does
        dbapi_conn.create_function("unicode_lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # straight to the driver: nothing to compile or fetch; nothing when a unit of work began the
        # transaction on the driver already (persistence/unit_of_work.py)
        driver = conn.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")

    return engine


def _lower(value):
    return value.lower() if isinstance(value, str) else value
