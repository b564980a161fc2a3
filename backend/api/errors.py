"""Every error answer is RFC 9457 problem+json with a stable `code`. Status numbers live here only."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, has_request_context, json, request
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.exceptions import HTTPException

from backend.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientCredits,
    InvalidInput,
    InvalidProfileUrl,
    ListInUse,
    NotFound,
    OAuthRefused,
    TooLarge,
    UserLimitReached,
    VendorRefused,
)
from backend.persistence.sealed import SealedValueError
from backend.persistence.unit_of_work import is_transient

log = logging.getLogger(__name__)


class IdempotencyConflict(DomainError):
    """The key was used with a different body."""


class IdempotencyInProgress(DomainError):
    """The first request with this key is still running."""


DOMAIN = {
    InvalidProfileUrl: (422, "validation_error", "Not a LinkedIn profile URL"),
    InvalidInput: (422, "validation_error", "Invalid request"),
    NotFound: (404, "not_found", "Not found"),
    Forbidden: (403, "forbidden", "Forbidden"),
    TooLarge: (413, "payload_too_large", "Payload too large"),
    ListInUse: (409, "list_in_use", "List in use"),
    Conflict: (409, "conflict", "Conflict"),
    OAuthRefused: (400, "oauth_refused", "The CRM connection could not be completed"),
    VendorRefused: (502, "crm_vendor_refused", "The CRM's answer could not be used"),
    InsufficientCredits: (402, "insufficient_credits", "Insufficient credits"),
    UserLimitReached: (402, "user_limit_reached", "Monthly user limit reached"),
    IdempotencyConflict: (422, "idempotency_conflict", "Idempotency-Key reused with another body"),
    IdempotencyInProgress: (409, "idempotency_in_progress", "A request with this Idempotency-Key is running"),
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


def problem(status: int, code: str, title: str, detail: str, headers=None, **extra):
    """Every problem+json answer is built here, so each names its request (api.md "Request ids")."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code, **extra}
    if has_request_context() and g.get("request_id"):
        body["request_id"] = g.request_id
    response = current_app.response_class(
        json.dumps(body), status=status, mimetype="application/problem+json"
    )
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def domain_error(exc: DomainError):
    status, code, title = next(v for k, v in DOMAIN.items() if isinstance(exc, k))
    extra = dict(exc.extra)
    if "fields" in extra:
        extra["errors"] = extra.pop("fields")
    if isinstance(exc, InsufficientCredits | UserLimitReached):
        extra.update(exc.facts())
    if isinstance(exc, InvalidProfileUrl):
        extra["errors"] = {"linkedin_url": [exc.detail]}
    return problem(status, code, title, exc.detail, **extra)


def http_error(exc: HTTPException):
    status = exc.code or 500
    extra = {}
    messages = (getattr(exc, "data", None) or {}).get("messages")
    detail = exc.description or exc.name
    if (
        messages
    ):  # webargs: {"json": {"field": ["msg"]}} -> {"field": ["msg"]}; or {"json": ["Invalid JSON body."]}
        extra["errors"] = _flatten(messages)
        detail = "the request has invalid fields: " + ", ".join(sorted(extra["errors"]))
    if status == 413:
        limit = request.max_content_length if has_request_context() else None
        extra["limit"] = limit
        detail = f"the request body is larger than the limit of {limit} bytes" if limit else detail
    headers = dict(exc.get_headers()) if status == 405 else {}
    headers.pop("Content-Type", None)
    if status == 401:  # RFC 6750 §3: a 401 names the scheme that would be accepted
        headers["WWW-Authenticate"] = 'Bearer realm="leadledger"'

    return problem(status, HTTP_CODES.get(status, "http_error"), exc.name, detail, headers, **extra)


def _flatten(messages: dict) -> dict:
    out = {}
    for location, found in messages.items():
        out.update(found if isinstance(found, dict) else {location: found})
    return out


def unreadable(exc: SealedValueError):
    """A connection's credentials that no key in SECRET_KEYS opens (a key dropped too early, a
    ciphertext copied from another row): the connection needs new ones; the message names the row,
    never a value."""
    return problem(
        409,
        "credentials_unreadable",
        "CRM credentials unreadable",
        f"{exc}; give the connection new credentials (PATCH its config, or reauthorize it), or put the "
        "key that sealed them back into SECRET_KEYS",
    )


def unstorable(exc: DataError):
    """A value the database refuses (a NUL character, say): the request's fault, and nothing was written."""
    return problem(
        422,
        "validation_error",
        "Invalid request",
        "the request holds a value that cannot be stored (for example a NUL character); nothing was changed",
    )


def database_error(exc: DBAPIError):
    """Transient contention that outlasted the unit of work's retries is a 503 the client may retry
    (never a 500); anything else is unexpected."""
    if not is_transient(exc):
        return unexpected(exc)
    return problem(
        503,
        "busy",
        "Service busy",
        "the database is busy; nothing was changed, retry shortly",
        headers={"Retry-After": "1"},
    )


def unexpected(exc: Exception):
    log.exception("unhandled error", exc_info=exc)
    return problem(
        500,
        "internal_error",
        "Internal Server Error",
        "an unexpected error occurred; nothing was charged unless the answer said so",
    )


def register(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(DataError, unstorable)
    app.register_error_handler(SealedValueError, unreadable)
    app.register_error_handler(DBAPIError, database_error)
    app.register_error_handler(Exception, unexpected)
