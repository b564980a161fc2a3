"""Lists and sequences CRUD."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, page, read, run
from backend.services import lists, sequences
from schemas import lists as s
from schemas.common import PageQuery

blp = Blueprint("lists", __name__, url_prefix="/v1", description="Lists and sequences")


@blp.route("/lists", methods=["POST"])
@blp.arguments(s.NameRequest())
@blp.response(201, s.NamedSchema)
def create_list(body):
    """Create a List"""
    return run(lambda uow: lists.create(uow, actor(), body["name"]))


@blp.route("/lists", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.ListsResponse)
def all_lists(query):
    """The account's Lists, oldest first"""
    return read(lambda uow: lists.all_lists(uow, actor(), page(query)))


@blp.route("/lists/<list_id>/leads", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.LeadsResponse)
def list_leads(query, list_id):
    """A List's leads in the order they joined it, with the contact data the account holds"""
    return read(lambda uow: lists.leads(uow, actor(), list_id, page(query)))


@blp.route("/sequences", methods=["POST"])
@blp.arguments(s.NameRequest())
@blp.response(201, s.NamedSchema)
def create_sequence(body):
    """Create a sequence"""
    return run(lambda uow: sequences.create(uow, actor(), body["name"]))


@blp.route("/sequences", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.SequencesResponse)
def all_sequences(query):
    """The account's sequences, oldest first"""
    return read(lambda uow: sequences.all_sequences(uow, actor(), page(query)))


@blp.route("/lists/<list_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(409, description="`list_in_use`: a queued or running job writes into the list")
def delete_list(list_id):
    """Delete a List and its leads; unlocks stay (nothing refunded, nothing charged again)"""
    run(lambda uow: lists.delete_list(uow, actor(), list_id))


@blp.route("/lists/<list_id>/leads/<person_id>", methods=["DELETE"])
@blp.response(204)
def remove_lead(list_id, person_id):
    """Remove a lead from a List; unlocks stay. A second time: 404"""
    run(lambda uow: lists.remove_lead(uow, actor(), list_id, person_id))


@blp.route("/sequences/<sequence_id>/enrollments/<person_id>", methods=["DELETE"])
@blp.response(204)
def remove_enrollment(sequence_id, person_id):
    """Take a person out of a sequence; unlocks stay. A second time: 404"""
    run(lambda uow: sequences.remove_enrollment(uow, actor(), sequence_id, person_id))
