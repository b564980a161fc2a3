"""R27: the check every path that would create or look up a person makes — an erased person's
LinkedIn URL or email finds nothing, stores nothing and charges nothing.

The choke points call these: people.py where a person would be created, the directory import, an
upload's rows, a post export's engagers, an enrollment's supplied email. A check is one indexed
primary-key lookup of keyed hashes (domain/suppression.py). It is off the hot path: a person already
known is found by their URL and needs none (an erased person's URL is cleared, so it finds nobody);
only a person about to be created is checked."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, exists, select

from backend.domain.errors import NotFound
from backend.persistence.tables import Suppression
from backend.persistence.unit_of_work import UnitOfWork

SUPPRESSIONS = Suppression.__table__
_HASHES = select(SUPPRESSIONS.c.value_hash).where(
    SUPPRESSIONS.c.value_hash.in_(bindparam("hs", expanding=True))
)
_HASH = select(SUPPRESSIONS.c.value_hash).where(SUPPRESSIONS.c.value_hash == bindparam("h"))
# true while no suppression holds the hash bound as `h`: a statement that creates a person only if they
# were never erased checks and writes at once (people.create)
UNSUPPRESSED = ~exists(_HASH)


def suppressed(uow: UnitOfWork, urls: Iterable[str] = (), emails: Iterable[str] = ()) -> set[str]:
    """The given canonical URLs and emails (as given) that belong to an erased person."""
    urls, emails = [u for u in urls if u], [e for e in emails if e]
    if not (urls or emails):
        return set()
    s = uow.suppressor
    by_hash = {s.url_hash(u): u for u in urls} | {s.email_hash(e): e for e in emails}
    hashes, found = sorted(by_hash), set()
    if len(hashes) == 1:  # one person or email (a lead added, an email supplied): prebuilt, on the driver
        return {by_hash[r.value_hash] for r in uow.fetch(_HASH, {"h": hashes[0]})}
    for i in range(0, len(hashes), 500):
        found.update(uow.execute(_HASHES, {"hs": hashes[i : i + 500]}).scalars())
    return {by_hash[h] for h in found}


def refuse(uow: UnitOfWork, url: str | None = None, email: str | None = None) -> None:
    """A single-person route naming an erased person: as unknown as a person who never was (404)."""
    if suppressed(uow, [url] if url else [], [email] if email else []):
        raise NotFound("no such person")
