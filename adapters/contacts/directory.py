"""The embedded contact-data source: the directory the operator imports (`POST /v1/admin/directory`).

It reads through an engine of its own (plain reads, no write lock), as any outside provider would.
A unit of work on the same database looks one person up on its own connection instead (`within`),
in whatever that connection is in (a reveal's read, or the transaction before its charge): the lookup
then takes no pooled connection of its own, whose checkout and hand-back cost about five times its
own Python calls (bench/reveal_calls.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, create_engine, func, select
from sqlalchemy.engine import make_url

from adapters.contacts.base import Contact, ContactProvider
from backend.persistence.db import ping_when_idle
from backend.persistence.statements import fetch
from backend.persistence.tables import DirectoryEntry

DIRECTORY = DirectoryEntry.__table__
_CHUNK = 500  # stays under SQLite's bound-parameter limit
# A reveal looks up one person: a statement built once costs SQLAlchemy a fraction of one built per call.
# The contact's fields only: the entry's own timestamps would cost a datetime parse per row.
_FIELDS = [DIRECTORY.c[f] for f in ("linkedin_url", "full_name", "title", "company", "email", "phone")]
_ONE = select(*_FIELDS).where(DIRECTORY.c.linkedin_url == bindparam("u"))
_MANY = select(*_FIELDS).where(DIRECTORY.c.linkedin_url.in_(bindparam("us", expanding=True)))


# Connections kept per process, and no more opened: each of a gunicorn process's threads may look up
# at once. A pool keeping fewer closes each connection it cannot keep and opens another for the next
# lookup; with 2 kept, 8 threads' reveals opened a PostgreSQL connection (a new server process) over
# and over (py-spy: 2.6 % of a charging reveal's CPU in psycopg's connect alone).
POOL = 10


class DirectoryProvider(ContactProvider):
    def __init__(self, database_url: str, **_settings):
        url = make_url(database_url)
        pool = {"pool_size": POOL, "max_overflow": 0}
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:"):  # an in-memory database has a pool of its own
                pool = {}
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False}, hide_parameters=True, **pool
            )
        else:
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            # autocommit: a lookup is one SELECT, so no BEGIN/ROLLBACK round trips around it
            self.engine = ping_when_idle(
                create_engine(url, isolation_level="AUTOCOMMIT", hide_parameters=True, **pool)
            )

    def lookup(self, linkedin_url: str) -> Contact | None:
        with self.engine.connect() as conn:
            rows = fetch(conn, _ONE, {"u": linkedin_url})
        return _contact(rows[0]) if rows else None

    def within(self, uow) -> ContactProvider:
        url = self.engine.url  # (two in-memory SQLite engines are two databases)
        same = uow.engine.url == url and url.database not in (None, "", ":memory:")
        return _OnUnitOfWork(self, uow) if same else self

    def lookup_many(self, linkedin_urls: list[str]) -> dict[str, Contact]:
        if len(linkedin_urls) == 1:
            contact = self.lookup(linkedin_urls[0])
            return {contact.linkedin_url: contact} if contact else {}
        found: dict[str, Contact] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(linkedin_urls), _CHUNK):
                chunk = linkedin_urls[i : i + _CHUNK]
                rows = conn.execute(_MANY, {"us": chunk})
                found.update({r.linkedin_url: _contact(r) for r in rows})
        return found

    def lookup_by_email(self, email: str) -> Contact | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_FIELDS).where(func.lower(DIRECTORY.c.email) == email.lower()).limit(1)
            ).first()
        return _contact(row) if row else None


class _OnUnitOfWork(ContactProvider):
    """The directory as a unit of work on its database consults it: one person on the unit of work's
    connection, in whatever it is in (a read, or the transaction before a charge), bulk lookups
    through the directory's own engine."""

    def __init__(self, directory: DirectoryProvider, uow):
        self.directory, self.uow = directory, uow

    def lookup(self, linkedin_url: str) -> Contact | None:
        rows = self.uow.fetch(_ONE, {"u": linkedin_url})
        return _contact(rows[0]) if rows else None

    def lookup_many(self, linkedin_urls: list[str]) -> dict[str, Contact]:
        return self.directory.lookup_many(linkedin_urls)

    def lookup_by_email(self, email: str) -> Contact | None:
        return self.directory.lookup_by_email(email)


def _contact(row) -> Contact:
    return Contact._make(row)  # the row's columns are the contact's fields, in order (_FIELDS)
