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
