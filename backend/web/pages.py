"""`/`, `/app/usage` and the Swagger UI files `/docs` loads, all served from this server."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, render_template, send_from_directory

from backend.domain.credits import CREDIT_TYPES
from backend.web.headers import protect

SWAGGER_UI_FILES = Path(flask_swagger_ui.__file__).parent / "dist"
SWAGGER_UI_URL = "/docs/assets/"

blp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)
blp.after_app_request(protect)


@blp.route("/")
def start():
    return render_template("start.html")


@blp.route("/app/usage")
def usage():
    return render_template("usage.html", credit_types=[str(t) for t in CREDIT_TYPES])


@blp.route(SWAGGER_UI_URL + "<path:filename>")
def swagger_ui_file(filename: str):
    """The files of the Swagger UI release the flask-swagger-ui wheel ships, so /docs works offline."""
    return send_from_directory(SWAGGER_UI_FILES, filename)
