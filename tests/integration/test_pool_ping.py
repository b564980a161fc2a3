"""PostgreSQL's pool pings a connection only after it sat idle (persistence/db.py `ping_when_idle`):
one the server dropped meanwhile is replaced at checkout, and a busy pool pays no ping round trip."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from backend.persistence.db import ping_when_idle


def _pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    admin.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_at_checkout(pg_database):
    engine = ping_when_idle(create_engine(pg_database, pool_size=1, max_overflow=0), idle=0.0)
    dropped = _pid(engine)
    _terminate(pg_database, dropped)
    assert _pid(engine) != dropped  # answered, on a new connection
    engine.dispose()


def test_only_a_connection_idle_past_the_threshold_is_pinged(pg_database, monkeypatch):
    pinged = {}
    for idle in (60.0, 0.0):
        engine = ping_when_idle(create_engine(pg_database, pool_size=1, max_overflow=0), idle=idle)
        _pid(engine)  # a new connection: nothing to ping
        pings = []
        monkeypatch.setattr(engine.dialect, "do_ping", lambda conn, pings=pings: pings.append(conn) or True)
        _pid(engine)  # the same connection, handed back just now
        pinged[idle] = len(pings)
        engine.dispose()
    assert pinged == {60.0: 0, 0.0: 1}
