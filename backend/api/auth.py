"""Bearer-token auth for `/v1`. Preflights (OPTIONS) pass untouched: browsers send them without
the token, and CORS answers them."""

from __future__ import annotations

import hmac

from flask import current_app, g, request
from werkzeug.exceptions import Unauthorized

from backend.services import accounts

OAUTH_CALLBACK = "/v1/crm/oauth/callback"


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
    actor = current_app.extensions["store"].run(lambda uow: accounts.actor_for_token(uow, token), write=False)
    if actor is None:
        raise Unauthorized("the API token is not valid")
    g.actor = actor
