"""Requests and answers of the searcher: search, saved searches (R8), enrollments (R9). The reveal (R7)
reuses the extension's request and answer (R10): the same action from another surface."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.services.searcher import DEFAULT_LIMIT, MAX_LIMIT
from schemas.common import CreditsSchema, Cursor, PersonRef, ReasonsSchema, page_schema

TEXT = validate.Length(max=200)
MAX_PEOPLE = 10_000


class SearchFilters(Schema):
    """What a search asks for; a saved search keeps the same."""

    q = fields.String(validate=TEXT, metadata={"description": "Free text over name, title and company"})
    title = fields.String(validate=TEXT, metadata={"description": "Title contains (case-insensitive)"})
    company = fields.String(validate=TEXT, metadata={"description": "Company contains (case-insensitive)"})


class SearchQuery(SearchFilters):
    cursor = Cursor()
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


class SearchPerson(Schema):
    linkedin_url = fields.String()
    person_id = fields.String(allow_none=True, metadata={"description": "Null until the person is acted on"})
    full_name = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    has_email = fields.Boolean()
    has_phone = fields.Boolean()
    email = fields.String(allow_none=True, metadata={"description": "Only when the account holds it"})
    phone = fields.String(allow_none=True, metadata={"description": "Only when the account holds it"})


SearchPage = page_schema("SearchPage", "people", SearchPerson, "by linkedin_url")


class SavedSearchRequest(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    query = fields.Nested(SearchFilters, load_default=dict)


class SavedSearchSchema(Schema):
    id = fields.String()
    name = fields.String()
    query = fields.Nested(SearchFilters)
    created_at = fields.DateTime()


SavedSearchesResponse = page_schema(
    "SavedSearchesPage", "saved_searches", SavedSearchSchema, "oldest first (by created_at, then id)"
)


class PeopleRequest(Schema):
    people = fields.List(
        fields.Nested(PersonRef), required=True, validate=validate.Length(min=1, max=MAX_PEOPLE)
    )


class PersonResult(Schema):
    person_id = fields.String()
    linkedin_url = fields.String(allow_none=True)
    status = fields.String()
    reasons = fields.Nested(ReasonsSchema)


class SavedSearchPeopleResponse(Schema):
    results = fields.List(
        fields.Nested(PersonResult), metadata={"description": "status: added | already_added"}
    )
    added = fields.Integer()
    already_added = fields.Integer()
    credits = fields.Nested(CreditsSchema)


class EnrollmentsResponse(Schema):
    results = fields.List(
        fields.Nested(PersonResult),
        metadata={"description": "status: enrolled | already_enrolled | not_found (not enrolled, free)"},
    )
    credits = fields.Nested(CreditsSchema)
