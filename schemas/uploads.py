"""CSV uploads (multipart) and their estimates (R17, R18)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import BadRow, ChargedSchema, CreditNumbers
from schemas.jobs import JobSchema

FILE_HELP = (
    "A CSV file: UTF-8 (with or without BOM), UTF-16 or Latin-1; comma, semicolon or tab; a header row "
    "naming a LinkedIn URL and/or email column. Up to 100 MiB and 1,000,000 rows (tracking: 5 MiB, 10,000)"
)
FILE = fields.Raw(required=True, metadata={"type": "string", "format": "binary", "description": FILE_HELP})


class UploadFile(Schema):
    file = FILE


class NoFields(Schema):
    """A multipart body whose only part is the file."""


class UploadForm(Schema):
    """The form fields of a multipart upload (the file travels beside them)."""

    enrich = fields.Boolean(load_default=False, metadata={"description": "0.5 email credit per lead found"})
    validate_ = fields.Boolean(
        data_key="validate",
        load_default=False,
        metadata={"description": "0.5 email credit per email validated"},
    )
    list_id = fields.String(validate=validate.Length(min=1, max=36))


class UploadRequest(UploadForm):
    """The whole multipart body, for the OpenAPI document."""

    file = FILE


class BadRows(Schema):
    count = fields.Integer()
    rows = fields.List(fields.Nested(BadRow), metadata={"description": "the first 100"})


class Estimate(Schema):
    max = fields.Nested(
        CreditNumbers, metadata={"description": "rows x 0.5 per chosen option; the charge never exceeds it"}
    )


class UploadOptions(Schema):
    enrich = fields.Boolean()
    validate = fields.Boolean()


class UploadSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "awaiting_confirmation | confirmed | cancelled"})
    rows = fields.Integer(metadata={"description": "distinct leads detected (duplicates in the file folded)"})
    options = fields.Nested(UploadOptions)
    list_id = fields.String(allow_none=True)
    estimate = fields.Nested(Estimate)
    bad_rows = fields.Nested(BadRows)
    duplicates = fields.Integer(metadata={"description": "rows naming a lead an earlier row named"})
    job_id = fields.String(allow_none=True)
    created_at = fields.DateTime()


class ConfirmResponse(Schema):
    job = fields.Nested(JobSchema)


class CancelResponse(Schema):
    id = fields.String()
    status = fields.String()
    credits = fields.Nested(ChargedSchema)
