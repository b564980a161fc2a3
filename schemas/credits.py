"""Credit balances, the ledger and estimates."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.domain.rules import ESTIMABLE_ACTIONS
from schemas.admin import LedgerEntrySchema
from schemas.common import CreditType, PageQuery, PersonRef, page_schema


class TrackingSummary(Schema):
    total = fields.Raw()
    in_use = fields.Raw()
    free = fields.Raw()


class CreditsSummary(Schema):
    balance = fields.Dict(keys=fields.String(), values=fields.Raw())
    tracking = fields.Nested(TrackingSummary)


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
    max = fields.Dict(keys=fields.String(), values=fields.Raw())
    already_unlocked = fields.Integer()
