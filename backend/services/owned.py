"""Rows an account owns (lists, sequences, saved searches, CRM connections): created for the caller,
listed for the caller, and found only by the caller — another account's row is as unknown as a
missing one (api.md: 404, never reveal that it exists)."""

from __future__ import annotations

from sqlalchemy import select

from backend.domain.errors import NotFound
from backend.persistence.unit_of_work import UnitOfWork
from backend.services.charge_guard import Actor
from backend.services.pages import Order, Page, PageRequest, keyset


def add(uow: UnitOfWork, row):
    uow.session.add(row)
    uow.session.flush()
    return row


def page_of(uow: UnitOfWork, actor: Actor, model, page: PageRequest) -> Page:
    """The caller's rows of `model`, a page at a time, oldest first (created_at, then id)."""
    order = Order(model.__tablename__, model.created_at, model.id)
    stmt = select(model).where(model.account_id == actor.account_id)
    found = keyset(uow, stmt, order, (actor.account_id,), page)
    return Page([row[0] for row in found.rows], found.next_cursor)


def get(uow: UnitOfWork, actor: Actor, model, row_id: str, what: str):
    row = uow.session.get(model, row_id)
    if row is None or row.account_id != actor.account_id:
        raise NotFound(f"no {what} {row_id!r}")
    return row
