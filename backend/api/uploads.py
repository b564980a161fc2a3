"""CSV uploads (R17–R19): estimate, then confirm (a job) or cancel."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from backend.api.common import actor, multipart, run, store
from backend.api.limits import sized
from backend.services import uploads
from schemas import uploads as s

blp = Blueprint("uploads", __name__, url_prefix="/v1", description="CSV uploads: estimate, confirm, cancel")
UPLOAD_LIMIT = uploads.LIMITS.max_bytes + 2**20  # the file plus the multipart envelope


def multipart_body(schema) -> dict:
    """flask-smorest documents form and files as two bodies; a multipart upload is one."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


@blp.route("/uploads", methods=["POST"])
@sized(UPLOAD_LIMIT)
@blp.doc(**multipart_body(s.UploadRequest))
@blp.response(201, s.UploadSchema)
def create():
    """Upload leads: answers the leads detected and the most the options can cost; charges nothing (R18)"""
    form, stream = multipart(s.UploadForm)
    return uploads.create(store(), actor(), stream, form["enrich"], form["validate_"], form.get("list_id"))


@blp.route("/uploads/<upload_id>/confirm", methods=["POST"])
@blp.response(202, s.ConfirmResponse)
def confirm(upload_id):
    """Accept the estimate: the upload becomes a job (enrich and/or validate, R17)"""
    job = run(lambda uow: uploads.confirm(uow, actor(), upload_id))
    current_app.extensions["queue"].enqueue(job["id"])
    return {"job": job}


@blp.route("/uploads/<upload_id>/cancel", methods=["POST"])
@blp.response(200, s.CancelResponse)
def cancel(upload_id):
    """Drop the upload; nothing is charged"""
    return run(lambda uow: uploads.cancel(uow, actor(), upload_id))
