"""A team's users, as its admins manage them (api.md "API keys and users"): adding one (with a first
key), listing, changing a role, removing one; and per-user monthly limits (R24).

A removed user is deactivated, not deleted: their keys stop at once, while their unlocks, ledger
entries, list leads and queued jobs stay the account's (R2) and name them still. The account keeps an
active admin: demoting or removing the last one is a 409, decided under a lock on the account row
(PostgreSQL; SQLite's one writer serialises the same), so two admins demoting each other at once
cannot both succeed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update

from backend.domain.credits import CREDIT_TYPES, CreditType
from backend.domain.errors import Conflict, Forbidden
from backend.persistence.statements import db_now
from backend.persistence.tables import Account, ApiKey, User, UserLimit
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import accounts, api_keys, charge_guard, owned, user_limits
from backend.services.charge_guard import Actor
from backend.services.pages import Order, PageRequest, keyset

LIMITS = UserLimit.__table__
USERS = User.__table__
KEYS = ApiKey.__table__
ACCOUNTS = Account.__table__
USER_ORDER = Order("users", USERS.c.created_at, USERS.c.id)  # oldest first
LAST_ADMIN = "this is the account's last active admin: make another user an admin first"


def add(uow: UnitOfWork, actor: Actor, email: str, role: str) -> dict:
    """An admin adds a teammate; the answer holds their first key's token, shown this once."""
    return accounts.add_user(uow, actor.account_id, email, role)


def listing(uow: UnitOfWork, actor: Actor, limit: int, cursor: str | None) -> dict:
    """The account's users, oldest first, removed ones included (their `deactivated_at` set);
    `last_active_at` is the latest use of any of their keys (lagging up to a minute)."""
    stmt = _with_last_active().where(USERS.c.account_id == actor.account_id)
    found = keyset(uow, stmt, USER_ORDER, (actor.account_id,), PageRequest(limit, cursor))
    return found.json("users", _as_json)


def change_role(uow: UnitOfWork, actor: Actor, user_id: str, role: str) -> dict:
    """Make a user an admin or a member; the last active admin stays one (409)."""
    _lock_account(uow, actor.account_id)
    if owned.get(uow, actor, User, user_id, "user").deactivated_at is not None:
        raise Conflict("this user was removed; a removed user has no role to change")
    keeps = [] if role == "admin" else [_keeps_an_admin(actor.account_id, user_id)]
    if not uow.execute(update(USERS).where(USERS.c.id == user_id, *keeps).values(role=role)).rowcount:
        raise Conflict(LAST_ADMIN)
    return _one(uow, user_id)


def deactivate(uow: UnitOfWork, actor: Actor, user_id: str) -> None:
    """Remove a user: their keys stop at once; what they did stays the account's (R2). The last
    active admin cannot be removed (409). Removing a removed user changes nothing."""
    _lock_account(uow, actor.account_id)
    if owned.get(uow, actor, User, user_id, "user").deactivated_at is not None:
        return
    keeps = _keeps_an_admin(actor.account_id, user_id)
    if not uow.execute(
        update(USERS).where(USERS.c.id == user_id, keeps).values(deactivated_at=db_now())
    ).rowcount:
        raise Conflict(LAST_ADMIN)
    api_keys.revoke_all_of(uow, user_id)


def _keeps_an_admin(account_id: str, user_id: str):
    """True unless the user is the account's last active admin (the others counted in the same
    statement that changes the user)."""
    others = USERS.alias("others")
    admins = (
        select(func.count())
        .where(
            others.c.account_id == account_id,
            others.c.id != user_id,
            others.c.role == "admin",
            others.c.deactivated_at.is_(None),
        )
        .scalar_subquery()
    )
    return or_(USERS.c.role != "admin", admins > 0)


def _lock_account(uow: UnitOfWork, account_id: str) -> None:
    """Role changes and removals of one account, one at a time: the account row `FOR UPDATE` on
    PostgreSQL (a statement that counts the other admins then reads them as committed); on SQLite the
    write transaction is already the only writer."""
    uow.execute(select(ACCOUNTS.c.id).where(ACCOUNTS.c.id == account_id).with_for_update())


def _with_last_active():
    """Users with `last_active_at`: the latest use of any of their keys."""
    last_active = select(func.max(KEYS.c.last_used_at)).where(KEYS.c.user_id == USERS.c.id).scalar_subquery()
    return select(USERS, last_active.label("last_active_at"))


def _one(uow: UnitOfWork, user_id: str) -> dict:
    return _as_json(uow.execute(_with_last_active().where(USERS.c.id == user_id)).one())


def _as_json(row) -> dict:
    return {
        "id": row.id,
        "email": row.email,
        "role": row.role,
        "created_at": row.created_at,
        "last_active_at": row.last_active_at,
        "deactivated_at": row.deactivated_at,
    }


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
