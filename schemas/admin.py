"""Operator (admin) routes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import CreditAmount, CreditType, LinkedInUrl

NAME = validate.Length(min=1, max=200)
ROLES = ("admin", "member")  # api.md "Roles"


class Grants(Schema):
    email = CreditAmount(load_default=0)
    phone = CreditAmount(load_default=0)
    tracking = CreditAmount(load_default=0)


class CreateAccountRequest(Schema):
    name = fields.String(required=True, validate=NAME)
    admin_email = fields.Email(required=True)
    grants = fields.Nested(Grants, load_default=lambda: {"email": 0, "phone": 0, "tracking": 0})


class UserSchema(Schema):
    id = fields.String()
    email = fields.String()
    role = fields.String()
    api_token = fields.String(
        metadata={
            "description": "The user's first API key, shown once, at creation; only its hash is kept "
            "(an Idempotency-Key replay answers without it)"
        }
    )


class AccountResponse(Schema):
    id = fields.String()
    name = fields.String()
    users = fields.List(fields.Nested(UserSchema))


class CreateUserRequest(Schema):
    email = fields.Email(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class GrantRequest(Schema):
    credit_type = CreditType(required=True)
    amount = CreditAmount(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, error="a grant must be more than 0"),
    )
    note = fields.String(validate=validate.Length(max=500))


class LedgerEntrySchema(Schema):
    id = fields.String()
    created_at = fields.DateTime()
    credit_type = fields.String()
    amount = fields.Raw(metadata={"description": "Grants and releases positive, charges and holds negative"})
    balance_after = fields.Raw()
    action = fields.String()
    person_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class DirectoryPerson(Schema):
    linkedin_url = LinkedInUrl(required=True)
    full_name = fields.String(required=True, validate=validate.Length(max=300))
    title = fields.String(required=True, allow_none=True, validate=validate.Length(max=300))
    company = fields.String(required=True, allow_none=True, validate=validate.Length(max=300))
    email = fields.Email(
        allow_none=True, metadata={"description": "left out: the stored one is kept; null: none"}
    )
    phone = fields.String(
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "left out: the stored one is kept; null: none"},
    )


class DirectoryImportRequest(Schema):
    people = fields.List(fields.Nested(DirectoryPerson), required=True, validate=validate.Length(max=100_000))


class DirectoryImportResponse(Schema):
    created = fields.Integer()
    updated = fields.Integer()
