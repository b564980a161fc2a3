"""Routes: searcher (issue 6)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("searcher", __name__, url_prefix="/v1", description="searcher")
