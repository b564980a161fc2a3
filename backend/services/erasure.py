"""R27: the operator erases a person who asked to be forgotten, in one transaction, before answering.

Who: the person with the canonical LinkedIn URL, and everyone the email names (a person keyed by it,
an unlock or enrollment holding it, the directory entry giving it). What goes: their directory entry,
every account's unlock values (the unlock rows stay, with no value, so R3 still holds for them), list
leads, enrollments (they hold a supplied email), saved-search entries, tracking (released through the
charge guard, then removed), notifications about them, upload rows, job items (the CSV results),
CRM delivery payloads (pending ones cancelled, never sent) and the idempotency records whose stored
answer names them. The person row stays with its URL, email key and name cleared: the ledger's entries
and the unlock rows keep its opaque id, and nothing else about them (balances still add up).
A suppression record — a keyed hash of the URL and of each email — keeps them from coming back
(services/suppression.py)."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict

from sqlalchemy import String, Text, cast, delete, func, or_, select, update

from backend.domain.credits import UnlockKind
from backend.domain.identity import canonical_linkedin_url, email_key
from backend.persistence.statements import insert_ignoring_conflicts
from backend.persistence.tables import (
    CrmDelivery,
    DirectoryEntry,
    Enrollment,
    Erasure,
    IdempotencyKey,
    JobItem,
    ListLead,
    Notification,
    Person,
    SavedSearchPerson,
    Suppression,
    TrackedPerson,
    Unlock,
    UploadRow,
    utcnow,
)
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard
from backend.services.charge_guard import Actor
from backend.services.pages import Order, PageRequest, keyset

PEOPLE, DIRECTORY, UNLOCKS = Person.__table__, DirectoryEntry.__table__, Unlock.__table__
ENROLLMENTS, ERASURES, SUPPRESSIONS = Enrollment.__table__, Erasure.__table__, Suppression.__table__
DELIVERIES, TRACKED = CrmDelivery.__table__, TrackedPerson.__table__
BY_PERSON = (ListLead.__table__, SavedSearchPerson.__table__, Notification.__table__, ENROLLMENTS)
# not sent, or retryable by hand (a retry of a payload emptied would send nothing): cancelled
OPEN_DELIVERIES = ("pending", "failed", "dead")
CHUNK = 500
ERASURE_ORDER = Order("erasures", ERASURES.c.created_at, ERASURES.c.id, descending=True)


def erase(uow: UnitOfWork, linkedin_url: str | None, email: str | None) -> dict:
    """Erase everyone the values name. Values all suppressed before: `already_erased`, no new record;
    the sweep still runs over the people erased then, and finds nothing unless a request that was
    charging them while the first erasure committed wrote after it (then this call removes that)."""
    url = canonical_linkedin_url(linkedin_url) if linkedin_url else None
    email = email_key(email) if email else None
    given = _hashes(uow, [url] if url else [], [email] if email else [])
    earlier = _erasures_of(uow, given)
    already = len(earlier) == len(given)
    person_ids = sorted(set(_people(uow, url, email)).union(*earlier.values()))
    urls, emails = _identifiers(uow, person_ids, url, email)
    now, suppressed = utcnow(), 0
    if not already:
        erasure_id = str(uuid.uuid4())
        uow.execute(ERASURES.insert().values(id=erasure_id, person_ids=person_ids, created_at=now))
        suppressed = _suppress(uow, erasure_id, _hashes(uow, urls, emails), now)
    counts = _sweep(uow, person_ids, urls, emails, now)
    return _answer(person_ids, already_erased=already, suppressed=suppressed, **counts)


def _answer(person_ids, *, already_erased=False, suppressed=0, unlocks=0, leads=0, cancelled=0) -> dict:
    return {
        "person_ids": person_ids,
        "unlocks_cleared": unlocks,
        "list_leads_removed": leads,
        "deliveries_cancelled": cancelled,
        "suppressed": suppressed,
        "already_erased": already_erased,
    }


def listing(uow: UnitOfWork, cursor: str | None, limit: int) -> dict:
    """The erasures, newest first (created_at, then id): when, and whom (opaque ids), never the
    values. Erasures are never removed, so paging answers each that existed once."""
    found = keyset(uow, select(ERASURES), ERASURE_ORDER, (), PageRequest(limit, cursor))
    return found.json(
        "erasures", lambda r: {"id": r.id, "created_at": r.created_at, "person_ids": r.person_ids}
    )


def _hashes(uow: UnitOfWork, urls: list[str], emails: list[str]) -> list[str]:
    s = uow.suppressor
    return sorted({s.url_hash(u) for u in urls} | {s.email_hash(e) for e in emails})


def _erasures_of(uow: UnitOfWork, hashes: list[str]) -> dict[str, list[str]]:
    """The suppressed hashes among `hashes`, with the person ids of the erasure that suppressed each."""
    rows = uow.execute(
        select(SUPPRESSIONS.c.value_hash, ERASURES.c.person_ids)
        .join(ERASURES, ERASURES.c.id == SUPPRESSIONS.c.erasure_id)
        .where(SUPPRESSIONS.c.value_hash.in_(hashes))
    )
    return {r.value_hash: r.person_ids for r in rows}


def _people(uow: UnitOfWork, url: str | None, email: str | None) -> list[str]:
    """Everyone the values name: the person of the URL; the person keyed by the email, the people an
    unlock, an enrollment or a directory entry gives it to."""
    urls = [url] if url else []
    found = set()
    if email:
        urls += uow.execute(
            select(DIRECTORY.c.linkedin_url).where(func.lower(DIRECTORY.c.email) == email)
        ).scalars()
        found.update(uow.execute(select(PEOPLE.c.id).where(PEOPLE.c.email_key == email)).scalars())
        found.update(
            uow.execute(
                select(UNLOCKS.c.person_id).where(
                    UNLOCKS.c.kind == str(UnlockKind.EMAIL), func.lower(UNLOCKS.c.value) == email
                )
            ).scalars()
        )
        found.update(
            uow.execute(
                select(ENROLLMENTS.c.person_id).where(func.lower(ENROLLMENTS.c.email) == email)
            ).scalars()
        )
    if urls:
        found.update(uow.execute(select(PEOPLE.c.id).where(PEOPLE.c.linkedin_url.in_(urls))).scalars())
    return sorted(found)


def _identifiers(uow: UnitOfWork, person_ids: list[str], url: str | None, email: str | None):
    """Every URL and email these people are known by here: all of them are suppressed and searched for."""
    urls, emails = {url} - {None}, {email} - {None}
    for ids in _chunks(person_ids):
        for r in uow.execute(select(PEOPLE.c.linkedin_url, PEOPLE.c.email_key).where(PEOPLE.c.id.in_(ids))):
            urls.add(r.linkedin_url)
            emails.add(r.email_key)
        emails.update(
            uow.execute(
                select(UNLOCKS.c.value).where(
                    UNLOCKS.c.person_id.in_(ids), UNLOCKS.c.kind == str(UnlockKind.EMAIL)
                )
            ).scalars()
        )
        emails.update(
            uow.execute(select(ENROLLMENTS.c.email).where(ENROLLMENTS.c.person_id.in_(ids))).scalars()
        )
    urls.discard(None)
    if urls:
        emails.update(
            uow.execute(select(DIRECTORY.c.email).where(DIRECTORY.c.linkedin_url.in_(sorted(urls)))).scalars()
        )
    return sorted(urls), sorted({email_key(e) for e in emails if e})


def _suppress(uow: UnitOfWork, erasure_id: str, hashes: list[str], now) -> int:
    rows = [{"value_hash": h, "erasure_id": erasure_id, "created_at": now} for h in hashes]
    if not rows:
        return 0
    stmt = insert_ignoring_conflicts(uow.dialect, SUPPRESSIONS).returning(SUPPRESSIONS.c.value_hash)
    return len(uow.execute(stmt, rows).all())


def _sweep(uow: UnitOfWork, person_ids: list[str], urls: list[str], emails: list[str], now) -> dict:
    counts = {"unlocks": 0, "leads": 0, "cancelled": 0}
    for ids in _chunks(person_ids):
        counts["unlocks"] += uow.execute(
            update(UNLOCKS)
            .where(UNLOCKS.c.person_id.in_(ids), UNLOCKS.c.value.is_not(None))
            .values(value=None)
        ).rowcount
        _stop_tracking(uow, ids)
        for table in BY_PERSON:
            removed = uow.execute(delete(table).where(table.c.person_id.in_(ids))).rowcount
            if table is BY_PERSON[0]:
                counts["leads"] += removed
        counts["cancelled"] += _scrub_deliveries(uow, ids, now)
        uow.execute(
            update(PEOPLE)
            .where(PEOPLE.c.id.in_(ids))
            .values(
                linkedin_url=None,
                email_key=None,
                full_name=None,
                erased_at=func.coalesce(PEOPLE.c.erased_at, now),
            )
        )
    if urls:
        uow.execute(delete(DIRECTORY).where(DIRECTORY.c.linkedin_url.in_(urls)))
    if emails:
        uow.execute(delete(DIRECTORY).where(func.lower(DIRECTORY.c.email).in_(emails)))
    _remove_mentions(uow, [*person_ids, *urls, *emails])
    return counts


def _stop_tracking(uow: UnitOfWork, ids: list[str]) -> None:
    """Tracking stops for every account; each active hold is released through the charge guard (R21)."""
    by_account = defaultdict(list)
    for r in uow.execute(
        select(TRACKED.c.account_id, TRACKED.c.person_id).where(TRACKED.c.person_id.in_(ids))
    ):
        by_account[r.account_id].append(r.person_id)
    for account_id in sorted(by_account):
        charge_guard.release_tracking(uow, Actor(account_id), by_account[account_id])
    uow.execute(delete(TRACKED).where(TRACKED.c.person_id.in_(ids)))


def _scrub_deliveries(uow: UnitOfWork, ids: list[str], now) -> int:
    """Not sent (pending, or failed and retryable by hand): cancelled, never sent. Every stored payload
    is emptied."""
    cancelled = uow.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.person_id.in_(ids), DELIVERIES.c.status.in_(OPEN_DELIVERIES))
        .values(status="cancelled", payload={}, lease_until=None, lease_token=None, updated_at=now)
    ).rowcount
    uow.execute(update(DELIVERIES).where(DELIVERIES.c.person_id.in_(ids)).values(payload={}))
    return cancelled


def _remove_mentions(uow: UnitOfWork, values: list[str]) -> None:
    """Rows whose stored JSON names the person (their id, a URL, an email): upload rows, job items (the
    per-lead results every CSV is written from) and idempotency records' stored answers. These hold
    free-form JSON, so the search is a text match — a whole JSON string, case folded, so `a@b.co` never
    matches `xa@b.co` — over a full scan, bounded by retention (services/retention.py), and only an
    erasure pays it."""
    needles = sorted({n for v in values for n in (f'"{v.lower()}"', json.dumps(v.lower()))})
    if not needles:
        return
    items, rows, keys = JobItem.__table__, UploadRow.__table__, IdempotencyKey.__table__
    for table, columns in (
        (rows, [rows.c.payload]),
        (items, [items.c.payload, items.c.outcome]),
        (keys, [keys.c.body]),
    ):
        text = [func.lower(c if isinstance(c.type, String) else cast(c, Text)) for c in columns]
        for chunk in _chunks(needles, 50):
            match = or_(*(t.contains(n, autoescape=True) for t in text for n in chunk))
            uow.execute(delete(table).where(match))


def _chunks(values: list, size: int = CHUNK):
    for i in range(0, len(values), size):
        yield values[i : i + size]
