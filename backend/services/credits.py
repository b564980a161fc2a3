"""Reading credits: balances, the ledger, and estimates of what an action would cost (R23)."""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from backend.domain.credits import CreditType, render
from backend.domain.errors import InvalidInput
from backend.domain.identity import canonical_linkedin_url
from backend.domain.rules import TRACKING_HOLD, UNLOCK_COST, unlocks_for
from backend.domain.usage import utc
from backend.persistence.tables import LedgerEntry, ListLead
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, lists, people, usage
from backend.services.charge_guard import Actor
from backend.services.pages import FIRST, Order, PageRequest, keyset

LEDGER = LedgerEntry.__table__
BALANCES = charge_guard.BALANCES
TRACKING_ACTIONS = ("tracking_hold", "tracking_release")
LEDGER_ORDER = Order("ledger", LEDGER.c.id, descending=True)


def summary(uow: UnitOfWork, actor: Actor) -> dict:
    """Balances, and tracking split into total / in use / free (free is the tracking balance).
    One statement: on PostgreSQL two would each see their own moment, and a track committing between
    them would show more tracking credits than the account has."""
    in_use = select(func.coalesce(func.sum(LEDGER.c.amount), 0)).where(
        LEDGER.c.account_id == actor.account_id, LEDGER.c.action.in_(TRACKING_ACTIONS)
    )
    rows = uow.execute(
        select(BALANCES.c.credit_type, BALANCES.c.amount, in_use.scalar_subquery()).where(
            BALANCES.c.account_id == actor.account_id
        )
    ).all()
    balance = {CreditType(t): amount for t, amount, _ in rows}
    held = -int(rows[0][2])
    free = balance[CreditType.TRACKING]
    return {
        "balance": {str(t): render(a) for t, a in balance.items()},
        "tracking": {"total": render(free + held), "in_use": render(held), "free": render(free)},
    }


def ledger(
    uow: UnitOfWork, actor: Actor, credit_type: str | None, page: PageRequest = FIRST, **filters
) -> dict:
    """Newest first, by id. An account's entries are written while its balance rows are locked
    (charge_guard), so its ids grow in commit order: paging down misses none that existed. `filters`
    (all optional): user_id (of the caller's account, else 404), action, and `first`/`end`: local
    dates in `tz`, end excluded; a cursor is good only for the same filters."""
    usage.check_user(uow, actor, filters.get("user_id"))
    stmt = select(LEDGER).where(LEDGER.c.account_id == actor.account_id, *_ledger_filters(filters))
    if credit_type:
        stmt = stmt.where(LEDGER.c.credit_type == credit_type)
    scope = (
        actor.account_id,
        credit_type,
        *(str(filters.get(k)) for k in ("user_id", "action", "first", "end", "tz")),
    )
    return keyset(uow, stmt, LEDGER_ORDER, scope, page).json("entries", entry_json)


def _ledger_filters(filters: dict) -> list:
    first, end, zone = filters.get("first"), filters.get("end"), filters.get("tz") or ZoneInfo("UTC")
    if first and end and first >= end:
        raise InvalidInput(
            "`to` must be after `from`", fields={"to": ["must be after `from` (it is excluded)"]}
        )
    found = [LEDGER.c[k] == filters[k] for k in ("user_id", "action") if filters.get(k)]
    if first:
        found.append(LEDGER.c.created_at >= utc(first, zone))
    if end:
        found.append(LEDGER.c.created_at < utc(end, zone))
    return found


def entry_json(r) -> dict:
    return {
        "id": str(r.id),
        "created_at": r.created_at,
        "credit_type": r.credit_type,
        "amount": render(r.amount),
        "balance_after": render(r.balance_after),
        "action": r.action,
        "person_id": r.person_id,
        "user_id": r.user_id,
        "note": r.note,
    }


def estimate(uow: UnitOfWork, actor: Actor, action: str, refs: list[dict], options: dict) -> dict:
    """The most the action can cost, leaving out what the account already holds; charges nothing."""
    person_ids, unknown = _people_named(uow, refs)
    if action == "list_export" and options.get("list_id"):
        lists.get(uow, actor, options["list_id"])
        person_ids = set(
            uow.execute(select(ListLead.person_id).where(ListLead.list_id == options["list_id"])).scalars()
        )
        unknown = 0
    maximum: Counter = Counter()
    if action == "track":
        tracked = charge_guard.tracked(uow, actor.account_id, sorted(person_ids), active=True)
        maximum[CreditType.TRACKING] = TRACKING_HOLD * (len(person_ids) - len(tracked) + unknown)
        return _estimate_json(maximum, len(tracked))
    kinds = unlocks_for(action, options)
    held = charge_guard.held(uow, actor.account_id, person_ids, kinds)
    covered = 0
    for pid in person_ids:
        missing = [k for k in kinds if (pid, k) not in held]
        covered += bool(kinds) and not missing
        for k in missing:
            maximum[k.credit_type] += UNLOCK_COST[k]
    for k in kinds:
        maximum[k.credit_type] += UNLOCK_COST[k] * unknown
    return _estimate_json(maximum, covered)


def _estimate_json(maximum: Counter, already: int) -> dict:
    return {"max": {str(t): render(maximum.get(t, 0)) for t in CreditType}, "already_unlocked": already}


def refs_keys(refs: list[dict]) -> set[str]:
    """Distinct people named: canonical URL or id (two spellings of one URL count once, R1)."""
    return {
        canonical_linkedin_url(r["linkedin_url"]) if r.get("linkedin_url") else "id:" + r["person_id"]
        for r in refs
    }


def _people_named(uow: UnitOfWork, refs: list[dict]) -> tuple[set[str], int]:
    """(the known people named, however each was named; how many URLs name nobody known yet, each a
    person the action would create)."""
    keys = refs_keys(refs)
    urls = [k for k in keys if not k.startswith("id:")]
    ids = [k[3:] for k in keys if k.startswith("id:")]
    by_url = people.find_many(uow, urls)
    found = {p.id for p in by_url.values()} | set(people.find_ids(uow, ids))
    return found, len(urls) - len(by_url)
