"""The app factory: configuration, the store, CORS, auth, rate limits, idempotency, blueprints,
errors, CLI.
Nothing is built at import time."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_cors import CORS
from flask_smorest import Api
from werkzeug.exceptions import UnsupportedMediaType

from adapters.contacts.registry import load_provider
from adapters.validation.http import HttpEmailValidator
from adapters.validation.local import LocalEmailValidator
from backend import cli, server_secrets
from backend.api import (
    account,
    admin,
    api_keys,
    auth,
    credits,
    crm,
    crm_oauth,
    errors,
    extension,
    idempotency,
    jobs,
    limits,
    lists,
    me,
    observe,
    operations,
    rate_limits,
    searcher,
    tracking,
    uploads,
    users,
)
from backend.config import Settings
from backend.jobs.queue import JobQueue
from backend.observe import metrics
from backend.persistence.db import make_engine
from backend.persistence.unit_of_work import Store, hold_connections, release_connections
from backend.web import pages
from schemas.common import ProblemSchema

BLUEPRINTS = (
    admin.blp,
    me.blp,
    credits.blp,
    extension.blp,
    lists.blp,
    crm.blp,
    crm_oauth.blp,
    jobs.blp,
    searcher.blp,
    uploads.blp,
    tracking.blp,
    users.blp,
    account.blp,
    api_keys.blp,
)
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
EXPOSED_HEADERS = [
    "Retry-After",
    "Idempotent-Replayed",
    "Content-Disposition",
    "Location",
    "RateLimit",
    "RateLimit-Policy",
    "X-Request-ID",
]


def email_validator(settings: Settings):
    """The configured validation service (EMAIL_VALIDATOR_URL/KEY), else the local one (no network)."""
    if settings.email_validator_url:
        return HttpEmailValidator(settings.email_validator_url, settings.email_validator_key or "")
    return LocalEmailValidator()


def _vary_on_origin(response):
    """Every answer depends on the Origin (flask-cors says so only when several origins are set)."""
    response.vary.add("Origin")
    return response


def _answer_preflight():
    """A preflight (OPTIONS) answers 2xx on every path, unknown ones too (flask-cors adds its headers):
    a 404 preflight fails in the browser, and the extension would never read the real 404 problem."""
    if request.method == "OPTIONS":
        return current_app.make_default_options_response()
    return None


def _json_bodies_only():
    """A POST body that is neither JSON nor a multipart upload is a 415: it would be dropped unread
    (fetch() sends a string body as text/plain), and options such as include_phone with it."""
    if request.method != "POST" or request.is_json or request.mimetype == "multipart/form-data":
        return
    if request.content_length or request.get_data():
        raise UnsupportedMediaType("send the body as application/json (multipart/form-data for uploads)")


class LeadledgerFlask(Flask):
    """Flask asks `ensure_sync` of every hook and the view on every request (13 on a charging
    reveal), each time calling `inspect.iscoroutinefunction`; the answer never changes for a
    function, so it is remembered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synced: dict = {}

    def ensure_sync(self, func):
        try:
            return self._synced[func]
        except KeyError:
            synced = self._synced[func] = super().ensure_sync(func)
            return synced


class LeadledgerApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        """The error responses every route may answer are documented as what they are served as:
        `application/problem+json` (RFC 9457), not flask-smorest's default `application/json`."""
        self.DEFAULT_RESPONSE_CONTENT_TYPE = "application/problem+json"
        try:
            super()._register_responses()
        finally:
            del self.DEFAULT_RESPONSE_CONTENT_TYPE  # success responses stay application/json


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = LeadledgerFlask(__name__)
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=limits.BULK,
        API_TITLE="leadledger",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=pages.SWAGGER_UI_URL,
        API_SPEC_OPTIONS={
            "info": {
                "description": "Credit-metered prospecting API. Every charging answer carries "
                "`credits` with `charged`, `balance` and `reasons`."
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    keyring = server_secrets.keyring(settings)  # PostgreSQL without SECRET_KEYS refuses to start here
    engine = make_engine(settings.database_url)
    store = Store(
        engine,
        load_provider(settings.contact_provider, settings.database_url),
        email_validator(settings),
        keyring=keyring,
        suppressor=server_secrets.suppressor(settings),
    )
    store.on_charges = metrics.charges_committed
    app.extensions["store"] = store
    app.extensions["queue"] = JobQueue(store, settings)
    observe.install(app)  # first: the request id and the clock cover every other hook
    app.before_request(hold_connections)  # one pooled connection for the request's units of work
    app.teardown_request(release_connections)
    if settings.cors_origins:
        CORS(
            app,
            origins=list(settings.cors_origins),
            allow_headers=CORS_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
            vary_header=True,
        )
        app.after_request(_vary_on_origin)
        app.before_request(_answer_preflight)
    app.before_request(limits.apply_body_limit)
    app.before_request(auth.authenticate)
    rate_limits.install(app, settings)  # counts the caller named by auth (or its address); may 429
    app.before_request(auth.refuse)  # a bad token's 401 comes after its request was counted
    app.before_request(_json_bodies_only)
    app.before_request(idempotency.claim)
    app.after_request(idempotency.remember)
    # before the API: the web blueprint's swagger_ui.html (no inline script) is found before flask-smorest's
    app.register_blueprint(pages.blp)
    api = LeadledgerApi(app, spec_kwargs={"extra_plugins": [idempotency.IdempotencyDoc()]})
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
    errors.register(app)
    operations.register(app)
    cli.register(app)
    return app
