"""Balances, the ledger and estimates."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, page, read
from backend.api.limits import bulk
from backend.services import credits
from schemas import credits as s

blp = Blueprint("credits", __name__, url_prefix="/v1", description="Credits: balances, ledger, estimates")


@blp.route("/credits", methods=["GET"])
@blp.response(200, s.CreditsSummary)
def summary():
    """Balances per credit type, and tracking credits in use and free"""
    return read(lambda uow: credits.summary(uow, actor()))


@blp.route("/credits/ledger", methods=["GET"])
@blp.arguments(s.LedgerQuery(), location="query")
@blp.response(200, s.LedgerPage)
def ledger(query):
    """The account's ledger, newest first"""
    return read(lambda uow: credits.ledger(uow, actor(), query.get("credit_type"), page(query)))


@blp.route("/estimates", methods=["POST"])
@bulk
@blp.arguments(s.EstimateRequest())
@blp.response(200, s.EstimateResponse)
def estimate(body):
    """The most an action can cost, leaving out what the account holds; charges nothing (R23)"""
    options = {
        "fields": body.get("fields_"),
        "destination": body.get("destination"),
        "include_phone": body.get("include_phone"),
        "list_id": body.get("list_id"),
    }
    options = {k: v for k, v in options.items() if v is not None}
    return read(lambda uow: credits.estimate(uow, actor(), body["action"], body["people"], options))
