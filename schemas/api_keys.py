"""API keys (api.md "API keys and users")."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, ValidationError, fields, validate, validates

from backend.persistence.tables import utcnow
from schemas.users import ORDER, PageQuery

SCOPES = ("full", "read")
MAX_GRACE = 7 * 24 * 3600  # seconds: api.md allows a rotation's grace of 0..604800


class CreateKeyRequest(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    scope = fields.String(
        load_default="full",
        validate=validate.OneOf(SCOPES),
        metadata={
            "description": "`read`: GET only (anything else is 403 `forbidden`), for pasting into a page"
        },
    )
    expires_at = fields.AwareDateTime(
        default_timezone=UTC,
        allow_none=True,
        metadata={
            "description": "When the key stops working (ISO 8601; without an offset, UTC); null: never"
        },
    )

    @validates("expires_at")
    def _in_the_future(self, value, **kwargs):
        if value is not None and value <= utcnow():
            raise ValidationError("must be in the future")


class RotateRequest(Schema):
    grace_seconds = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_GRACE),
        metadata={"description": "How long the old key keeps working, 0 (stops at once) to 604800 (a week)"},
    )


class ListKeysQuery(PageQuery):
    user_id = fields.String(
        validate=validate.Length(min=1, max=36),
        metadata={"description": "Admins: another user's keys; without it, the caller's own"},
    )


class ApiKeySchema(Schema):
    id = fields.String()
    name = fields.String()
    prefix = fields.String(
        allow_none=True,
        metadata={"description": "The token's first characters; null for a key made before keys had names"},
    )
    scope = fields.String(metadata={"enum": list(SCOPES)})
    user_id = fields.String()
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "Lags up to a minute"})
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class CreatedKeySchema(ApiKeySchema):
    api_token = fields.String(
        metadata={
            "description": "Shown this once; only its hash is kept (an Idempotency-Key replay answers "
            "without it)"
        }
    )


class ApiKeysPage(Schema):
    api_keys = fields.List(fields.Nested(ApiKeySchema), metadata={"description": ORDER})
    next_cursor = fields.String(allow_none=True)
