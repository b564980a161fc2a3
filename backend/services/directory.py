"""The operator's directory import: the embedded contact-data source's content."""

from __future__ import annotations

from sqlalchemy import select, update

from backend.domain.identity import canonical_linkedin_url
from backend.persistence.tables import DirectoryEntry, utcnow
from backend.persistence.unit_of_work import UnitOfWork

DIRECTORY = DirectoryEntry.__table__
FIELDS = ("full_name", "title", "company", "email", "phone")


def import_people(uow: UnitOfWork, people: list[dict]) -> dict:
    """Upsert by canonical LinkedIn URL; the last row wins for a URL given twice. Answers counts."""
    rows = {}
    for p in people:
        url = canonical_linkedin_url(p["linkedin_url"])
        rows[url] = {"linkedin_url": url, **{f: p.get(f) or None for f in FIELDS}, "updated_at": utcnow()}
    urls = sorted(rows)
    existing = set()
    for i in range(0, len(urls), 500):
        existing.update(
            uow.execute(
                select(DIRECTORY.c.linkedin_url).where(DIRECTORY.c.linkedin_url.in_(urls[i : i + 500]))
            ).scalars()
        )
    new = [rows[u] for u in urls if u not in existing]
    if new:
        uow.execute(DIRECTORY.insert(), new)
    for url in sorted(existing):
        values = {k: v for k, v in rows[url].items() if k != "linkedin_url"}
        uow.execute(update(DIRECTORY).where(DIRECTORY.c.linkedin_url == url).values(values))
    return {"created": len(new), "updated": len(existing)}
