"""Bearer-token auth for `/v1`. Preflights (OPTIONS) pass untouched: browsers send them without
the token, and CORS answers them.

A user's token is one of their API keys, read from the database on every request (no cache: a
revoked key stops at once on every server); a `read` key may only GET (api.md "API keys and users").

Two before_request steps with the rate limiter between them (backend/app.py): `authenticate` says
who calls (g.actor, and g.credential for a valid token) and keeps a refusal in g.refusal; the
limiter then counts the request against that credential, or the client address for a bad token
(api.md "Rate limits"); `refuse` raises the kept refusal."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, g, request
from werkzeug.exceptions import Unauthorized

from backend.domain.errors import Forbidden
from backend.services import api_keys

OAUTH_CALLBACK = "/v1/crm/oauth/callback"
READ_METHODS = frozenset({"GET", "HEAD"})


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def credential_digest(token: str) -> str:
    """What the rate limiter keys a valid token's requests by: never the token itself (its counts may
    live in Redis), and not the digest the database keeps either."""
    return hashlib.sha256(b"leadledger-rate-limit\n" + token.encode()).hexdigest()[:32]


def authenticate() -> None:
    """before_request: who calls; a refusal waits in g.refusal for `refuse` (after the rate limiter)."""
    if request.method == "OPTIONS" or not request.path.startswith("/v1/"):
        return
    try:
        _identify()
    except (Unauthorized, Forbidden) as refusal:  # a read key's write too: counted, then refused
        g.refusal = refusal


def refuse() -> None:
    """before_request, right after the rate limiter: a request without a valid token is a 401."""
    refusal = g.pop("refusal", None)
    if refusal is not None:
        raise refusal


def _identify() -> None:
    """Sets g.actor for user routes (None on admin routes and the OAuth callback) and g.credential
    for a valid token; admin routes need the configured admin token."""
    if request.method == "GET" and request.path == OAUTH_CALLBACK:  # its state is the proof (api.md)
        g.actor = None
        return
    token = _bearer()
    if token is None:
        raise Unauthorized("an Authorization: Bearer <api_token> header is required")
    if request.path.startswith("/v1/admin/"):
        admin = current_app.config["SETTINGS"].admin_token
        if not admin:
            raise Unauthorized("admin routes are off: the server runs without CREDITS_ADMIN_TOKEN")
        if not hmac.compare_digest(token.encode(), admin.encode()):
            raise Unauthorized("admin routes need the operator's admin token (CREDITS_ADMIN_TOKEN)")
        g.actor, g.credential = None, credential_digest(token)
        return
    store = current_app.extensions["store"]
    caller = store.read(lambda uow: api_keys.authenticate(uow, token))
    if caller is None:
        raise Unauthorized(
            "the API token is not valid (unknown, revoked or expired, or its user was removed)"
        )
    if caller.stale:  # at most once a minute per key: a GET writes nothing otherwise
        store.run(lambda uow: api_keys.touch(uow, caller.key_id))
    g.actor, g.api_key_id, g.credential = caller.actor, caller.key_id, credential_digest(token)
    if caller.scope == "read" and request.method not in READ_METHODS:
        raise Forbidden("this is a read-only API key: it may only GET; use a full key to change anything")
