"""Background jobs: post exports, list exports, and the job resource."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.common import ChargedSchema, CreditNumber, LinkedInUrl

MAX_ENGAGERS = 10_000


class Engager(Schema):
    linkedin_url = LinkedInUrl(required=True)
    full_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    engagement = fields.String(required=True, validate=validate.OneOf(["like", "comment"]))


class PostExportRequest(Schema):
    post_url = fields.Url(required=True, schemes={"http", "https"})
    engagers = fields.List(
        fields.Nested(Engager),
        required=True,
        validate=validate.Length(
            min=1, max=MAX_ENGAGERS, error=f"between 1 and {MAX_ENGAGERS} engagers per call"
        ),
    )
    destination = fields.String(required=True, validate=validate.OneOf(["list", "csv"]))
    list_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=36))  # null: none
    allow_partial = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Charge leads in order until credits run out and skip the rest, "
            "instead of failing the whole job with insufficient_credits (R23)"
        },
    )

    @validates_schema
    def _list_for_list(self, data, **kwargs):
        if data.get("destination") == "list" and not data.get("list_id"):
            raise ValidationError("list_id is required when destination is list", "list_id")


class ListExportRequest(Schema):
    include_phone = fields.Boolean(load_default=False)
    allow_partial = fields.Boolean(load_default=False)


class Progress(Schema):
    done = fields.Integer()
    total = fields.Integer()


class JobError(Schema):
    """Why a job failed: the problem's code and detail (insufficient_credits adds what it needed)."""

    code = fields.String(required=True)
    detail = fields.String()
    credit_type = fields.String()
    required = CreditNumber()
    available = CreditNumber()


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(validate=validate.OneOf(["queued", "running", "succeeded", "failed"]))
    progress = fields.Nested(Progress)
    result = fields.Dict(
        metadata={
            "description": "counts per outcome and `results`: one entry per lead "
            "with its status (charged, already_unlocked, not_found, skipped)"
        }
    )
    error = fields.Nested(JobError)
    credits = fields.Nested(ChargedSchema, metadata={"description": "What the job charged so far"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class JobAccepted(Schema):
    job = fields.Nested(JobSchema)
