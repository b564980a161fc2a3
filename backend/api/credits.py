"""Balances, the ledger and estimates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Response, request
from flask_smorest import Blueprint

from backend.api.common import actor, page, read
from backend.api.limits import bulk
from backend.domain.csv_cells import neutralise
from backend.services import credits, usage
from schemas import credits as s

JSON_OR_CSV = ["application/json", "text/csv"]
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
    """The account's ledger, newest first (by id), paginated by cursor; filters by credit type, user,
    action and dates (`from` included, `to` excluded, local days in `tz`)"""
    asked = page(query)
    filters = {k: v for k, v in query.items() if k not in ("limit", "cursor", "credit_type")}
    return read(lambda uow: credits.ledger(uow, actor(), query.get("credit_type"), asked, **filters))


@blp.route("/credits/usage", methods=["GET"])
@blp.arguments(s.UsageQuerySchema(), location="query")
@blp.response(200, s.UsagePage)
@blp.doc(
    responses={
        "200": {
            "description": "the usage rows (JSON), or every row of the range as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
def usage_report(args):
    """What the account used, released and was granted, per period, user, action and credit type.
    Rows are ordered by period, then user, then action, then credit type, and paged by cursor;
    `Accept: text/csv` (or `format=csv`) answers every row of the range as one CSV download instead."""
    query, now = args["query"], datetime.now(UTC)
    if args.get("format") == "csv" or request.accept_mimetypes.best_match(JSON_OR_CSV) == "text/csv":
        return _csv(read(lambda uow: usage.all_rows(uow, actor(), query, now)))
    return read(lambda uow: usage.report(uow, actor(), query, now, args["limit"], args.get("cursor")))


def _csv(report: dict) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(report["columns"])
    for row in report["rows"]:
        writer.writerow([neutralise(_cell(row.get(c))) for c in report["columns"]])
    name = f"usage-{report['from']}-{report['to']}.csv"
    return Response(
        buf.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _cell(value):
    return value.isoformat() if isinstance(value, datetime) else value


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
