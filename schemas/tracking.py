"""Contact tracking and notifications (R20–R22)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import CreditsSchema, PersonRef, ReasonsSchema, page_schema
from schemas.uploads import BadRows


class TrackingPeopleRequest(Schema):
    people = fields.List(fields.Nested(PersonRef), required=True, validate=validate.Length(min=1, max=10_000))


class TrackingResult(Schema):
    person_id = fields.String()
    linkedin_url = fields.String(allow_none=True)
    reasons = fields.Nested(
        ReasonsSchema, metadata={"description": "tracking: held, already_tracked, released"}
    )


class TrackResponse(Schema):
    tracked = fields.Integer()
    already_tracked = fields.Integer()
    results = fields.List(fields.Nested(TrackingResult))
    credits = fields.Nested(CreditsSchema)


class TrackFileResponse(TrackResponse):
    bad_rows = fields.Nested(BadRows, metadata={"description": "count, and the first 100 rows"})


class DisableResponse(Schema):
    disabled = fields.Integer()
    results = fields.List(fields.Nested(TrackingResult))
    credits = fields.Nested(CreditsSchema)


class TrackedPersonSchema(Schema):
    person_id = fields.String()
    linkedin_url = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    since = fields.DateTime()


TrackedResponse = page_schema(
    "TrackedPage",
    "tracked",
    TrackedPersonSchema,
    "oldest tracking first (by since, then person_id); someone tracked again after being disabled "
    "counts from the new start",
)


class WatchedFields(Schema):
    """What R22 watches of a tracked person."""

    company = fields.String(allow_none=True)
    title = fields.String(allow_none=True)


class NotificationSchema(Schema):
    id = fields.String()
    kind = fields.String(
        metadata={
            "description": "job_change (company changed) | promotion (title changed), with the person's "
            "fields; or an account notice without a person, its facts in `detail`: crm_needs_reauth "
            "(connection_id, kind, error), user_limit (user_id, credit_type, level, limit, used), "
            "low_balance (credit_type, level, balance)"
        }
    )
    person_id = fields.String(metadata={"description": "only on a person's notification"})
    linkedin_url = fields.String(allow_none=True, metadata={"description": "only on a person's notification"})
    before = fields.Nested(WatchedFields, metadata={"description": "only on a person's notification"})
    after = fields.Nested(WatchedFields, metadata={"description": "only on a person's notification"})
    detail = fields.Dict(metadata={"description": "only on an account notice: its facts"})
    created_at = fields.DateTime()


NotificationsResponse = page_schema(
    "NotificationsPage", "notifications", NotificationSchema, "newest first (by id)"
)
