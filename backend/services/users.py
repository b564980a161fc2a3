"""A team's users, as its admins manage them: per-user monthly limits (R24)."""

from __future__ import annotations

from datetime import datetime

from backend.domain.credits import CREDIT_TYPES, CreditType
from backend.domain.errors import Forbidden
from backend.persistence.tables import User, UserLimit
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, owned, user_limits
from backend.services.charge_guard import Actor

LIMITS = UserLimit.__table__


def limits(uow: UnitOfWork, actor: Actor, user_id: str, now: datetime) -> dict:
    """R24 as the user and the admins see it: per limited type, the limit (null: none), what the user
    used this month, and when the month began. Another member's limits are the admins' business."""
    if actor.role != "admin" and actor.user_id != user_id:
        raise Forbidden("a member may read only their own limits; an account admin reads everyone's")
    owned.get(uow, actor, User, user_id, "user")
    period = user_limits.period_of(now)
    start, _ = user_limits.period_bounds(period)
    set_ = user_limits.of_user(uow, user_id, now)
    out = {}
    for credit_type in user_limits.LIMITED:
        cap, used = set_.get(credit_type, (None, None))
        if cap is None:
            used = user_limits.used_in_ledger(uow, user_id, credit_type, period)
        out[str(credit_type)] = {"limit": cap, "used": used, "period_start": start.date()}
    return out


def set_limits(
    uow: UnitOfWork, actor: Actor, user_id: str, caps: dict[CreditType, int | None], now: datetime
) -> dict:
    """An admin sets (or, with null, removes) a user's monthly limits. Taken under the account's
    balance lock, so the month's use it starts counting from is exact even while the user charges.
    Raising a limit re-arms its alerts (R25); lowering it keeps what was already sent."""
    owned.get(uow, actor, User, user_id, "user")
    charge_guard.lock_balances(uow, actor.account_id, CREDIT_TYPES)
    period = user_limits.period_of(now)
    for credit_type, cap in caps.items():
        row = uow.session.get(UserLimit, (user_id, str(credit_type)))
        if cap is None:
            if row is not None:
                uow.session.delete(row)
            continue
        if row is None:
            row = UserLimit(
                user_id=user_id, credit_type=str(credit_type), account_id=actor.account_id, cap=cap
            )
            uow.session.add(row)
        if cap > row.cap or row.period != period:
            row.alerted = 0
        row.cap, row.period = cap, period
        row.used = user_limits.used_in_ledger(uow, user_id, credit_type, period)
    uow.flush()
    return limits(uow, actor, user_id, now)
