"""Request body limits (api.md): 64 KiB on single-person routes, 16 MiB on bulk JSON routes."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

SINGLE = 64 * 1024
BULK = 16 * 2**20


def bulk(view):
    """Mark a view as a bulk route (directory import, post exports, people lists)."""
    view.body_limit = BULK
    return view


def sized(limit: int):
    """Mark a view with its own body limit (CSV uploads)."""

    def mark(view):
        view.body_limit = limit
        return view

    return mark


def apply_body_limit() -> None:
    """before_request: the limit for this route; reading past it is a 413 naming the limit."""
    view = current_app.view_functions.get(request.endpoint or "")
    request.max_content_length = limit = getattr(view, "body_limit", SINGLE)
    chunked = "HTTP_TRANSFER_ENCODING" in request.environ and request.content_length is None
    if chunked and request.mimetype != "multipart/form-data":
        # A body without Content-Length (chunked) is read only up to the limit, and werkzeug hands on
        # what it read without a word; one byte more on the wire means it was larger. Only then: a
        # request without either header has no body, and every GET (/v1/me) would pay for the read.
        if len(request.get_data()) == limit and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
