"""Bearer-token auth for `/v1`. Preflights (OPTIONS) pass untouched: browsers send them without
the token, and CORS answers them.

A user's token is one of their API keys, read from the database on every request (no cache: a
revoked key stops at once on every server); a `read` key may only GET (api.md "API keys and users")."""

from __future__ import annotations

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


def authenticate() -> None:
    """before_request: sets g.actor for user routes; admin routes need the configured admin token."""
    if request.method == "OPTIONS" or not request.path.startswith("/v1/"):
        return
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
        g.actor = None
        return
    store = current_app.extensions["store"]
    caller = store.run(lambda uow: api_keys.authenticate(uow, token), write=False)
    if caller is None:
        raise Unauthorized(
            "the API token is not valid (unknown, revoked or expired, or its user was removed)"
        )
    if caller.stale:  # at most once a minute per key: a GET writes nothing otherwise
        store.run(lambda uow: api_keys.touch(uow, caller.key_id))
    g.actor, g.api_key_id = caller.actor, caller.key_id
    if caller.scope == "read" and request.method not in READ_METHODS:
        raise Forbidden("this is a read-only API key: it may only GET; use a full key to change anything")
