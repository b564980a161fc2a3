"""The searcher's use cases (R7–R9): searching the directory shows only what the account holds,
a reveal is the extension's charge, saved searches are free, and a sequence charges at enrollment."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import and_, delete, func, or_, select

from backend.domain.credits import CreditType, UnlockKind
from backend.domain.errors import NotFound
from backend.domain.reasons import Reason, ReasonCode
from backend.persistence.statements import insert_ignoring_conflicts
from backend.persistence.tables import DirectoryEntry, SavedSearch, SavedSearchPerson, utcnow
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import charge_guard, extension, owned, people, sequences
from backend.services.charge_guard import Actor
from backend.services.credit_report import charged_of, reasons_json, report
from backend.services.pages import FIRST, Order, PageRequest, keyset
from backend.services.people import PEOPLE, PersonRef
from backend.services.unlocking import unlock_many

DIRECTORY = DirectoryEntry.__table__
SAVED_PEOPLE = SavedSearchPerson.__table__
CONTACT_KINDS = (UnlockKind.EMAIL, UnlockKind.PHONE)
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
SEARCH_ORDER = Order("search", DIRECTORY.c.linkedin_url)


def search(
    uow: UnitOfWork,
    actor: Actor,
    q: str | None = None,
    title: str | None = None,
    company: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict:
    """R7/R9: searching is free and enriches nothing, so a row says only whether an email or phone
    exists; the value itself appears only where the account (any teammate, R2) holds that unlock."""
    d = DIRECTORY.c
    stmt = select(
        d.linkedin_url,
        d.full_name,
        d.title,
        d.company,
        _present(d.email).label("has_email"),
        _present(d.phone).label("has_phone"),
        PEOPLE.c.id.label("person_id"),
    ).select_from(DIRECTORY.outerjoin(PEOPLE, PEOPLE.c.linkedin_url == d.linkedin_url))
    if q:
        stmt = stmt.where(or_(*(_contains(uow, c, q) for c in (d.full_name, d.title, d.company))))
    if title:
        stmt = stmt.where(_contains(uow, d.title, title))
    if company:
        stmt = stmt.where(_contains(uow, d.company, company))
    page = PageRequest(max(1, min(limit, MAX_LIMIT)), cursor)
    found = keyset(uow, stmt, SEARCH_ORDER, (actor.account_id, q, title, company), page)
    held = charge_guard.held(
        uow, actor.account_id, [r.person_id for r in found.rows if r.person_id], CONTACT_KINDS
    )
    return found.json("people", lambda r: _search_row(r, held))


def reveal(store: Store, actor: Actor, ref: PersonRef, fields: list[str]) -> dict:
    """R7: the extension's reveal (1 email / 1 phone credit, nothing when not found or held),
    booked in the ledger as a searcher action."""
    return extension.reveal_read_first(store, actor, ref, fields, action="search_reveal")


def create_saved_search(uow: UnitOfWork, actor: Actor, name: str, query: dict) -> dict:
    row = SavedSearch(id=str(uuid.uuid4()), account_id=actor.account_id, name=name, query=query)
    return _saved_search_json(owned.add(uow, row))


def all_saved_searches(uow: UnitOfWork, actor: Actor, page: PageRequest = FIRST) -> dict:
    return owned.page_of(uow, actor, SavedSearch, page).json("saved_searches", _saved_search_json)


def delete_saved_search(uow: UnitOfWork, actor: Actor, saved_search_id: str) -> None:
    """The saved search and the people put into it go (R8: nothing was charged, nothing is refunded).
    The conditional DELETE decides: a second delete, even a concurrent one, is a 404."""
    owned.get(uow, actor, SavedSearch, saved_search_id, "saved search")
    uow.execute(delete(SAVED_PEOPLE).where(SAVED_PEOPLE.c.saved_search_id == saved_search_id))
    saved = SavedSearch.__table__
    if not uow.execute(delete(saved).where(saved.c.id == saved_search_id)).rowcount:
        raise NotFound(f"no saved search {saved_search_id!r}")


def add_people(uow: UnitOfWork, actor: Actor, saved_search_id: str, refs: list[PersonRef]) -> dict:
    """R8: always free. People are only named (R1), never looked up or unlocked, so nothing is charged
    and no contact data is answered; a person already in the saved search stays there once."""
    saved = owned.get(uow, actor, SavedSearch, saved_search_id, "saved search")
    found = people.resolve_refs(uow, refs)
    now = utcnow()
    rows = [
        {"saved_search_id": saved.id, "person_id": p.id, "added_by": actor.user_id, "created_at": now}
        for p in sorted(found, key=lambda p: p.id)  # one insert order everywhere: no deadlocks
    ]
    stmt = insert_ignoring_conflicts(uow.dialect, SAVED_PEOPLE).returning(SAVED_PEOPLE.c.person_id)
    added = set(uow.execute(stmt, rows).scalars()) if rows else set()
    free = {CreditType.EMAIL: Reason(ReasonCode.FREE_ACTION)}
    results = [
        {**_who(p), "status": "added" if p.id in added else "already_added", "reasons": reasons_json(free)}
        for p in found
    ]
    return {
        "results": results,
        "added": len(added),
        "already_added": len(found) - len(added),
        "credits": report(uow, actor, Counter(), free),
    }


def enroll_many(uow: UnitOfWork, actor: Actor, sequence_id: str, refs: list[PersonRef]) -> dict:
    """R9: the searcher enriches only when a person is put into a sequence: 1 email credit unless the
    account holds it (R3), nothing for people whose email is not found (R4), who are not enrolled,
    nor for people already in the sequence. All or nothing (R5): if the balance cannot cover every
    charge, nothing is charged or enrolled."""
    sequence = sequences.get(uow, actor, sequence_id)
    found = people.resolve_refs(uow, refs)
    enrolled = sequences.enrolled(uow, sequence, [p.id for p in found])
    held = unlock_many(uow, actor, [p for p in found if p.id not in enrolled], (UnlockKind.EMAIL,), "enroll")
    held.update(sequences.held_by_enrollment(uow, actor, [p for p in found if p.id in enrolled], enrolled))
    results = []
    for p in found:
        if p.id in enrolled:
            status = "already_enrolled"
        elif held[p.id].values.get(UnlockKind.EMAIL):
            created, _ = sequences.enroll(uow, actor, sequence, held[p.id], "unlocked")
            status = "enrolled" if created else "already_enrolled"
        else:
            status = "not_found"
        results.append({**_who(p), "status": status, "reasons": reasons_json(held[p.id].reasons)})
    charged = charged_of([h.reasons for h in held.values()])
    return {"results": results, "credits": report(uow, actor, charged)}


def _who(person) -> dict:
    return {"person_id": person.id, "linkedin_url": person.linkedin_url}


def _search_row(row, held: dict) -> dict:
    email, phone = (held.get((row.person_id, kind)) for kind in CONTACT_KINDS)
    return {
        "linkedin_url": row.linkedin_url,
        "person_id": row.person_id,
        "full_name": row.full_name,
        "title": row.title,
        "company": row.company,
        "has_email": bool(row.has_email),
        "has_phone": bool(row.has_phone),
        "email": email.value if email else None,
        "phone": phone.value if phone else None,
    }


def _present(column):
    return and_(column.is_not(None), column != "")


def _contains(uow: UnitOfWork, column, text: str):
    """Case-insensitive substring match (no ILIKE), letters beyond ASCII too: PostgreSQL's lower(), and
    on SQLite, whose lower() folds ASCII only, the connection's `unicode_lower` (persistence/db.py).
    The user's `%`, `_` and `\\` are literal."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    lower = func.unicode_lower if uow.dialect == "sqlite" else func.lower
    return lower(column).like(f"%{escaped}%", escape="\\")


def _saved_search_json(row: SavedSearch) -> dict:
    return {"id": row.id, "name": row.name, "query": row.query, "created_at": row.created_at}
