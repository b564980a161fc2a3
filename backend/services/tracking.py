"""Contact tracking (R20–R22): hold a tracking credit per tracked person, free it on disable, and tell
the account when a tracked person changes company or title."""

from __future__ import annotations

from sqlalchemy import insert, select

from backend.domain.credits import CreditType
from backend.domain.errors import InvalidInput
from backend.domain.reasons import Reason, ReasonCode
from backend.domain.rules import TRACKING_HOLD
from backend.persistence.tables import DirectoryEntry, Notification, TrackedPerson, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, notices, people
from backend.services.charge_guard import Actor
from backend.services.credit_report import report
from backend.services.pages import FIRST, Order, PageRequest, keyset
from backend.services.people import PEOPLE, PersonRef

TRACKED = TrackedPerson.__table__
NOTIFICATIONS = Notification.__table__
DIRECTORY = DirectoryEntry.__table__
WATCHED = ("company", "title")
TRACKING_FILE_ROWS = 10_000
TRACKED_ORDER = Order("tracking", TRACKED.c.since, TRACKED.c.person_id)
NOTIFICATION_ORDER = Order("notifications", NOTIFICATIONS.c.id, descending=True)


def track(uow: UnitOfWork, actor: Actor, refs: list[PersonRef]) -> dict:
    """R20: all or nothing; re-tracking someone already tracked costs nothing."""
    found = people.resolve_refs(uow, refs)
    new, already = charge_guard.hold_tracking(uow, actor, [p.id for p in found])
    code = {p: ReasonCode.HELD for p in new} | {p: ReasonCode.ALREADY_TRACKED for p in already}
    charged = {CreditType.TRACKING: TRACKING_HOLD * len(new)}
    return {
        "tracked": len(new),
        "already_tracked": len(already),
        "results": [_result(p, Reason(code[p.id])) for p in found],
        "credits": report(uow, actor, charged),
    }


def track_file(uow: UnitOfWork, actor: Actor, stream) -> dict:
    """R20 from a CSV (settings > contact tracking): every person in the file, all or nothing; bad rows
    are reported with their line numbers and do not stop the rest."""
    from backend.domain.lead_files import BadRow, Duplicate, Limits
    from backend.services.uploads import parse

    refs, bad = [], []
    for row in parse(stream, Limits(max_bytes=5 * 2**20, max_rows=TRACKING_FILE_ROWS)):
        if isinstance(row, Duplicate):
            continue
        if isinstance(row, BadRow):
            bad.append({"line": row.line, "reason": row.reason})
        elif row.linkedin_url:
            refs.append(PersonRef(linkedin_url=row.linkedin_url))
        else:
            bad.append({"line": row.line, "reason": "contact tracking needs a LinkedIn profile URL"})
    if not refs:
        raise InvalidInput(
            "the file has no row with a LinkedIn profile URL to track",
            fields={"file": ["no trackable rows"]},
            bad_rows=bad[:100],
        )
    return {**track(uow, actor, refs), "bad_rows": {"count": len(bad), "rows": bad[:100]}}


def disable(uow: UnitOfWork, actor: Actor, refs: list[PersonRef]) -> dict:
    """R21: frees the credits at once, one person or many."""
    found = people.resolve_refs(uow, refs)
    released = set(charge_guard.release_tracking(uow, actor, [p.id for p in found]))
    results = [
        _result(p, Reason(ReasonCode.RELEASED if p.id in released else ReasonCode.FREE_ACTION)) for p in found
    ]
    return {"disabled": len(released), "results": results, "credits": report(uow, actor, {})}


def _result(person, reason: Reason) -> dict:
    return {
        "person_id": person.id,
        "linkedin_url": person.linkedin_url,
        "reasons": {"tracking": reason.as_json()},
    }


def tracked(uow: UnitOfWork, actor: Actor, page: PageRequest = FIRST) -> dict:
    """Oldest tracking first (since, then person id); tracking someone again after disabling them
    starts it anew, so they move to the end."""
    stmt = (
        select(
            PEOPLE.c.id,
            PEOPLE.c.linkedin_url,
            PEOPLE.c.full_name,
            TRACKED.c.since,
            DIRECTORY.c.company,
            DIRECTORY.c.title,
        )
        .join(TRACKED, TRACKED.c.person_id == PEOPLE.c.id)
        .outerjoin(DIRECTORY, DIRECTORY.c.linkedin_url == PEOPLE.c.linkedin_url)
        .where(TRACKED.c.account_id == actor.account_id, TRACKED.c.active.is_(True))
    )
    return keyset(uow, stmt, TRACKED_ORDER, (actor.account_id,), page).json("tracked", _tracked_json)


def _tracked_json(r) -> dict:
    return {
        "person_id": r.id,
        "linkedin_url": r.linkedin_url,
        "full_name": r.full_name,
        "company": r.company,
        "title": r.title,
        "since": r.since,
    }


def notify_changes(uow: UnitOfWork, changes: dict[str, tuple[dict, dict]]) -> int:
    """R22: a directory update that changes a tracked person's company (job change) or title
    (promotion) notifies every account tracking them, and sends a signed webhook event to each of
    the account's webhook connections. `changes`: canonical URL -> (before, after)."""
    changed = {url: ba for url, ba in changes.items() if any(ba[0].get(f) != ba[1].get(f) for f in WATCHED)}
    if not changed:
        return 0
    urls, watchers = sorted(changed), []
    for i in range(0, len(urls), 500):  # bounded statements: an import may change 100,000 people
        watchers += uow.execute(
            select(TRACKED.c.account_id, PEOPLE.c.id, PEOPLE.c.linkedin_url)
            .join(PEOPLE, PEOPLE.c.id == TRACKED.c.person_id)
            .where(TRACKED.c.active.is_(True), PEOPLE.c.linkedin_url.in_(urls[i : i + 500]))
        ).all()
    now, rows, events = utcnow(), [], []
    for account_id, person_id, url in watchers:
        before, after = ({f: changed[url][i].get(f) for f in WATCHED} for i in (0, 1))
        kind = "job_change" if before["company"] != after["company"] else "promotion"
        rows.append(
            {
                "account_id": account_id,
                "person_id": person_id,
                "kind": kind,
                "before": before,
                "after": after,
                "created_at": now,
            }
        )
        data = {"person_id": person_id, "linkedin_url": url, "before": before, "after": after}
        events.append(notices.Event(account_id, f"contact.{kind}", data, person_id))
    if rows:
        uow.execute(insert(NOTIFICATIONS), rows)
        notices.queue_events(uow, events, now)
    return len(rows)
