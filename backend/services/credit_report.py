"""The `credits` object every charging answer carries: what was charged, the balance after, and why."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import bindparam, literal_column, null, select, union_all

from backend.domain.credits import CreditType, render
from backend.domain.reasons import Reason
from backend.persistence.tables import utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import user_limits
from backend.services.charge_guard import BALANCES, Actor, After
from backend.services.user_limits import LIMITS

# The account's balances and the user's limits (R24) in one statement: they come from one moment
# even where no transaction holds the read together (the reveal's read before the write, on SQLite),
# and a charge's write transaction runs one statement fewer while it holds the lock.
_AFTER = union_all(
    select(
        literal_column("'balance'").label("row"),
        BALANCES.c.credit_type,
        BALANCES.c.amount,
        null().label("used"),
        null().label("period"),
    ).where(BALANCES.c.account_id == bindparam("a")),
    select(literal_column("'limit'"), *(LIMITS.c[c] for c in ("credit_type", "cap", "used", "period"))).where(
        LIMITS.c.user_id == bindparam("u")
    ),
)


def charged_of(reasons_by_person: list[dict]) -> Counter:
    """Total milli-credits charged per credit type, from per-person reasons keyed by unlock kind."""
    total: Counter = Counter()
    for reasons in reasons_by_person:
        for kind, reason in reasons.items():
            total[kind.credit_type] += reason.amount
    return total


def read_after(uow: UnitOfWork, actor: Actor) -> After:
    """The account's balances and the user's limits as they stand now (in this transaction, if any)."""
    rows = uow.fetch(_AFTER, {"a": actor.account_id, "u": actor.user_id})
    balance = {CreditType(t): amount for row, t, amount, _, _ in rows if row == "balance"}
    limits = [(t, cap, used, period) for row, t, cap, used, period in rows if row == "limit"]
    return After(balance, user_limits.this_month(limits, utcnow()))


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
