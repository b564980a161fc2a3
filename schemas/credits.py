"""Credit balances, the ledger and estimates."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.domain.rules import ESTIMABLE_ACTIONS
from schemas.admin import LedgerEntrySchema
from schemas.common import CreditNumber, CreditNumbers, CreditType, PageQuery, PersonRef, page_schema


class TrackingSummary(Schema):
    total = CreditNumber(required=True)
    in_use = CreditNumber(required=True)
    free = CreditNumber(required=True)


class CreditsSummary(Schema):
    balance = fields.Nested(CreditNumbers, required=True)
    tracking = fields.Nested(TrackingSummary, required=True)


class LedgerQuery(PageQuery):
    credit_type = CreditType()


LedgerPage = page_schema("LedgerPage", "entries", LedgerEntrySchema, "newest first (by id)")


class EstimateRequest(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ESTIMABLE_ACTIONS))
    people = fields.List(fields.Nested(PersonRef), load_default=list, validate=validate.Length(max=100_000))
    fields_ = fields.List(
        fields.String(validate=validate.OneOf(["email", "phone"])),
        data_key="fields",
        metadata={"description": "reveal: which fields"},
    )
    destination = fields.String(
        validate=validate.OneOf(["list", "csv"]), metadata={"description": "post_export"}
    )
    include_phone = fields.Boolean(metadata={"description": "list_export"})
    list_id = fields.String(metadata={"description": "list_export: estimate the whole list"})


class EstimateResponse(Schema):
    max = fields.Nested(CreditNumbers, required=True)
    already_unlocked = fields.Integer(required=True)
