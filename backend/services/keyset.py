"""Pages of a listing in one fixed order, ascending (created_at, id), by keyset: a page continues
after the last row of the one before, so rows added meanwhile shift nothing (api.md "Pagination").

The cursor is opaque: base64 of the last row's key and a tag of the listing it belongs to (the
listing, the account, its filter), so a cursor from another listing or account, or one that is not
ours, is a 422. Kept small for the users and API-key listings; the shared pagination helper can take
its place."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from sqlalchemy import Table, and_, or_

from backend.domain.errors import InvalidInput
from backend.persistence.unit_of_work import UnitOfWork

NOT_OURS = "not a cursor this listing answered: pass back the next_cursor of its previous page"


def page(uow: UnitOfWork, stmt, table: Table, listing: str, limit: int, cursor: str | None) -> tuple:
    """(up to `limit` rows of `stmt` after `cursor`, the cursor of the next page or None)."""
    created_at, id_ = table.c.created_at, table.c.id
    if cursor:
        after, after_id = _decode(cursor, listing)
        stmt = stmt.where(or_(created_at > after, and_(created_at == after, id_ > after_id)))
    rows = uow.execute(stmt.order_by(created_at, id_).limit(limit + 1)).all()
    rows, more = rows[:limit], len(rows) > limit
    return rows, _encode(rows[-1].created_at, rows[-1].id, listing) if more else None


def _tag(listing: str) -> str:
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def _encode(created_at: datetime, id_: str, listing: str) -> str:
    raw = json.dumps([_tag(listing), created_at.isoformat(), id_], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, listing: str) -> tuple[datetime, str]:
    try:
        tag, created_at, id_ = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = datetime.fromisoformat(created_at)
        if tag != _tag(listing) or not isinstance(id_, str) or after.tzinfo is None:
            raise ValueError(tag)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInput(NOT_OURS, fields={"cursor": ["invalid cursor"]}) from exc
    return after, id_
