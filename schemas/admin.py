"""Operator (admin) routes."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.common import CreditAmount, CreditNumber, CreditType, LinkedInUrl

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
    amount = CreditNumber(
        metadata={"description": "Grants and releases positive, charges and holds negative"}
    )
    balance_after = CreditNumber()
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


class ErasureRequest(Schema):
    """R27: who is to be forgotten, by LinkedIn profile URL, email, or both (at least one)."""

    linkedin_url = LinkedInUrl()
    email = fields.Email(validate=validate.Length(max=320))

    @validates_schema
    def _one_at_least(self, data, **_):
        if not data.get("linkedin_url") and not data.get("email"):
            raise ValidationError("give linkedin_url, email or both", "linkedin_url")


class ErasureResponse(Schema):
    person_ids = fields.List(fields.String(), metadata={"description": "the erased people's opaque ids"})
    unlocks_cleared = fields.Integer(metadata={"description": "unlock values cleared, in every account"})
    list_leads_removed = fields.Integer()
    deliveries_cancelled = fields.Integer(
        metadata={"description": "CRM deliveries not yet sent, now never sent"}
    )
    suppressed = fields.Integer(metadata={"description": "suppression records made (keyed hashes)"})
    already_erased = fields.Boolean(
        metadata={"description": "true: every value given was erased before; counts are zero"}
    )


class ErasuresQuery(Schema):
    class Meta:
        unknown = RAISE

    cursor = fields.String(
        validate=validate.Length(max=200), metadata={"description": "`next_cursor` of the previous page"}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ErasureSchema(Schema):
    id = fields.String()
    created_at = fields.DateTime()
    person_ids = fields.List(fields.String())


class ErasuresResponse(Schema):
    erasures = fields.List(fields.Nested(ErasureSchema), metadata={"description": "newest first"})
    next_cursor = fields.String(allow_none=True)
