"""The operator's directory import: the embedded contact-data source's content."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from backend.domain.identity import canonical_linkedin_url
from backend.persistence.tables import DirectoryEntry, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import suppression, tracking

DIRECTORY = DirectoryEntry.__table__
FIELDS = ("full_name", "title", "company", "email", "phone")


def import_people(uow: UnitOfWork, people: list[dict]) -> dict:
    """Upsert by canonical LinkedIn URL; the last row wins for a URL given twice. Answers counts.
    A field a row leaves out keeps what is stored (null clears it): a re-import of names and titles
    alone must not erase the emails and phones that reveals are paid for. A row naming an erased
    person's URL or email (R27) is left out: it stores nothing and counts nowhere."""
    given = {
        canonical_linkedin_url(p["linkedin_url"]): {f: _text(p[f]) for f in FIELDS if f in p} for p in people
    }
    erased = suppression.suppressed(uow, given, [g.get("email") for g in given.values()])
    given = {u: g for u, g in given.items() if u not in erased and g.get("email") not in erased}
    urls = sorted(given)
    before = {}
    for i in range(0, len(urls), 500):
        found = uow.execute(select(DIRECTORY).where(DIRECTORY.c.linkedin_url.in_(urls[i : i + 500])))
        before.update({r.linkedin_url: r._asdict() for r in found})
    after = {u: {**{f: before.get(u, {}).get(f) for f in FIELDS}, **given[u]} for u in urls}
    now = utcnow()
    new = [{"linkedin_url": u, **after[u], "updated_at": now} for u in urls if u not in before]
    if new:
        uow.execute(DIRECTORY.insert(), new)
    if before:
        changed = [{"key": u, **after[u], "updated_at": now} for u in sorted(before)]
        uow.execute(update(DIRECTORY).where(DIRECTORY.c.linkedin_url == bindparam("key")), changed)
    tracking.notify_changes(uow, {url: (before[url], after[url]) for url in before})
    return {"created": len(new), "updated": len(before)}


def _text(value: str | None) -> str | None:
    """A field as stored: trimmed, and blank as absent — a phone of spaces is no phone found (R4), never
    a value a reveal would charge for."""
    return (value or "").strip() or None
