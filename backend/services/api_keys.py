"""API keys (api.md "API keys and users"): a user holds any number of named keys, each `full` or
`read` (GET only), that can expire, be rotated with a grace period, and be revoked.

The server keeps a key's SHA-256 hash and its first characters, never the token. Auth reads the key
row on every request (no cache) and judges `revoked_at` and `expires_at` by the database's clock, so a
revoked key stops at once on every server and a rotated one at the end of its grace everywhere."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, or_, select, type_coerce, update
from sqlalchemy.types import Boolean

from backend.domain.errors import Conflict, Forbidden, NotFound
from backend.persistence.statements import db_now
from backend.persistence.tables import ApiKey, User
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import owned
from backend.services.charge_guard import Actor
from backend.services.pages import Order, PageRequest, keyset

KEYS = ApiKey.__table__
USERS = User.__table__
KEY_ORDER = Order("api_keys", KEYS.c.created_at, KEYS.c.id)  # oldest first
PREFIX_LENGTH = 10  # "ll_" and 7 of the token's 43 random characters: enough to tell keys apart
TOUCH_EVERY = 60  # seconds: api.md lets `last_used_at` lag a minute, so a key is written once a minute
FIRST_KEY = "first key"
VALID = and_(KEYS.c.revoked_at.is_(None), or_(KEYS.c.expires_at.is_(None), KEYS.c.expires_at > db_now()))
STALE = or_(KEYS.c.last_used_at.is_(None), KEYS.c.last_used_at < db_now(-TOUCH_EVERY))


class Caller(NamedTuple):
    """Who a valid key belongs to, what it may do, and whether its `last_used_at` is due a write."""

    actor: Actor
    key_id: str
    scope: str
    stale: bool


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so one SHA-256 is enough: the database never holds a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    uow: UnitOfWork,
    account_id: str,
    user_id: str,
    name: str = FIRST_KEY,
    scope: str = "full",
    expires_at: datetime | None = None,
) -> dict:
    """A new key for the user; the answer holds the token, which is shown this once."""
    token = "ll_" + secrets.token_urlsafe(32)
    key = ApiKey(
        id=str(uuid.uuid4()),
        user_id=user_id,
        account_id=account_id,
        name=name,
        prefix=token[:PREFIX_LENGTH],
        scope=scope,
        hash=hash_token(token),
        expires_at=expires_at,
    )
    uow.session.add(key)
    uow.session.flush()
    return {**as_json(key), "api_token": token}


def create(uow: UnitOfWork, actor: Actor, name: str, scope: str, expires_at: datetime | None) -> dict:
    """A key of the caller's own (api.md: `POST /v1/api-keys`, self)."""
    return issue(uow, actor.account_id, actor.user_id, name, scope, expires_at)


def listing(uow: UnitOfWork, actor: Actor, user_id: str | None, limit: int, cursor: str | None) -> dict:
    """The caller's keys, or (admins) another user's, oldest first, revoked and expired ones included."""
    user_id = user_id or actor.user_id
    if user_id != actor.user_id:
        _admin(actor, "list another user's keys")
        owned.get(uow, actor, User, user_id, "user")
    stmt = select(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.account_id == actor.account_id)
    found = keyset(uow, stmt, KEY_ORDER, (actor.account_id, user_id), PageRequest(limit, cursor))
    return found.json("api_keys", as_json)


def rotate(uow: UnitOfWork, actor: Actor, key_id: str, grace_seconds: int) -> dict:
    """A new key with the old one's user, name and scope; the old one keeps working `grace_seconds`
    more (never longer than it would have: an earlier expiry stays). A revoked or expired key cannot
    be rotated (409): its holder must make a new one."""
    old = _of_owner_or_admin(uow, actor, key_id, "rotate")
    ends = db_now(bindparam("grace"))
    cut = uow.execute(
        update(KEYS)
        .where(KEYS.c.id == key_id, VALID)
        .values(expires_at=case((KEYS.c.expires_at < ends, KEYS.c.expires_at), else_=ends))
        .returning(KEYS.c.id),
        {"grace": grace_seconds},
    ).first()
    if cut is None:
        raise Conflict("this key is revoked or expired, so it cannot be rotated; create a new key instead")
    return issue(uow, old.account_id, old.user_id, old.name, old.scope)


def revoke(uow: UnitOfWork, actor: Actor, key_id: str) -> None:
    """The key stops at once (the next request that reads it, on any server). Revoking it again
    changes nothing: it keeps the time of its first revocation."""
    _of_owner_or_admin(uow, actor, key_id, "revoke")
    _revoke(uow, KEYS.c.id == key_id)


def revoke_all_of(uow: UnitOfWork, user_id: str) -> None:
    """A removed user's keys stop at once."""
    _revoke(uow, KEYS.c.user_id == user_id)


def _revoke(uow: UnitOfWork, which) -> None:
    uow.execute(update(KEYS).where(which, KEYS.c.revoked_at.is_(None)).values(revoked_at=db_now()))


_BY_TOKEN = (  # every request: one indexed lookup (the unique hash), joined to the user for role and state
    select(
        KEYS.c.id,
        KEYS.c.account_id,
        KEYS.c.user_id,
        KEYS.c.scope,
        USERS.c.role,
        type_coerce(STALE, Boolean).label("stale"),
    )
    .join(USERS, USERS.c.id == KEYS.c.user_id)
    .where(KEYS.c.hash == bindparam("h"), VALID, USERS.c.deactivated_at.is_(None))
)


def authenticate(uow: UnitOfWork, token: str) -> Caller | None:
    """The caller a token names, if it is a valid key of an active user; else None."""
    rows = uow.fetch(_BY_TOKEN, {"h": hash_token(token)})
    if not rows:
        return None
    r = rows[0]
    return Caller(Actor(r.account_id, r.user_id, r.role), r.id, r.scope, bool(r.stale))


_TOUCH = update(KEYS).where(KEYS.c.id == bindparam("key_id"), STALE).values(last_used_at=db_now())


def touch(uow: UnitOfWork, key_id: str) -> None:
    """Record a key's use, at most once a minute: conditional, so concurrent requests write it once."""
    uow.fetch(_TOUCH, {"key_id": key_id})


def as_json(key) -> dict:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scope": key.scope,
        "user_id": key.user_id,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


def _of_owner_or_admin(uow: UnitOfWork, actor: Actor, key_id: str, doing: str):
    """A key of the caller's account (else 404); a member may act only on their own (else 403)."""
    key = uow.session.get(ApiKey, key_id)
    if key is None or key.account_id != actor.account_id:
        raise NotFound(f"no API key {key_id!r}")
    if key.user_id != actor.user_id:
        _admin(actor, f"{doing} another user's key")
    return key


def _admin(actor: Actor, doing: str) -> None:
    if actor.role != "admin":
        raise Forbidden(f"only an account admin may {doing}")
