"""`GET /v1/me`: who the token belongs to. The extension uses it to check a pasted token."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from backend.api.common import actor

blp = Blueprint("me", __name__, url_prefix="/v1", description="The caller")


class MeSchema(Schema):
    account_id = fields.String()
    user_id = fields.String()


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
def me():
    """The account and user the API token belongs to (authenticates, touches nothing else)"""
    return {"account_id": actor().account_id, "user_id": actor().user_id}
