"""API keys: a user's own, and (admins) their teammates' (api.md "API keys and users")."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, read, run
from backend.services import api_keys
from schemas import api_keys as s

blp = Blueprint(
    "api_keys", __name__, url_prefix="/v1/api-keys", description="API keys: create, list, rotate, revoke"
)


@blp.route("", methods=["GET"])
@blp.arguments(s.ListKeysQuery(), location="query")
@blp.response(200, s.ApiKeysPage)
def listing(query):
    """The caller's keys, or (admin) another user's with `user_id`; never a token"""
    return read(
        lambda uow: api_keys.listing(uow, actor(), query.get("user_id"), query["limit"], query.get("cursor"))
    )


@blp.route("", methods=["POST"])
@blp.arguments(s.CreateKeyRequest())
@blp.response(201, s.CreatedKeySchema)
def create(body):
    """A new key of the caller's own; `api_token` is shown this once"""
    return run(lambda uow: api_keys.create(uow, actor(), body["name"], body["scope"], body.get("expires_at")))


@blp.route("/<key_id>/rotate", methods=["POST"])
@blp.arguments(s.RotateRequest())
@blp.response(201, s.CreatedKeySchema)
@blp.alt_response(409, description="The key is revoked or expired: create a new one instead")
def rotate(body, key_id):
    """Replace a key (its owner, or an admin); the old one works `grace_seconds` more

    The new key's token is shown this once; it has the old key's name and scope, and no expiry."""
    return run(lambda uow: api_keys.rotate(uow, actor(), key_id, body["grace_seconds"]))


@blp.route("/<key_id>", methods=["DELETE"])
@blp.response(204)
def revoke(key_id):
    """Revoke a key (its owner, or an admin): it stops at once on every server

    Revoking a revoked key answers 204 again and changes nothing."""
    run(lambda uow: api_keys.revoke(uow, actor(), key_id))
