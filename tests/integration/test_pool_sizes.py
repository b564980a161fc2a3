"""A gunicorn process's 8 threads, all in a transaction or a lookup at once, over and over, reuse the
connections they opened the first time: neither the app's pool (persistence/db.py) nor the embedded
directory's (adapters/contacts/directory.py) keeps fewer than that, which closed each connection it
could not keep and opened another the next time (on PostgreSQL a new server process each)."""

from __future__ import annotations

from contextlib import ExitStack

from sqlalchemy import event

from adapters.contacts.directory import DirectoryProvider
from backend.persistence.db import make_engine

THREADS, ROUNDS = 8, 20  # gunicorn.conf.py's WEB_THREADS default


def _connections_opened(engine) -> int:
    opened = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    for _ in range(ROUNDS):
        with ExitStack() as busy:  # every thread holds a connection at the same moment
            for _ in range(THREADS):
                busy.enter_context(engine.connect())
    engine.dispose()
    return len(opened)


def test_the_apps_pool_opens_one_connection_per_busy_thread_once(db_url):
    assert _connections_opened(make_engine(db_url)) == THREADS


def test_the_directorys_lookup_pool_opens_one_connection_per_busy_thread_once(db_url):
    assert _connections_opened(DirectoryProvider(db_url).engine) == THREADS
