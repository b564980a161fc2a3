"""LinkedIn extension routes (R10–R13): parse, call one use case, render."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, run, store
from backend.services import extension
from backend.services.people import PersonRef
from schemas import extension as s

blp = Blueprint(
    "extension",
    __name__,
    url_prefix="/v1/extension",
    description="What the LinkedIn extension's buttons do, and what each costs",
)


@blp.route("/reveal", methods=["POST"])
@blp.arguments(s.RevealRequest())
@blp.response(200, s.RevealResponse)
def reveal(body):
    """Reveal a person's email and/or phone (R10: 1 credit each, nothing when not found or held)"""
    return extension.reveal_read_first(store(), actor(), PersonRef.parse(body), body["fields_"])


@blp.route("/lists/<list_id>/leads", methods=["POST"])
@blp.arguments(s.PersonRef())
@blp.response(201, s.LeadResponse)
@blp.alt_response(200, schema=s.LeadResponse, description="Already in the list")
def add_to_list(body, list_id):
    """Add a lead to a List (R12: 1 email credit unless held)"""
    created, out = run(lambda uow: extension.add_to_list(uow, actor(), list_id, PersonRef.parse(body)))
    return out, 201 if created else 200


@blp.route("/crm-exports", methods=["POST"])
@blp.arguments(s.CrmExportRequest())
@blp.response(202, s.CrmExportResponse)
def crm_export(body):
    """Export a lead to a CRM connection (R11: 1 email credit, free if already revealed)"""
    return run(lambda uow: extension.crm_export(uow, actor(), PersonRef.parse(body), body["connection_id"]))


@blp.route("/list-and-crm", methods=["POST"])
@blp.arguments(s.ListAndCrmRequest())
@blp.response(202, s.ListAndCrmResponse)
def list_and_crm(body):
    """Add to a List and export to a CRM in one call (R12: one credit, not two)"""
    ref = PersonRef.parse(body)
    return run(lambda uow: extension.list_and_crm(uow, actor(), ref, body["list_id"], body["connection_id"]))


@blp.route("/sequences/<sequence_id>/enrollments", methods=["POST"])
@blp.arguments(s.EnrollRequest())
@blp.response(201, s.EnrollResponse)
@blp.alt_response(200, schema=s.EnrollResponse, description="Already enrolled")
def enroll(body, sequence_id):
    """Start a sequence (R13: free when the extension supplies the email)"""
    ref = PersonRef.parse(body)
    created, out = run(lambda uow: extension.enroll(uow, actor(), sequence_id, ref, body.get("email")))
    return out, 201 if created else 200
