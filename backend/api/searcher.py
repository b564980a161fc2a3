"""Searcher routes (R7–R9): search, reveal, saved searches, enrollments. Parse, call one use case, render."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from backend.api.common import actor, page, read, run, store
from backend.api.limits import bulk
from backend.services import searcher
from backend.services.people import PersonRef
from schemas import searcher as s
from schemas.common import PageQuery
from schemas.extension import RevealRequest, RevealResponse

blp = Blueprint(
    "searcher",
    __name__,
    url_prefix="/v1",
    description="The searcher: find people for free, pay only to reveal or to sequence them",
)


def _refs(body) -> list[PersonRef]:
    return [PersonRef.parse(p) for p in body["people"]]


@blp.route("/search/people", methods=["GET"])
@blp.arguments(s.SearchQuery(), location="query", unknown=RAISE)  # a mistyped filter is an error
@blp.response(200, s.SearchPage)
def search_people(query):
    """Search people; free, and contact data shows only where the account holds it (R7, R9)"""
    return read(
        lambda uow: searcher.search(
            uow,
            actor(),
            query.get("q"),
            query.get("title"),
            query.get("company"),
            query.get("cursor"),
            query["limit"],
        )
    )


@blp.route("/search/reveal", methods=["POST"])
@blp.arguments(RevealRequest())
@blp.response(200, RevealResponse)
def reveal(body):
    """Reveal a person's email and/or phone (R7: 1 credit each, nothing when not found or held)"""
    return searcher.reveal(store(), actor(), PersonRef.parse(body), body["fields_"])


@blp.route("/saved-searches", methods=["POST"])
@blp.arguments(s.SavedSearchRequest())
@blp.response(201, s.SavedSearchSchema)
def create_saved_search(body):
    """Save a search"""
    return run(lambda uow: searcher.create_saved_search(uow, actor(), body["name"], body["query"]))


@blp.route("/saved-searches", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.SavedSearchesResponse)
def all_saved_searches(query):
    """The account's saved searches, oldest first"""
    return read(lambda uow: searcher.all_saved_searches(uow, actor(), page(query)))


@blp.route("/saved-searches/<saved_search_id>/people", methods=["POST"])
@bulk
@blp.arguments(s.PeopleRequest())
@blp.response(200, s.SavedSearchPeopleResponse)
def add_to_saved_search(body, saved_search_id):
    """Add people to a saved search (R8: always free; nothing is revealed)"""
    refs = _refs(body)
    return run(lambda uow: searcher.add_people(uow, actor(), saved_search_id, refs))


@blp.route("/sequences/<sequence_id>/enrollments", methods=["POST"])
@bulk
@blp.arguments(s.PeopleRequest())
@blp.response(201, s.EnrollmentsResponse)
def enroll(body, sequence_id):
    """Put people into a sequence (R9: 1 email credit each unless held; no email found: free, not enrolled)"""
    refs = _refs(body)
    return run(lambda uow: searcher.enroll_many(uow, actor(), sequence_id, refs))


@blp.route("/saved-searches/<saved_search_id>", methods=["DELETE"])
@blp.response(204)
def delete_saved_search(saved_search_id):
    """Delete a saved search and the people put into it. A second time: 404"""
    run(lambda uow: searcher.delete_saved_search(uow, actor(), saved_search_id))
