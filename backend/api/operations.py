"""`/readyz` and `/metrics` (api.md "Operations"): no user token; `/metrics` takes METRICS_TOKEN as a
bearer token when it is set. Each check is bounded (backend/observe/checks.py)."""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request
from sqlalchemy import text
from werkzeug.exceptions import Unauthorized

from backend.api.errors import problem
from backend.observe import metrics
from backend.observe.checks import bounded


def _answers(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar()


def readyz():
    """200 when the database and the job queue answer, else 503 naming each failed check."""
    engine = current_app.extensions["store"].engine
    checks = {
        "database": bounded(lambda: _answers(engine)),
        "queue": bounded(current_app.extensions["queue"].depth),
    }
    failed = {name: why for name, (ok, why) in checks.items() if not ok}
    if not failed:
        return {"status": "ready", "checks": {name: "ok" for name in checks}}
    return problem(
        503,
        "not_ready",
        "Service not ready",
        "not answering: " + ", ".join(sorted(failed)),
        checks={name: failed.get(name, "ok") for name in checks},
    )


def metrics_view():
    """Prometheus text of this server instance; the queue depth is left out when the queue does not
    answer within the bound (the scrape itself still answers)."""
    token = current_app.config["SETTINGS"].metrics_token
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
            raise Unauthorized("/metrics needs the METRICS_TOKEN as a bearer token")
    ok, depth = bounded(current_app.extensions["queue"].depth)
    body, content_type = metrics.exposition(depth if ok else None)
    return current_app.response_class(body, mimetype=None, content_type=content_type)


def register(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/metrics", "metrics", metrics_view)
