"""Per request (api.md "Request ids", "Operations"): the request id, one JSON log line, and the
request metrics. Wired first in create_app(), so a preflight or a 401 is seen too; `/metrics` counts
here like any route and adds no work of its own."""

from __future__ import annotations

import logging
import os
import re
import time

from flask import Flask, g, request

from backend.observe import metrics

log = logging.getLogger("leadledger.request")
HEADER = "X-Request-ID"
ENVIRON_KEY = "HTTP_X_REQUEST_ID"
_PRINTABLE = re.compile(r"[\x20-\x7e]{1,128}")  # printable ASCII; a control character or more is replaced


def _begin() -> None:
    """The caller's id when it is 1–128 printable ASCII characters; anything else is replaced (a
    header value with control characters would be written into logs and answers as sent). Every
    request runs this, so the header is read straight from the WSGI environ."""
    g.started = time.perf_counter()
    sent = request.environ.get(ENVIRON_KEY, "")
    g.request_id = sent if _PRINTABLE.fullmatch(sent) else _new_id()


def _new_id() -> str:
    """16 random bytes in hex: what uuid4().hex gives, at a quarter of its cost."""
    return os.urandom(16).hex()


def _finish(response):
    rule, method = request.url_rule, request.method
    route = rule.rule if rule is not None else "unmatched"
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    status = response.status_code
    request_id = response.headers[HEADER] = g.get("request_id") or _new_id()
    metrics.request_answered(route, method, status, elapsed)
    if status == 402:
        credit_type = (response.get_json(silent=True) or {}).get("credit_type", "")
        metrics.INSUFFICIENT.labels(route, str(credit_type)).inc()
    actor = g.get("actor")
    log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "account_id": actor.account_id if actor else None,
            "user_id": actor.user_id if actor else None,
        },
    )
    return response


def install(app: Flask) -> None:
    """Before every other hook (registered first) and after every other one (after_request hooks
    run in reverse order of registration): the id and the clock cover the whole request."""
    app.before_request(_begin)
    app.after_request(_finish)
