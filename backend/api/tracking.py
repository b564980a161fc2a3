"""Routes: tracking (issue 6)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("tracking", __name__, url_prefix="/v1", description="tracking")
