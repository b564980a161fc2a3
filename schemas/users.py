"""A team's users (api.md "API keys and users"): adding, listing, roles, removal; per-user monthly
limits (R24)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.admin import ROLES
from schemas.common import CreditAmount, PageQuery  # noqa: F401  (the users' and keys' listings)

ORDER = "Oldest first: ascending `created_at`, then `id`."


class RoleRequest(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class AccountUserSchema(Schema):
    id = fields.String()
    email = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    created_at = fields.DateTime()
    last_active_at = fields.DateTime(
        allow_none=True, metadata={"description": "The latest use of any of their keys (lags up to a minute)"}
    )
    deactivated_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the user was removed; null while active"}
    )


class UsersPage(Schema):
    users = fields.List(fields.Nested(AccountUserSchema), metadata={"description": ORDER})
    next_cursor = fields.String(allow_none=True)


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
