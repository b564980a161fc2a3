"""Contact tracking (R20–R22): track, disable, list, notifications."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, multipart, page, read, rewound, run
from backend.api.limits import bulk, sized
from backend.api.uploads import multipart_body
from backend.services import notices, tracking
from backend.services.people import PersonRef
from schemas import tracking as s
from schemas.common import PageQuery
from schemas.uploads import NoFields, UploadFile

blp = Blueprint("tracking", __name__, url_prefix="/v1", description="Contact tracking and notifications")


def refs(body) -> list[PersonRef]:
    return [PersonRef.parse(p) for p in body["people"]]


@blp.route("/tracking", methods=["POST"])
@bulk
@blp.arguments(s.TrackingPeopleRequest())
@blp.response(200, s.TrackResponse)
def track(body):
    """Track people: 1 tracking credit held per person newly tracked, all or nothing (R20)"""
    return run(lambda uow: tracking.track(uow, actor(), refs(body)))


@blp.route("/tracking/disable", methods=["POST"])
@bulk
@blp.arguments(s.TrackingPeopleRequest())
@blp.response(200, s.DisableResponse)
def disable(body):
    """Stop tracking people; their credits are free again at once (R21)"""
    return run(lambda uow: tracking.disable(uow, actor(), refs(body)))


@blp.route("/tracking/uploads", methods=["POST"])
@sized(6 * 2**20)
@blp.doc(**multipart_body(UploadFile))
@blp.response(200, s.TrackFileResponse)
def track_file():
    """Track every person in a CSV (settings > contact tracking), all or nothing (R20)"""
    _, stream = multipart(NoFields)
    return run(lambda uow: tracking.track_file(uow, actor(), rewound(stream)))


@blp.route("/tracking", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.TrackedResponse)
def tracked(query):
    """The people the account tracks, oldest tracking first"""
    return read(lambda uow: tracking.tracked(uow, actor(), page(query)))


@blp.route("/notifications", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.NotificationsResponse)
def notifications(query):
    """Job changes and promotions of tracked people (R22) and account notices without a person
    (`crm_needs_reauth`, `user_limit`, `low_balance`: facts in `detail`), newest first"""
    return read(lambda uow: notices.notifications(uow, actor().account_id, page(query)))
