"""A team's users: per-user monthly limits (R24)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema

from schemas.common import CreditAmount


class LimitsRequest(Schema):
    email = CreditAmount(allow_none=True, metadata={"description": "monthly email credits; null removes"})
    phone = CreditAmount(allow_none=True, metadata={"description": "monthly phone credits; null removes"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give email and/or phone (a number, or null to remove the limit)")


class UserLimitSchema(Schema):
    limit = CreditAmount(allow_none=True, metadata={"description": "null: no limit"})
    used = CreditAmount(metadata={"description": "this calendar month (UTC), the user's charges"})
    period_start = fields.Date()


class UserLimits(Schema):
    email = fields.Nested(UserLimitSchema)
    phone = fields.Nested(UserLimitSchema)
