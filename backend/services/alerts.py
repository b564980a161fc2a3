"""R25: alerts when an account's balance falls to a level an admin set, and when a user's monthly use
reaches 75 % and 100 % of their limit. Each fires once per crossing, never twice under races: the
charge guard judges them in its own transaction, under the account's balance lock, after the
balance moved (a bulk job's reservation is judged when it is released, as the action completes),
and each alert's state is flipped by a conditional UPDATE that only one transaction can win."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update

from backend.domain.credits import CREDIT_TYPES, CreditType, render
from backend.persistence.tables import AlertLevel, UserLimit
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import notices
from backend.services.user_limits import period_of

LEVELS = AlertLevel.__table__
LIMITS = UserLimit.__table__
USER_LEVELS = (75, 100)  # percent of a user's monthly limit

# Armed while the balance is above the level; the statement flips only the rows whose state changes,
# answering them: `armed` false is a crossing to report, true a level armed again by a rise.
_JUDGE = (
    update(LEVELS)
    .where(
        LEVELS.c.account_id == bindparam("a"),
        LEVELS.c.credit_type == bindparam("t"),
        LEVELS.c.armed != (LEVELS.c.level < bindparam("b")),
    )
    .values(armed=LEVELS.c.level < bindparam("b"))
    .returning(LEVELS.c.level, LEVELS.c.armed)
)
_USER = select(LIMITS.c.cap, LIMITS.c.used, LIMITS.c.alerted).where(
    LIMITS.c.user_id == bindparam("u"),
    LIMITS.c.credit_type == bindparam("t"),
    LIMITS.c.period == bindparam("p"),
)
_USER_ALERTED = (
    update(LIMITS)
    .where(LIMITS.c.user_id == bindparam("u"), LIMITS.c.credit_type == bindparam("t"))
    .values(alerted=bindparam("level"))
)


def judge_balance(uow: UnitOfWork, account_id: str, credit_type: CreditType, balance: int) -> None:
    """After a balance moved: report each level it fell to (or below), arm again each it rose above."""
    judged = uow.fetch(_JUDGE, {"a": account_id, "t": str(credit_type), "b": balance})
    report_levels(uow, account_id, credit_type, balance, judged)


def report_levels(uow: UnitOfWork, account_id: str, credit_type: CreditType, balance: int, judged) -> None:
    """The levels (level, armed) whose state `_JUDGE` just flipped, here or inside PostgreSQL's
    charge_plain() (persistence/charge_statement.py): each one disarmed is a crossing to report."""
    for level, armed in judged:
        if not armed:
            detail = {"credit_type": str(credit_type), "level": render(level), "balance": render(balance)}
            notices.notify(uow, account_id, "low_balance", detail, "credits.low_balance")


def judge_user(
    uow: UnitOfWork,
    account_id: str,
    user_id: str | None,
    credit_type: CreditType,
    now: datetime,
    counted=None,
) -> None:
    """After a user's charges counted: report each of 75 % and 100 % of their limit newly reached this
    month (both, when one action crosses both). A new month or a raised limit re-arms them
    (user_limits and users.set_limits reset `alerted`). `counted`: the limit's row (cap, used,
    alerted) as the count in this transaction just left it (user_limits.count, or PostgreSQL's
    charge_plain()), else it is read."""
    if user_id is None:
        return
    if counted is None:
        rows = uow.fetch(_USER, {"u": user_id, "t": str(credit_type), "p": period_of(now)})
        if not rows:
            return
        counted = rows[0]
    cap, used, alerted = counted
    if cap <= 0:
        return
    reached = [level for level in USER_LEVELS if alerted < level and used * 100 >= cap * level]
    if not reached:
        return
    uow.execute(_USER_ALERTED, {"u": user_id, "t": str(credit_type), "level": reached[-1]})
    for level in reached:
        detail = {
            "user_id": user_id,
            "credit_type": str(credit_type),
            "level": level,
            "limit": render(cap),
            "used": render(used),
        }
        notices.notify(uow, account_id, "user_limit", detail, "credits.user_limit")


def levels(uow: UnitOfWork, account_id: str) -> dict:
    """The account's alert levels per credit type, highest first."""
    out = {str(t): [] for t in CREDIT_TYPES}
    rows = uow.execute(
        select(LEVELS.c.credit_type, LEVELS.c.level)
        .where(LEVELS.c.account_id == account_id)
        .order_by(LEVELS.c.credit_type, LEVELS.c.level.desc())
    )
    for credit_type, level in rows:
        out[credit_type].append(level)  # milli-credits: the schema renders them
    return out


def set_levels(uow: UnitOfWork, account_id: str, wanted: dict[CreditType, list[int]], balance: dict) -> dict:
    """Replace the levels of the types given. A new level is armed only while the balance is above
    it: one already passed is not reported until the balance rises above it and falls again."""
    for credit_type, amounts in wanted.items():
        uow.execute(
            delete(LEVELS).where(LEVELS.c.account_id == account_id, LEVELS.c.credit_type == str(credit_type))
        )
        if amounts:
            uow.execute(
                insert(LEVELS),
                [
                    {
                        "account_id": account_id,
                        "credit_type": str(credit_type),
                        "level": level,
                        "armed": balance[credit_type] > level,
                    }
                    for level in sorted(set(amounts))
                ],
            )
    return levels(uow, account_id)
