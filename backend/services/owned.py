"""Rows an account owns (lists, sequences, saved searches, CRM connections): created for the caller,
listed for the caller, and found only by the caller — another account's row is as unknown as a
missing one (api.md: 404, never reveal that it exists)."""

from __future__ import annotations

from sqlalchemy import select

from backend.domain.errors import NotFound
from backend.persistence.unit_of_work import UnitOfWork
from backend.services.charge_guard import Actor


def add(uow: UnitOfWork, row):
    uow.session.add(row)
    uow.session.flush()
    return row


def all_of(uow: UnitOfWork, actor: Actor, model) -> list:
    stmt = select(model).where(model.account_id == actor.account_id).order_by(model.created_at, model.id)
    return list(uow.session.execute(stmt).scalars())


def get(uow: UnitOfWork, actor: Actor, model, row_id: str, what: str):
    row = uow.session.get(model, row_id)
    if row is None or row.account_id != actor.account_id:
        raise NotFound(f"no {what} {row_id!r}")
    return row
