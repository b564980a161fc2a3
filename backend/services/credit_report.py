"""The `credits` object every charging answer carries: what was charged, the balance after, and why."""

from __future__ import annotations

from collections import Counter

from backend.domain.credits import CreditType, render
from backend.domain.reasons import Reason
from backend.persistence.tables import utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, user_limits
from backend.services.charge_guard import Actor, After


def charged_of(reasons_by_person: list[dict]) -> Counter:
    """Total milli-credits charged per credit type, from per-person reasons keyed by unlock kind."""
    total: Counter = Counter()
    for reasons in reasons_by_person:
        for kind, reason in reasons.items():
            total[kind.credit_type] += reason.amount
    return total


def read_after(uow: UnitOfWork, actor: Actor) -> After:
    """The account's balances and the user's limits as they stand in this transaction."""
    limits = user_limits.of_user(uow, actor.user_id, utcnow()) if actor.user_id else {}
    return After(charge_guard.balances(uow, actor.account_id), limits)


def report(
    uow: UnitOfWork | None,
    actor: Actor,
    charged: Counter,
    reasons: dict | None = None,
    after: After | None = None,
) -> dict:
    """`{"charged", "balance", "reasons"?}`; reasons are keyed by unlock kind or credit type. `after`:
    the balances and limits after the charge (charge_guard.After: as PostgreSQL's charge answered
    them, or `read_after` in its transaction), which need no `uow`, so the answer can be rendered
    after the commit; without it they are read here."""
    balance, limits = after if after is not None else read_after(uow, actor)
    out = {
        "charged": {str(t): render(charged.get(t, 0)) for t in CreditType},
        "balance": {str(t): render(a) for t, a in balance.items()},
    }
    if reasons is not None:
        out["reasons"] = reasons_json(reasons)
    if limits:  # R24: so the extension can warn before a refusal
        out["user_limit"] = {
            str(t): {"limit": render(cap), "used": render(used)} for t, (cap, used) in limits.items()
        }
    return out


def reasons_json(reasons: dict) -> dict:
    return {str(k): r.as_json() for k, r in reasons.items() if isinstance(r, Reason)}
