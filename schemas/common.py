"""Shared fields and schemas: people, credit amounts, the `credits` object, problem documents."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.domain.credits import CREDIT_TYPES, MILLI, render, to_milli
from backend.domain.errors import InvalidProfileUrl
from backend.domain.identity import canonical_linkedin_url
from backend.domain.reasons import ReasonCode
from backend.services.pages import DEFAULT_LIMIT, MAX_LIMIT

CREDIT_TYPE_NAMES = [str(t) for t in CREDIT_TYPES]
# One amount's bound: far above any real grant, far below what a 64-bit balance of milli-credits holds.
MAX_CREDITS = 1_000_000_000


class LinkedInUrl(fields.String):
    """R1: any spelling of a LinkedIn /in/ profile URL, folded to the canonical one; anything else is 422."""

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            return canonical_linkedin_url(raw)
        except InvalidProfileUrl as exc:
            raise ValidationError(exc.detail) from exc


class CreditAmount(fields.Field):
    """A credit amount: a JSON number, a multiple of 0.5, from 0 to MAX_CREDITS; held as integer
    milli-credits."""

    def __init__(self, **kw):
        doc = {"type": "number", "multipleOf": 0.5, "minimum": 0, "maximum": MAX_CREDITS}
        super().__init__(metadata={**doc, **kw.pop("metadata", {})}, **kw)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            milli = to_milli(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        if milli < 0:
            raise ValidationError("a credit amount must be >= 0")
        if milli > MAX_CREDITS * MILLI:
            raise ValidationError(f"a credit amount must be at most {MAX_CREDITS:,}")
        return milli

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else render(value)


class Cursor(fields.String):
    """A page cursor: the `next_cursor` of the page before, passed back unchanged. Opaque; the listing
    checks it is its own and the caller's (backend/services/pages.py)."""

    def __init__(self, **kw):
        metadata = {"description": "`next_cursor` of the previous page, unchanged"}
        super().__init__(validate=validate.Length(min=1, max=2000), metadata=metadata, **kw)


class PageQuery(Schema):
    """`limit` and `cursor`, which every listing takes (api.md "More conventions", Pagination)."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Rows per page, 1 to {MAX_LIMIT}"},
    )
    cursor = Cursor()


def page_schema(name: str, key: str, item, order: str) -> type[Schema]:
    """The answer of a listing: its rows under `key` and `next_cursor`; `order` is the listing's one
    order, said in the document."""
    description = (
        f"One page of {key}, {order}. Pass `next_cursor` back as `cursor` for the next page; it is null "
        "on the last. Following the cursors answers every row that existed when paging began exactly once."
    )
    return type(
        name,
        (Schema,),
        {
            key: fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(
                required=True, allow_none=True, metadata={"description": "null on the last page"}
            ),
            "Meta": type("Meta", (), {"description": description}),
        },
    )


class CreditType(fields.String):
    def __init__(self, **kw):
        super().__init__(validate=validate.OneOf(CREDIT_TYPE_NAMES), **kw)


class PersonRefMixin:
    """A person given as `{"linkedin_url"}` or `{"person_id"}`."""

    linkedin_url = LinkedInUrl(metadata={"description": "Any spelling of a LinkedIn /in/ profile URL (R1)"})
    person_id = fields.String(validate=validate.Length(min=1, max=36))

    @validates_schema
    def _one_identity(self, data, **kwargs):
        if not data.get("linkedin_url") and not data.get("person_id"):
            raise ValidationError("give linkedin_url or person_id", "linkedin_url")


class PersonRef(PersonRefMixin, Schema):
    pass


class CreditNumber(fields.Raw):
    """A credit amount the service already rendered as a JSON number (a multiple of 0.5), typed so."""

    def __init__(self, **kw):
        super().__init__(metadata={"type": "number", **kw.pop("metadata", {})}, **kw)


class CreditNumbers(Schema):
    """An amount per credit type, as JSON numbers (`credits.charged`, `credits.balance`, estimates)."""

    email = CreditNumber(required=True)
    phone = CreditNumber(required=True)
    tracking = CreditNumber(required=True)


class ReasonSchema(Schema):
    """Why one credit type cost what it cost (api.md "Typed document")."""

    code = fields.String(required=True, validate=validate.OneOf([str(c) for c in ReasonCode]))
    unlocked_at = fields.String(
        metadata={"format": "date-time", "description": "already_unlocked: when the account unlocked it"}
    )
    unlocked_by = fields.String(metadata={"description": "already_unlocked by a teammate: the user who did"})


class ReasonsSchema(Schema):
    """Per credit type (or unlock kind: `validation`) the action touched."""

    email = fields.Nested(ReasonSchema)
    phone = fields.Nested(ReasonSchema)
    validation = fields.Nested(ReasonSchema)
    tracking = fields.Nested(ReasonSchema)


class LimitUse(Schema):
    limit = CreditNumber(required=True, metadata={"description": "the monthly limit, in credits"})
    used = CreditNumber(required=True, metadata={"description": "used this calendar month (UTC)"})


class UserLimitUse(Schema):
    email = fields.Nested(LimitUse)
    phone = fields.Nested(LimitUse)


class CreditsSchema(Schema):
    charged = fields.Nested(
        CreditNumbers, required=True, metadata={"description": "Credits charged by this action, per type"}
    )
    balance = fields.Nested(
        CreditNumbers,
        required=True,
        metadata={"description": "Balance after the action; tracking = credits free"},
    )
    reasons = fields.Nested(ReasonsSchema, metadata={"description": "Why each type cost what it cost"})
    user_limit = fields.Nested(
        UserLimitUse,
        metadata={
            "description": "R24, only for a user with a limit: per limited credit type, the monthly "
            "`limit` and what the user `used` of it this month, so the extension can warn before a refusal"
        },
    )


class ChargedSchema(Schema):
    """The `credits` of a job or a cancelled upload: what was charged, no balance."""

    charged = fields.Nested(CreditNumbers, required=True)


class BadRow(Schema):
    line = fields.Integer(required=True)
    reason = fields.String(required=True)


class PersonSchema(Schema):
    id = fields.String()
    linkedin_url = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True, metadata={"description": "Only when the account holds it"})
    phone = fields.String(allow_none=True, metadata={"description": "Only when the account holds it"})


class ProblemSchema(Schema):
    """RFC 9457 problem details, with a stable machine-readable `code`."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String()
    errors = fields.Dict(
        keys=fields.String(), metadata={"description": "validation_error: messages per field"}
    )
    request_id = fields.String(metadata={"description": "the X-Request-ID of the answer, as logged"})
    credit_type = fields.String(metadata={"description": "insufficient_credits, user_limit_reached"})
    required = CreditNumber(metadata={"description": "insufficient_credits, user_limit_reached"})
    available = CreditNumber(metadata={"description": "insufficient_credits"})
    used = CreditNumber(metadata={"description": "user_limit_reached: used this month"})
    limit = CreditNumber(
        allow_none=True,
        metadata={
            "description": "payload_too_large: the limit in bytes; "
            "user_limit_reached: the monthly limit in credits"
        },
    )
    max_rows = fields.Integer(
        metadata={"description": "payload_too_large (uploads): the most rows a file may have"}
    )
    reason = fields.String(
        metadata={"description": "validation_error (uploads): why the file was refused, e.g. `not_text`"}
    )
    bad_rows = fields.List(
        fields.Nested(BadRow),
        metadata={"description": "validation_error (tracking uploads): the refused rows, by line"},
    )
    job_id = fields.String(
        allow_none=True, metadata={"description": "conflict (uploads): the job the upload started, if any"}
    )
