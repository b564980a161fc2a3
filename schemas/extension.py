"""Requests and answers of the LinkedIn extension routes (R10–R13)."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from backend.services.crm import DELIVERY_STATUSES
from schemas.common import CreditsSchema, PersonRef, PersonSchema

ID = fields.String(required=True, validate=validate.Length(min=1, max=36))


class RevealRequest(PersonRef):
    fields_ = fields.List(
        fields.String(validate=validate.OneOf(["email", "phone"])),
        data_key="fields",
        load_default=lambda: ["email"],
        validate=validate.Length(min=1, max=2),
    )


class RevealResponse(Schema):
    person = fields.Nested(PersonSchema)
    credits = fields.Nested(CreditsSchema)


class LeadSchema(Schema):
    person_id = fields.String()
    linkedin_url = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    added_at = fields.DateTime()


class DeliverySchema(Schema):
    id = fields.String()
    connection_id = fields.String()
    person_id = fields.String(allow_none=True, metadata={"description": "null for an account event"})
    status = fields.String(
        validate=validate.OneOf(DELIVERY_STATUSES),
        metadata={"description": "cancelled: its connection was deleted before it was sent"},
    )
    attempts = fields.Integer(metadata={"description": "counted attempts (rate-limit waits are not)"})
    last_error = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    created_at = fields.DateTime()


class LeadResponse(Schema):
    lead = fields.Nested(LeadSchema)
    credits = fields.Nested(CreditsSchema)


class CrmExportRequest(PersonRef):
    connection_id = ID


class CrmExportResponse(Schema):
    delivery = fields.Nested(DeliverySchema)
    credits = fields.Nested(CreditsSchema)


class ListAndCrmRequest(PersonRef):
    list_id = ID
    connection_id = ID


class ListAndCrmResponse(Schema):
    lead = fields.Nested(LeadSchema)
    delivery = fields.Nested(DeliverySchema)
    credits = fields.Nested(CreditsSchema)


class EnrollRequest(PersonRef):
    email = fields.Email(
        allow_none=True,
        metadata={"description": 'The email the extension already has (R13: then free); null or "": none'},
    )

    @pre_load
    def _blank_email_is_none(self, data, **_):
        """An extension that found no email on the page sends "" or null: that is no email supplied."""
        if isinstance(data, dict) and isinstance(data.get("email"), str) and not data["email"].strip():
            return {**data, "email": None}
        return data


class EnrollmentSchema(Schema):
    sequence_id = fields.String()
    person_id = fields.String()
    email = fields.String()
    email_source = fields.String(metadata={"description": "supplied | unlocked"})
    created_at = fields.DateTime()


class EnrollResponse(Schema):
    enrollment = fields.Nested(EnrollmentSchema)
    credits = fields.Nested(CreditsSchema)
