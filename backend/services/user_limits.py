"""R24: per-user monthly limits, counted by the charge guard inside its transaction.

Every charging transaction holds the account's balance rows (charge_guard.lock_balances; on SQLite the
one writer), so one account's charges count here one after the other, and the count is one UPDATE of
the user's row besides, which answers the row as it leaves it: a count past the cap is refused, and
its transaction rolls back with it, so a limit holds under races exactly as the balance does. A user
without a limit has no row, and a charge then costs one UPDATE that matches nothing (it was that and
a SELECT, to tell "no limit" from "past it", in a transaction that holds SQLite's one write lock)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, case, func, select, update

from backend.domain.credits import CreditType
from backend.domain.errors import UserLimitReached
from backend.persistence.tables import LedgerEntry, UserLimit
from backend.persistence.unit_of_work import UnitOfWork

LIMITED = (CreditType.EMAIL, CreditType.PHONE)
LIMITS = UserLimit.__table__
LEDGER = LedgerEntry.__table__

_OWN = (LIMITS.c.user_id == bindparam("u")) & (LIMITS.c.credit_type == bindparam("t"))
_USED_NOW = case((LIMITS.c.period == bindparam("p"), LIMITS.c.used), else_=0)  # a new month starts at 0
_COUNT = (
    update(LIMITS)
    .where(_OWN)
    .values(
        used=_USED_NOW + bindparam("x"),
        period=bindparam("p"),
        alerted=case((LIMITS.c.period == bindparam("p"), LIMITS.c.alerted), else_=0),
    )
    .returning(LIMITS.c.cap, LIMITS.c.used, LIMITS.c.alerted)
)
_GIVE_BACK = (
    update(LIMITS)
    .where(_OWN & (LIMITS.c.period == bindparam("p")))
    .values(used=case((LIMITS.c.used > bindparam("x"), LIMITS.c.used - bindparam("x")), else_=0))
)
_OF_USER = select(LIMITS.c.credit_type, LIMITS.c.cap, LIMITS.c.used, LIMITS.c.period).where(
    LIMITS.c.user_id == bindparam("u")
)


def period_of(now: datetime) -> str:
    """The calendar month (UTC) a charge counts in."""
    now = now.astimezone(UTC)
    return f"{now.year:04d}-{now.month:02d}"


def period_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = map(int, period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def count(uow: UnitOfWork, user_id: str | None, credit_type: CreditType, amount: int, now: datetime):
    """Count a charge (or a bulk job's reservation) against the user's limit; UserLimitReached when
    it takes them past it, and the caller's transaction rolls back, this count with it (R24: refused
    whole). Answers the limit's row as counted (cap, used this month, alerted: what R25 judges next),
    or None when nothing was counted (no limit on this type, or nothing to count)."""
    if user_id is None or credit_type not in LIMITED or amount <= 0:
        return None
    params = {"u": user_id, "t": str(credit_type), "p": period_of(now), "x": amount}
    counted = uow.fetch(_COUNT, params)
    if not counted:  # no limit on this type
        return None
    row = counted[0]
    if row.used > row.cap:
        raise UserLimitReached(str(credit_type), row.cap, row.used - amount, amount)
    return row


def give_back(
    uow: UnitOfWork, user_id: str | None, credit_type: CreditType, amount: int, now: datetime
) -> None:
    """What a bulk job reserved and did not charge stops counting (R24: what it actually charges
    counts). A reservation made in an earlier month counted there, and is left there."""
    if user_id is not None and credit_type in LIMITED and amount > 0:
        uow.execute(_GIVE_BACK, {"u": user_id, "t": str(credit_type), "p": period_of(now), "x": amount})


def room(uow: UnitOfWork, user_id: str | None, now: datetime) -> dict[CreditType, int]:
    """What each limited type has left this month (types without a limit are left out): a partial
    run (R23) keeps leads in order while both the balance and this last."""
    if user_id is None:
        return {}
    period = period_of(now)
    return {
        CreditType(r.credit_type): r.cap - (r.used if r.period == period else 0)
        for r in uow.fetch(_OF_USER, {"u": user_id})
    }


def of_user(uow: UnitOfWork, user_id: str, now: datetime) -> dict[CreditType, tuple[int, int]]:
    """(limit, used this month) of each limited type the user has a limit on."""
    return this_month(uow.fetch(_OF_USER, {"u": user_id}), now)


def this_month(rows, now: datetime) -> dict[CreditType, tuple[int, int]]:
    """(limit, used this month) per type, from the user's rows (credit_type, cap, used, period)."""
    period = period_of(now)
    return {CreditType(t): (cap, used if p == period else 0) for t, cap, used, p in rows}


def used_in_ledger(uow: UnitOfWork, user_id: str, credit_type: CreditType, period: str) -> int:
    """What the user's entries of the month add up to as spending: charges, and a running job's
    reservation less what it gave back (grants name no user). The count a new limit starts from."""
    start, end = period_bounds(period)
    total = uow.execute(
        select(func.coalesce(func.sum(LEDGER.c.amount), 0)).where(
            and_(
                LEDGER.c.user_id == user_id,
                LEDGER.c.credit_type == str(credit_type),
                LEDGER.c.created_at >= start,
                LEDGER.c.created_at < end,
            )
        )
    ).scalar_one()
    return max(0, -int(total))
