"""The caller's account: balance levels that alert (R25)."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, admin, read, run
from backend.domain.credits import CreditType
from backend.services import accounts
from schemas import account as s

blp = Blueprint("account", __name__, url_prefix="/v1/account", description="The caller's account")


@blp.route("/alerts", methods=["GET"])
@blp.response(200, s.AlertLevels)
def alert_levels():
    """R25: the balance levels that alert the account (a notification and a signed webhook event)"""
    return read(lambda uow: accounts.alert_levels(uow, actor()))


@blp.route("/alerts", methods=["PUT"])
@blp.arguments(s.AlertLevelsRequest())
@blp.response(200, s.AlertLevels)
def set_alert_levels(body):
    """R25 (admin): replace the levels of the credit types given; a balance falling to a level alerts
    once, and rising above it again arms it"""
    wanted = {CreditType(t): levels for t, levels in body.items()}
    return run(lambda uow: accounts.set_alert_levels(uow, admin(), wanted))
