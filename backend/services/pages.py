"""Keyset pagination, the one way every listing pages (api.md "More conventions", Pagination).

A listing has ONE order: columns that together are unique and never change once a row is written
(an integer id, or a timestamp set at insert and a unique id to break its ties). A page is "the next
`limit` rows beyond the last key of the page before", never an OFFSET, so:

- every row that existed when paging began, and still does, is answered exactly once, however many
  rows are added meanwhile: its key does not move, and each page starts strictly beyond the last key
  answered (the unique tie-breaker means two rows never share a key, so none is skipped or repeated);
- a row added while paging may or may not be answered (on PostgreSQL a transaction that commits later
  may hold a smaller key than one already read); it did not exist when paging began;
- nothing is cut: `next_cursor` is null only on the page that found no row beyond it.

The cursor is opaque to callers: base64url of a check value and a small JSON naming the listing, a
digest of its scope (the account, and the list or filter paged) and the last key. A cursor that was
edited, comes from another listing, or from another account, list or filter is a 422 naming which. It
carries no secret because it grants nothing: every page is read inside the caller's own scope anyway.

Adopting it in a new listing (service, then route):

    ORDER = Order("users", User.created_at, User.id)

    def all_users(uow, actor, page: PageRequest = FIRST) -> dict:
        stmt = select(User).where(User.account_id == actor.account_id)
        return keyset(uow, stmt, ORDER, (actor.account_id,), page).json("users", lambda r: user_json(r[0]))

    @blp.arguments(PageQuery(), location="query")   # schemas.common
    @blp.response(200, page_schema("UsersPage", "users", UserSchema, "oldest first (by created_at, then id)"))
    def users(query):
        return read(lambda uow: users.all_users(uow, actor(), page(query)))   # api.common.page

(`owned.page_of` does the first for any account-owned table with `created_at` and `id`.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, literal, tuple_

from backend.domain.errors import InvalidInput
from backend.persistence.unit_of_work import UnitOfWork

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
_CHECK = 8  # bytes of SHA-256 in front of the payload: an edited cursor fails it
_MAX_KEY_TEXT = 1000


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked for: how many rows, and where the page before ended."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


FIRST = PageRequest()


class Order:
    """A listing's name (a cursor names it) and its one order: `keys`, unique together and fixed at
    insert, ascending unless `descending` (newest first)."""

    def __init__(self, listing: str, *keys, descending: bool = False):
        self.listing, self.keys, self.descending = listing, keys, descending


@dataclass(frozen=True)
class Page:
    """One page of rows (as the statement selected them) and the cursor of the next (None: the last)."""

    rows: list
    next_cursor: str | None

    def json(self, key: str, render) -> dict:
        """The answer every listing gives: its rows under its key, and `next_cursor`."""
        return {key: [render(r) for r in self.rows], "next_cursor": self.next_cursor}


def keyset(uow: UnitOfWork, stmt, order: Order, scope: tuple, page: PageRequest) -> Page:
    """The page of `stmt` (already filtered to the caller's scope) that `page` asks for. `scope`
    names what the statement is filtered by (the account id, a list id, a filter's value): a cursor
    is only good for the same listing and scope."""
    keys = order.keys
    if page.cursor is not None:
        last = tuple_(
            *(literal(v, k.type) for k, v in zip(keys, decode(page.cursor, order, scope), strict=True))
        )
        stmt = stmt.where(tuple_(*keys) < last if order.descending else tuple_(*keys) > last)
    stmt = stmt.add_columns(*(k.label(f"page_key_{i}") for i, k in enumerate(keys)))
    stmt = stmt.order_by(*(k.desc() if order.descending else k.asc() for k in keys)).limit(page.limit + 1)
    rows = uow.session.execute(stmt).all()
    if len(rows) <= page.limit:
        return Page(rows, None)
    rows = rows[: page.limit]
    return Page(rows, encode(order, scope, tuple(rows[-1])[-len(keys) :]))


def encode(order: Order, scope: tuple, key: tuple) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    payload = json.dumps([order.listing, _scope_digest(order, scope), values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_check(payload) + payload).rstrip(b"=").decode()


def decode(cursor: str, order: Order, scope: tuple) -> tuple:
    """The last key a cursor names, once it is known to be ours, this listing's and this scope's."""
    listing, digest, values = _payload(cursor)
    if listing != order.listing:
        raise _refused(
            f"this cursor pages another listing ({listing}); pass back the next_cursor this listing answered",
            "cursor of another listing",
        )
    if digest != _scope_digest(order, scope):
        raise _refused(
            "this cursor pages this listing for another account, list or filter; pass back the "
            "next_cursor answered for this one",
            "cursor of another account, list or filter",
        )
    if not isinstance(values, list) or len(values) != len(order.keys):
        raise _forged()
    return tuple(_key_value(k, v) for k, v in zip(order.keys, values, strict=True))


def _payload(cursor: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        check, payload = raw[:_CHECK], raw[_CHECK:]
        if check != _check(payload):
            raise ValueError("check")
        listing, digest, values = json.loads(payload)
    except (binascii.Error, ValueError, TypeError) as exc:  # bad base64, check, JSON or shape
        raise _forged() from exc
    if not isinstance(listing, str) or not isinstance(digest, str):
        raise _forged()
    return listing, digest, values


def _key_value(column, value):
    """A key value back in its column's type; anything else is not a cursor we answered."""
    kind = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator (AutoString): its base
    if isinstance(kind, DateTime) and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise _forged() from exc
    if isinstance(kind, Integer) and type(value) is int and -(2**63) <= value < 2**63:
        return value
    if isinstance(kind, String) and isinstance(value, str) and len(value) <= _MAX_KEY_TEXT:
        return value
    raise _forged()


def _check(payload: bytes) -> bytes:
    return hashlib.sha256(b"leadledger cursor\0" + payload).digest()[:_CHECK]


def _scope_digest(order: Order, scope: tuple) -> str:
    named = json.dumps([order.listing, *scope], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(named).digest()[:9]).decode()


def _forged() -> InvalidInput:
    return _refused("not a cursor this API answered; pass back a next_cursor unchanged", "invalid cursor")


def _refused(detail: str, message: str) -> InvalidInput:
    return InvalidInput(detail, fields={"cursor": [message]})
