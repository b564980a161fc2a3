"""Credit balances, the ledger and estimates."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, post_load, validate

from backend.domain.rules import ESTIMABLE_ACTIONS
from backend.domain.usage import GROUPS, LEDGER_ACTIONS, PERIODS, UsageQuery
from schemas.admin import LedgerEntrySchema
from schemas.common import CreditNumber, CreditNumbers, CreditType, Cursor, PersonRef, page_schema

LIMIT_MESSAGE = "a whole number from 1 to 500 (default 50)"


def page_limit():
    """`limit` of every listing (api.md "Pagination"): 1 to 500, default 50; 0, more or a word is 422."""
    return fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=500, error=LIMIT_MESSAGE),
        error_messages={"invalid": LIMIT_MESSAGE},
        metadata={"description": LIMIT_MESSAGE},
    )


class TimeZone(fields.String):
    """An IANA time zone name (Europe/Paris, America/New_York, UTC), read as a ZoneInfo."""

    def __init__(self, **kw):
        super().__init__(
            metadata={"description": "an IANA time zone name, e.g. Europe/Paris (default UTC)"}, **kw
        )

    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(name) > 64:  # the longest IANA name has 30 characters; a longer one is no file name
                raise ValueError(name)
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValidationError(
                f"unknown time zone {name[:64]!r}: give an IANA name such as Europe/Paris"
            ) from exc

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.key


class GroupBy(fields.String):
    """`group_by`: one or two of day, week, month, user, action, comma separated (at most one period)."""

    def __init__(self, **kw):
        doc = f"one or two of {', '.join(GROUPS)}, comma separated, at most one period (default day)"
        super().__init__(metadata={"description": doc}, **kw)

    def _deserialize(self, value, attr, data, **kwargs):
        names = tuple(n.strip() for n in super()._deserialize(value, attr, data, **kwargs).split(","))
        unknown = [n for n in names if n not in GROUPS]
        if unknown:
            raise ValidationError(
                f"unknown grouping {unknown[0][:32]!r}: use one or two of {', '.join(GROUPS)}"
            )
        if len(names) > 2 or len(set(names)) < len(names):
            raise ValidationError(f"group by one or two different keys of {', '.join(GROUPS)}, e.g. day,user")
        if sum(n in PERIODS for n in names) > 1:
            raise ValidationError("group by at most one period (day, week or month), e.g. week,action")
        return names


class LedgerAction(fields.String):
    """The ledger's own vocabulary (api.md "Usage rows")."""

    def __init__(self, **kw):
        super().__init__(validate=validate.OneOf(LEDGER_ACTIONS), **kw)


class Dates(Schema):
    """`from` (included) and `to` (excluded): local dates in `tz`."""

    first = fields.Date(data_key="from", metadata={"description": "first day, in `tz` (included)"})
    end = fields.Date(data_key="to", metadata={"description": "day after the last, in `tz` (excluded)"})
    tz = TimeZone(load_default=lambda: ZoneInfo("UTC"))
    user_id = fields.String(validate=validate.Length(min=1, max=36))
    action = LedgerAction()
    credit_type = CreditType()
    limit = page_limit()


class TrackingSummary(Schema):
    total = CreditNumber(required=True)
    in_use = CreditNumber(required=True)
    free = CreditNumber(required=True)


class CreditsSummary(Schema):
    balance = fields.Nested(CreditNumbers, required=True)
    tracking = fields.Nested(TrackingSummary, required=True)


class LedgerQuery(Dates):
    cursor = Cursor()


class UsageQuerySchema(Dates):
    group_by = GroupBy(load_default=("day",))
    cursor = fields.String(
        validate=validate.Length(max=1000), metadata={"description": "`next_cursor` of the previous page"}
    )
    format = fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: every row of the range as one download (as `Accept: text/csv`)"},
    )

    @post_load
    def _query(self, data, **kwargs):
        names = ("group_by", "first", "end", "credit_type", "user_id", "action")
        query = UsageQuery(zone=data.pop("tz"), **{n: data.pop(n) for n in names if n in data})
        return {**data, "query": query}


def credits_figure(description: str = ""):
    return fields.Raw(metadata={"type": "number", "description": description})


class UsageRow(Schema):
    period_start = fields.DateTime(
        metadata={"description": "midnight in `tz` starting the period (grouped by a period)"}
    )
    user_id = fields.String(
        allow_none=True, metadata={"description": "grouped by user; null for an operator's grants"}
    )
    action = fields.String(
        validate=validate.OneOf(LEDGER_ACTIONS), metadata={"description": "grouped by action"}
    )
    credit_type = fields.String(validate=validate.OneOf(["email", "phone", "tracking"]))
    used = credits_figure("charges and tracking holds; a bulk job counts only what it charged")
    released = credits_figure("tracking credits freed")
    granted = credits_figure("grants")


class Figures(Schema):
    used = credits_figure()
    released = credits_figure()
    granted = credits_figure()


class PerType(Schema):
    email = credits_figure()
    phone = credits_figure()
    tracking = credits_figure()


class UsageTotals(Schema):
    email = fields.Nested(Figures)
    phone = fields.Nested(Figures)
    tracking = fields.Nested(Figures)


class UsagePage(Schema):
    rows = fields.List(
        fields.Nested(UsageRow),
        metadata={"description": "ordered by period, then user, then action, then credit type"},
    )
    totals = fields.Nested(UsageTotals, metadata={"description": "the whole range, with the same filters"})
    average_per_month = fields.Nested(
        PerType, metadata={"description": "mean monthly `used` over the last three whole months in `tz`"}
    )
    next_cursor = fields.String(allow_none=True)
    from_ = fields.Date(data_key="from", attribute="from", metadata={"description": "the range's first day"})
    to = fields.Date(metadata={"description": "the day after the range's last (excluded)"})


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
