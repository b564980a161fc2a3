"""`Idempotency-Key` on POST (R6, api.md): the same key and body replay the first answer and charge
nothing again; another body is `idempotency_conflict`; a request arriving while the first runs is
`idempotency_in_progress`. Keys are scoped to the account and kept 24 hours.

The claim is its own small transaction, committed before the action runs, so a concurrent duplicate
sees it. Answers below 500 are stored; a 5xx frees the key so the client may retry."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from apispec import BasePlugin
from flask import current_app, g, request
from sqlalchemy import delete, select, update

from backend.api.errors import IdempotencyConflict, IdempotencyInProgress
from backend.domain.errors import InvalidInput
from backend.persistence.statements import insert_one_if_absent
from backend.persistence.tables import IdempotencyKey, utcnow

KEYS = IdempotencyKey.__table__
MAX_KEY = 200  # characters; a longer key is refused, never cut (two would share their first 200)
STALE_RUNNING = timedelta(minutes=5)  # a claim whose request died (process killed) is taken over
IN_PROGRESS = "the first request with this Idempotency-Key is still running; retry shortly"
OPERATOR = "operator"


def claim():
    """before_request: replay a stored answer, refuse a conflicting one, or claim the key."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or not request.path.startswith("/v1/"):
        return None
    if len(key) > MAX_KEY:
        raise InvalidInput(
            f"the Idempotency-Key header is at most {MAX_KEY} characters",
            fields={"Idempotency-Key": [f"at most {MAX_KEY} characters"]},
        )
    scope = g.actor.account_id if g.actor else OPERATOR  # operator routes have keys of their own
    digest = _request_digest()
    ttl = timedelta(hours=current_app.config["SETTINGS"].idempotency_ttl_hours)
    row = _store().run(lambda uow: _claim(uow, scope, key, digest, ttl))
    if row is None:
        g.idempotency = (scope, key)
        return None
    response = current_app.response_class(row.body, status=row.status_code, content_type=row.content_type)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _request_digest() -> str:
    """What makes two requests "the same": the path and the body — for multipart uploads the fields
    and the files' contents, since every client picks a new boundary for each request."""
    h = hashlib.sha256(request.path.encode() + b"\n")
    if request.mimetype != "multipart/form-data":
        h.update(request.get_data())
        return h.hexdigest()
    # a part whose name werkzeug could not read has the name None; it sorts as ""
    for name, value in sorted((name or "", value) for name, value in request.form.items(multi=True)):
        h.update(f"{name}={value}\n".encode())
    for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0] or ""):
        h.update(f"{name}:".encode())
        for chunk in iter(lambda up=upload: up.stream.read(2**16), b""):
            h.update(chunk)
        upload.stream.seek(0)
    return h.hexdigest()


def _claim(uow, account_id: str, key: str, digest: str, ttl: timedelta):
    now = utcnow()
    values = {
        "account_id": account_id,
        "key": key,
        "request_hash": digest,
        "state": "running",
        "created_at": now,
    }
    if insert_one_if_absent(uow, KEYS, values):
        return None
    row = uow.execute(select(KEYS).where(KEYS.c.account_id == account_id, KEYS.c.key == key)).one()
    expired = row.created_at < now - ttl
    stale = row.state == "running" and row.created_at < now - STALE_RUNNING
    if expired or stale:
        # only the claim that still finds the row as it was read takes it over: a concurrent takeover
        # changed created_at (PostgreSQL re-checks the condition once that one commits), so this
        # request is the duplicate of one now running
        taken = uow.execute(
            update(KEYS)
            .where(KEYS.c.id == row.id, KEYS.c.created_at == row.created_at)
            .values(**values, status_code=None, body=None)
        ).rowcount
        if taken == 1:
            return None
        raise IdempotencyInProgress(IN_PROGRESS)
    if row.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with a different request (another body or another route); "
            "use a new key"
        )
    if row.state == "running":
        raise IdempotencyInProgress(IN_PROGRESS)
    return row


# api.md "Rate limits": a refusal of the caller (auth, role, rate) is not the request's answer; the same
# key must run the request once the caller may
NEVER_REPLAYED = frozenset({401, 403, 429})


def remember(response):
    """after_request: store the answer for replays (or free the key after a server error or a refusal
    of the caller)."""
    claimed = g.pop("idempotency", None)
    if claimed is None:
        return response
    account_id, key = claimed
    where = (KEYS.c.account_id == account_id) & (KEYS.c.key == key)
    if response.status_code >= 500 or response.status_code in NEVER_REPLAYED:
        _store().run(lambda uow: uow.execute(delete(KEYS).where(where)))
    else:
        body = _kept(response)
        _store().run(
            lambda uow: uow.execute(
                update(KEYS)
                .where(where)
                .values(
                    state="done",
                    status_code=response.status_code,
                    content_type=response.content_type,
                    body=body,
                )
            )
        )
    return response


SHOWN_ONCE = frozenset({"api_token", "secret"})  # an API token; a generated webhook secret


def _kept(response) -> str:
    """The answer as stored for replays, without what is shown once: the server keeps only a token's
    hash and a webhook secret sealed (api.md), so a replay answers without them."""
    body = response.get_data(as_text=True)
    if not response.is_json or not any(f'"{name}"' in body for name in SHOWN_ONCE):
        return body
    return current_app.json.dumps(_without_shown_once(response.get_json()))


def _without_shown_once(doc):
    if isinstance(doc, dict):
        return {k: _without_shown_once(v) for k, v in doc.items() if k not in SHOWN_ONCE}
    if isinstance(doc, list):
        return [_without_shown_once(v) for v in doc]
    return doc


def _store():
    return current_app.extensions["store"]


class IdempotencyDoc(BasePlugin):
    """The OpenAPI document of what this module serves: `Idempotency-Key` on every POST, and
    `Idempotent-Replayed: true` on an answer that is a replay."""

    KEY = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "The same key with the same body replays the first answer and charges nothing "
        "again; with another body: 422 `idempotency_conflict`; while the first request runs: 409 "
        f"`idempotency_in_progress`. Per account, kept 24 hours, at most {MAX_KEY} characters; a 5xx "
        "answer frees the key.",
    }
    REPLAYED = {
        "description": "`true` when this answer is the replay of an earlier request with the same key",
        "schema": {"type": "string", "enum": ["true"]},
    }

    def operation_helper(self, path=None, operations=None, **kwargs):
        post = (operations or {}).get("post")
        if post is None or not path.startswith("/v1/"):
            return
        post["parameters"] = [*post.get("parameters", []), self.KEY]
        for code, answer in post.get("responses", {}).items():
            if str(code).startswith("2"):
                answer["headers"] = {**answer.get("headers", {}), "Idempotent-Replayed": self.REPLAYED}
