"""A team's users as its admins manage them (api.md "API keys and users"), and their limits (R24)."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, admin, read, run
from backend.domain.credits import CreditType
from backend.persistence.tables import utcnow
from backend.services import users
from schemas import admin as admin_schemas
from schemas import users as s

blp = Blueprint("users", __name__, url_prefix="/v1/users", description="A team's users and their limits")


@blp.route("", methods=["POST"])
@blp.arguments(admin_schemas.CreateUserRequest())
@blp.response(201, admin_schemas.UserSchema)
def add(body):
    """Add a teammate (admin); `api_token`, their first key, is shown this once"""
    caller = admin()
    return run(lambda uow: users.add(uow, caller, body["email"], body["role"]))


@blp.route("", methods=["GET"])
@blp.arguments(s.PageQuery(), location="query")
@blp.response(200, s.UsersPage)
def listing(query):
    """The account's users (admin), removed ones included"""
    caller = admin()
    return read(lambda uow: users.listing(uow, caller, query["limit"], query.get("cursor")))


@blp.route("/<user_id>", methods=["PATCH"])
@blp.arguments(s.RoleRequest())
@blp.response(200, s.AccountUserSchema)
@blp.alt_response(409, description="The user is the last active admin, or was removed")
def change_role(body, user_id):
    """Make a user an admin or a member (admin); the last active admin stays one"""
    caller = admin()
    return run(lambda uow: users.change_role(uow, caller, user_id, body["role"]))


@blp.route("/<user_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(409, description="The user is the last active admin")
def remove(user_id):
    """Remove a user (admin): their keys stop at once

    Their unlocks, ledger entries, list leads and queued jobs stay the account's (R2). Removing a
    removed user answers 204 again and changes nothing; the last active admin cannot be removed."""
    caller = admin()
    run(lambda uow: users.deactivate(uow, caller, user_id))


@blp.route("/<user_id>/limits", methods=["GET"])
@blp.response(200, s.UserLimits)
def limits(user_id):
    """R24: the user's monthly limits and what they used this month (the user themself, or an admin)"""
    return read(lambda uow: users.limits(uow, actor(), user_id, utcnow()))


@blp.route("/<user_id>/limits", methods=["PUT"])
@blp.arguments(s.LimitsRequest())
@blp.response(200, s.UserLimits)
def set_limits(body, user_id):
    """R24 (admin): set a user's monthly limit per credit type, a multiple of 0.5; null removes it"""
    caps = {CreditType(t): amount for t, amount in body.items()}
    return run(lambda uow: users.set_limits(uow, admin(), user_id, caps, utcnow()))
