"""Routes: uploads (issue 6)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("uploads", __name__, url_prefix="/v1", description="uploads")
