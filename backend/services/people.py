"""Finding the person a request names (R1): by canonical LinkedIn URL, by email key, or by id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from sqlalchemy import bindparam, select

from backend.domain.errors import InvalidInput, NotFound
from backend.domain.identity import canonical_linkedin_url, email_key
from backend.persistence.statements import insert_ignoring_conflicts, insert_many
from backend.persistence.tables import Person, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import suppression

PEOPLE = Person.__table__
# What a person row answers: who they are, never when we first saw them (a datetime per row is a
# parse per row on SQLite, and bulk jobs read thousands).
PERSON = (PEOPLE.c.id, PEOPLE.c.linkedin_url, PEOPLE.c.email_key, PEOPLE.c.full_name)


class PersonRow(NamedTuple):
    """A person row this transaction wrote itself, shaped as a read of PERSON answers it."""

    id: str
    linkedin_url: str | None
    email_key: str | None
    full_name: str | None


_KEYS = (PEOPLE.c.id, PEOPLE.c.linkedin_url, PEOPLE.c.email_key)
# R27: an erased person's row stays for the ledger's sake, found by nothing (its URL and email key are
# cleared too, so only a read by id needs the condition)
_LIVE = PEOPLE.c.erased_at.is_(None)
_BY_KEY = {c.key: select(*PERSON).where(c == bindparam("k"), _LIVE) for c in _KEYS}
# A list is one parameter: building `IN (…)` from literal values costs work per value, every call.
_BY_KEYS = {c.key: select(*PERSON).where(c.in_(bindparam("ks", expanding=True)), _LIVE) for c in _KEYS}


@dataclass(frozen=True)
class PersonRef:
    """What a request gives: a LinkedIn URL (any spelling), or the id we answered before."""

    linkedin_url: str | None = None
    person_id: str | None = None

    @classmethod
    def parse(cls, body: dict) -> PersonRef:
        if body.get("linkedin_url"):
            return cls(linkedin_url=canonical_linkedin_url(body["linkedin_url"]))
        if body.get("person_id"):
            return cls(person_id=body["person_id"])
        raise InvalidInput(
            "give the person as linkedin_url or person_id",
            fields={"linkedin_url": ["linkedin_url or person_id is required"]},
        )


def resolve(uow: UnitOfWork, ref: PersonRef):
    """The person row; a LinkedIn URL never seen before becomes a person (R1: still a person), except
    an erased person's (R27), who is as unknown as an unknown id: 404."""
    if ref.person_id:
        row = find(uow, ref)
        if row is None:
            raise NotFound(f"no person {ref.person_id!r}")
        return row
    found = resolve_many(uow, [ref.linkedin_url])
    if ref.linkedin_url not in found:
        raise NotFound("no such person")
    return found[ref.linkedin_url]


def resolve_many(uow: UnitOfWork, urls: list[str], source_names: dict[str, str | None] | None = None) -> dict:
    """Rows for canonical URLs, creating the missing ones in one statement; keyed by URL.

    People are shared by every account, so a person's name comes only from the contact-data source
    (`source_names`, by URL), never from what one account typed or uploaded (that stays with the
    account's own job or list). An erased person's URL (R27) is neither created nor answered."""
    return _resolve(uow, PEOPLE.c.linkedin_url, "linkedin_url", urls, source_names or {})


def resolve_refs(uow: UnitOfWork, refs: list[PersonRef]) -> list:
    """The distinct people named, in the order first named; a URL never seen becomes a person (R1),
    an unknown person_id is a 404 like everywhere else. An erased person's URL (R27) is left out:
    nothing is stored or charged for them."""
    by_url = resolve_many(uow, [r.linkedin_url for r in refs if r.linkedin_url])
    ids = list(dict.fromkeys(r.person_id for r in refs if r.person_id))
    by_id = find_ids(uow, ids)
    missing = [pid for pid in ids if pid not in by_id]
    if missing:
        raise NotFound(f"no person {missing[0]!r}")
    named = (by_url.get(r.linkedin_url) if r.linkedin_url else by_id[r.person_id] for r in refs)
    return list({p.id: p for p in named if p is not None}.values())


