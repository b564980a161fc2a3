"""A team's users as its admins manage them."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, admin, read, run
from backend.domain.credits import CreditType
from backend.persistence.tables import utcnow
from backend.services import users
from schemas import users as s

blp = Blueprint("users", __name__, url_prefix="/v1/users", description="A team's users and their limits")


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
