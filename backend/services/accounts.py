"""Operator use cases: accounts (teams), their users (each with a first API key), grants."""

from __future__ import annotations

import uuid

from backend.domain.credits import CreditType
from backend.domain.errors import NotFound
from backend.persistence.tables import Account, User
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import api_keys, charge_guard, credits
from backend.services.charge_guard import Actor


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
    """A user and their first API key, whose token the answer shows this once."""
    if uow.session.get(Account, account_id) is None:
        raise NotFound(f"no account {account_id!r}")
    user = User(id=str(uuid.uuid4()), account_id=account_id, email=email, role=role)
    uow.session.add(user)
    uow.session.flush()
    key = api_keys.issue(uow, account_id, user.id)
    return {"id": user.id, "email": user.email, "role": user.role, "api_token": key["api_token"]}


def grant(uow: UnitOfWork, account_id: str, credit_type: CreditType, amount: int, note: str | None) -> dict:
    if uow.session.get(Account, account_id) is None:
        raise NotFound(f"no account {account_id!r}")
    return credits.entry_json(charge_guard.grant(uow, Actor(account_id), credit_type, amount, note))
