"""Lists and sequences."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import page_schema
from schemas.extension import LeadSchema


class NameRequest(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class NamedSchema(Schema):
    id = fields.String()
    name = fields.String()
    created_at = fields.DateTime()


ListsResponse = page_schema("ListsPage", "lists", NamedSchema, "oldest first (by created_at, then id)")
SequencesResponse = page_schema(
    "SequencesPage", "sequences", NamedSchema, "oldest first (by created_at, then id)"
)
LeadsResponse = page_schema(
    "LeadsPage", "leads", LeadSchema, "in the order they joined the list (by added_at, then person_id)"
)
