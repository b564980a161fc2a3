"""Operator routes: need the admin token (CREDITS_ADMIN_TOKEN)."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import read, run
from backend.api.limits import bulk
from backend.domain.credits import CreditType
from backend.services import accounts, directory, erasure
from schemas import admin as s

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/v1/admin",
    description="Operator: accounts, users, grants, directory, erasures",
)


@blp.route("/accounts", methods=["POST"])
@blp.arguments(s.CreateAccountRequest())
@blp.response(201, s.AccountResponse)
def create_account(body):
    """Create an account (team) with its first admin user and initial grants"""
    grants = {CreditType(k): v for k, v in body["grants"].items()}
    return run(lambda uow: accounts.create_account(uow, body["name"], body["admin_email"], grants))


@blp.route("/accounts/<account_id>/users", methods=["POST"])
@blp.arguments(s.CreateUserRequest())
@blp.response(201, s.UserSchema)
def create_user(body, account_id):
    """Add a user; the API token is answered once"""
    return run(lambda uow: accounts.add_user(uow, account_id, body["email"], body["role"]))


@blp.route("/accounts/<account_id>/grants", methods=["POST"])
@blp.arguments(s.GrantRequest())
@blp.response(201, s.LedgerEntrySchema)
def create_grant(body, account_id):
    """Grant credits: a positive ledger entry"""
    return run(
        lambda uow: accounts.grant(
            uow, account_id, CreditType(body["credit_type"]), body["amount"], body.get("note")
        )
    )


@blp.route("/directory", methods=["POST"])
@bulk
@blp.arguments(s.DirectoryImportRequest())
@blp.response(200, s.DirectoryImportResponse)
def import_directory(body):
    """Import people into the embedded contact-data source (upsert by canonical LinkedIn URL)"""
    return run(lambda uow: directory.import_people(uow, body["people"]))


@blp.route("/erasures", methods=["POST"])
@blp.arguments(s.ErasureRequest())
@blp.response(200, s.ErasureResponse)
def erase(body):
    """Erase a person who asked to be forgotten (R27), before answering; the same call again answers
    zero counts and `already_erased`"""
    return run(lambda uow: erasure.erase(uow, body.get("linkedin_url"), body.get("email")))


@blp.route("/erasures", methods=["GET"])
@blp.arguments(s.ErasuresQuery(), location="query")
@blp.response(200, s.ErasuresResponse)
def erasures(query):
    """The erasures made, newest first: ids and times, never the values"""
    return read(lambda uow: erasure.listing(uow, query.get("cursor"), query["limit"]))
