"""Operator use cases: accounts (teams), their users and API tokens, grants."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import bindparam, select

from backend.domain.credits import CREDIT_TYPES, CreditType
from backend.domain.errors import NotFound
from backend.persistence.tables import Account, User
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import alerts, charge_guard, credits
from backend.services.charge_guard import Actor

USERS = User.__table__


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so one SHA-256 is enough: the database never holds a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_account(uow: UnitOfWork, name: str, admin_email: str, grants: dict[CreditType, int]) -> dict:
    account = Account(id=str(uuid.uuid4()), name=name)
    uow.session.add(account)
    uow.session.flush()
    charge_guard.open_balances(uow, account.id)
    for credit_type, amount in grants.items():
        if amount:
            charge_guard.grant(uow, Actor(account.id), credit_type, amount, "initial grant")
    user = add_user(uow, account.id, admin_email, "admin")
    return {"id": account.id, "name": account.name, "users": [user]}


def add_user(uow: UnitOfWork, account_id: str, email: str, role: str) -> dict:
    if uow.session.get(Account, account_id) is None:
        raise NotFound(f"no account {account_id!r}")
    token = "ll_" + secrets.token_urlsafe(32)
    user = User(
        id=str(uuid.uuid4()), account_id=account_id, email=email, role=role, token_hash=hash_token(token)
    )
    uow.session.add(user)
    uow.session.flush()
    return {"id": user.id, "email": user.email, "role": user.role, "api_token": token}


def grant(uow: UnitOfWork, account_id: str, credit_type: CreditType, amount: int, note: str | None) -> dict:
    if uow.session.get(Account, account_id) is None:
        raise NotFound(f"no account {account_id!r}")
    return credits.entry_json(charge_guard.grant(uow, Actor(account_id), credit_type, amount, note))


_BY_TOKEN = select(USERS.c.id, USERS.c.account_id, USERS.c.role).where(
    USERS.c.token_hash == bindparam("h")
)  # every request


def actor_for_token(uow: UnitOfWork, token: str) -> Actor | None:
    rows = uow.fetch(_BY_TOKEN, {"h": hash_token(token)})
    return Actor(rows[0].account_id, rows[0].id, rows[0].role) if rows else None


def alert_levels(uow: UnitOfWork, actor: Actor) -> dict:
    """R25: the balance levels that alert the account, per credit type (any member reads them)."""
    return alerts.levels(uow, actor.account_id)


def set_alert_levels(uow: UnitOfWork, actor: Actor, wanted: dict[CreditType, list[int]]) -> dict:
    """R25 (admins): replace the levels of the credit types given, under the balance lock, so whether
    each starts armed is judged against the balance no charge is moving meanwhile."""
    balance = charge_guard.lock_balances(uow, actor.account_id, CREDIT_TYPES)
    return alerts.set_levels(uow, actor.account_id, wanted, balance)