def create(uow: UnitOfWork, url: str, source_name: str | None):
    """The person for a canonical URL a read just found unknown: inserted straight away, or, when a
    concurrent request created them meanwhile, the row it made. An erased person's URL: 404 (R27)."""
    row = {"id": str(uuid.uuid4()), "linkedin_url": url, "full_name": source_name, "created_at": utcnow()}
    created = uow.fetch(_creating_by_url(uow.dialect), {**row, "h": uow.suppressor.url_hash(url)})
    if created:
        return created[0]
    found = _select(uow, PEOPLE.c.linkedin_url, [url])  # created meanwhile, or suppressed
    if not found:
        raise NotFound("no such person")
    return found[url]


def find(uow: UnitOfWork, ref: PersonRef):
    """The person a reference names, if we know them (creating none)."""
    if ref.person_id:
        return uow.execute(select(*PERSON).where(PEOPLE.c.id == ref.person_id, _LIVE)).first()
    return find_many(uow, [ref.linkedin_url]).get(ref.linkedin_url)


def find_many(uow: UnitOfWork, urls: list[str]) -> dict:
    """The people already known for these canonical URLs (creating none), keyed by URL."""
    return _select(uow, PEOPLE.c.linkedin_url, sorted(set(urls)))


def find_ids(uow: UnitOfWork, ids: list[str]) -> dict:
    """The people with these ids, keyed by id (an id naming nobody is left out)."""
    return _select(uow, PEOPLE.c.id, sorted(set(ids)))


def find_emails(uow: UnitOfWork, emails: list[str]) -> dict:
    """The people already known for these emails (creating none), keyed by lower-cased email."""
    return _select(uow, PEOPLE.c.email_key, sorted({email_key(e) for e in emails}))


def resolve_emails(uow: UnitOfWork, emails: list[str]) -> dict:
    """R1: uploaded rows without a profile URL are people keyed by lower-cased email."""
    return _resolve(uow, PEOPLE.c.email_key, "email_key", [email_key(e) for e in emails], {})


def _resolve(uow: UnitOfWork, column, field: str, keys: list[str], names: dict) -> dict:
    keys = sorted(set(keys))  # one order everywhere: concurrent bulk inserts cannot deadlock
    found = _select(uow, column, keys)
    missing = [k for k in keys if k not in found]
    if missing:  # R27: never an erased person's again
        erased = suppression.suppressed(uow, *((missing, ()) if field == "linkedin_url" else ((), missing)))
        missing = [k for k in missing if k not in erased]
    if missing:
        now = utcnow()
        rows = [
            {"id": str(uuid.uuid4()), field: k, "full_name": names.get(k), "created_at": now} for k in missing
        ]
        if uow.writer is not None:  # writers queue (SQLite): nobody created any of them since our read
            insert_many(uow, PEOPLE, rows)
            found.update({r[field]: _written(r) for r in rows})
        else:  # the rows this transaction created, whatever a concurrent one created meanwhile
            created = uow.execute(_creating(uow.dialect), rows[0] if len(rows) == 1 else rows)
            found.update({getattr(r, column.key): r for r in created})
        unread = [k for k in missing if k not in found]  # created meanwhile by a concurrent transaction
        if unread:
            found.update(_select(uow, column, unread))
    return found


def _written(row: dict) -> PersonRow:
    return PersonRow(row["id"], row.get("linkedin_url"), row.get("email_key"), row["full_name"])


@cache
def _creating(dialect: str):
    """`INSERT … ON CONFLICT DO NOTHING RETURNING` people, built once per dialect (every reveal of
    someone new runs it)."""
    return insert_ignoring_conflicts(dialect, PEOPLE).returning(*PERSON)


@cache
def _creating_by_url(dialect: str):
    """`create`'s insert, made only while no suppression (R27) holds the URL's hash `h`: the check and
    the insert are one statement inside the charge's write transaction."""
    columns = ("id", "linkedin_url", "full_name", "created_at")
    values = select(*(bindparam(c, type_=PEOPLE.c[c].type) for c in columns)).where(suppression.UNSUPPRESSED)
    return insert_ignoring_conflicts(dialect, PEOPLE).from_select(columns, values).returning(*PERSON)


def _select(uow: UnitOfWork, column, keys: list[str]) -> dict:
    if len(keys) == 1:  # one person: the hot path, a prebuilt statement
        rows = uow.fetch(_BY_KEY[column.key], {"k": keys[0]})
        return {keys[0]: rows[0]} if rows else {}
    found = {}
    for i in range(0, len(keys), 500):
        rows = uow.execute(_BY_KEYS[column.key], {"ks": keys[i : i + 500]}).all()
        found.update({getattr(r, column.key): r for r in rows})
    return found
