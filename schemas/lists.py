"""Lists and sequences."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.extension import LeadSchema


class NameRequest(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class NamedSchema(Schema):
    id = fields.String()
    name = fields.String()
    created_at = fields.DateTime()


class ListsResponse(Schema):
    lists = fields.List(fields.Nested(NamedSchema))


class SequencesResponse(Schema):
    sequences = fields.List(fields.Nested(NamedSchema))


class LeadsResponse(Schema):
    leads = fields.List(fields.Nested(LeadSchema))
