"""Rate limits (api.md "More conventions" → Rate limits), with Flask-Limiter on `limits` storage.

- Counted per API key (a digest of the bearer token, backend/api/auth.py `credential_digest`; the
  operator's /v1/admin/* routes by the admin token's digest the same way), and per client address
  for requests without a valid token (bad tokens, the OAuth callback).
- Moving window: every request is a timestamped entry, so no span of `w` seconds ever holds more
  than `q` admitted requests (a fixed window admits 2q across its edge).
- `RATE_LIMIT` on every /v1 request; the bulk and upload routes (marked by backend/api/limits.py
  `bulk`/`sized`) also count against `RATE_LIMIT_BULK`, a bucket of their own.
- Storage: Redis with REDIS_URL (shared by every process and host, keys under `<QUEUE_NAME>:ratelimit`),
  else this process's memory (each gunicorn worker counts alone: README "Rate limits").
- Only /v1 is limited: preflights, /healthz, /readyz, /metrics, /openapi.json and the pages never.
- The limiter runs after auth has said who calls and before an Idempotency-Key is claimed (app.py),
  so a 429 claims no key and is never replayed.
- Flask-Limiter's X-RateLimit-* headers are off; every limited answer carries the IETF draft's
  `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers), one named
  policy per limit: the shortest window of a group is named for the group ("default", "bulk"),
  longer ones add their window (`"default-60s"`)."""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref

from flask import Flask, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse_many
from limits.storage import MemoryStorage

from backend.api import limits as body_limits
from backend.api.errors import problem
from backend.config import Settings

log = logging.getLogger(__name__)

DEFAULT, BULK = "default", "bulk"


def install(app: Flask, settings: Settings) -> Limiter:
    """Registers the limiter's before_request here, in the order app.py calls this (after auth,
    before idempotency), its 429 answer, and the RateLimit fields on every limited answer."""
    limiter = Limiter(
        key_func=_caller,
        application_limits=[
            ApplicationLimit(limit_provider=settings.rate_limit, scope=DEFAULT),
            ApplicationLimit(limit_provider=settings.rate_limit_bulk, scope=BULK, exempt_when=_not_bulk),
        ],
        strategy="moving-window",
        storage_uri=settings.redis_url or f"{ProcessMemoryStorage.STORAGE_SCHEME[0]}://",
        key_prefix=f"{settings.queue_name}:ratelimit",
        headers_enabled=False,
        # a storage outage lets requests through (logged) rather than refusing every charge
        swallow_errors=True,
        request_identifier=lambda: request.endpoint or "unrouted",  # unknown /v1 paths count too
    )
    limiter.request_filter(_never_limited)
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.extensions["rate_limit_names"] = {
        **policy_names(DEFAULT, settings.rate_limit),
        **policy_names(BULK, settings.rate_limit_bulk),
    }
    app.after_request(_write_fields)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    return limiter


class ProcessMemoryStorage(MemoryStorage):
    """limits' memory storage, its expired entries dropped by one daemon thread every EXPIRE_EVERY
    seconds: the original starts a thread for each 10 ms that sees traffic, which cost up to 3 ms a
    request on a busy machine (bench/reveal_breakdown.py). The thread ends with the storage."""

    STORAGE_SCHEME = ["leadledger-memory"]
    EXPIRE_EVERY = 0.25

    def __init__(self, uri: str | None = None, **options):
        super().__init__(uri, **options)
        self.timer.cancel()
        threading.Thread(target=_expire_while_alive, args=(weakref.ref(self),), daemon=True).start()

    def _MemoryStorage__schedule_expiry(self) -> None:
        """Replaces the original's thread per 10 ms (name-mangled in limits.storage.memory)."""


def _expire_while_alive(ref: weakref.ref) -> None:
    pause = threading.Event()
    while (storage := ref()) is not None:
        storage._MemoryStorage__expire_events()
        del storage
        pause.wait(ProcessMemoryStorage.EXPIRE_EVERY)


def policy_names(group: str, value: str) -> dict:
    """{(group, amount, window seconds): policy name} for the limits of one setting."""
    items = sorted(parse_many(value), key=lambda item: item.get_expiry())
    return {
        (group, item.amount, item.get_expiry()): group if i == 0 else f"{group}-{item.get_expiry()}s"
        for i, item in enumerate(items)
    }


def _never_limited() -> bool:
    return request.method == "OPTIONS" or not request.path.startswith("/v1/")


def _not_bulk() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "body_limit", body_limits.SINGLE) <= body_limits.SINGLE


def _caller() -> str:
    credential = g.get("credential")
    return f"key:{credential}" if credential else f"addr:{request.remote_addr}"


def _seconds_until(moment: float) -> int:
    return max(0, math.ceil(moment - time.time()))


def _evaluated() -> list[tuple[str, int, int, int, int]]:
    """(name, quota, window, remaining, seconds to reset) of each limit this request was counted
    against; empty when none was (or the storage could not say)."""
    names = current_app.extensions["rate_limit_names"]
    out = []
    try:
        for counted in current_app.extensions["rate_limiter"].current_limits:
            item, group = counted.limit, counted.request_args[-1]
            window = counted.window
            name = names[(group, item.amount, item.get_expiry())]
            out.append(
                (name, item.amount, item.get_expiry(), window.remaining, _seconds_until(window.reset_time))
            )
    except Exception:  # noqa: BLE001 - the storage is down: the answer goes out without the fields
        log.exception("rate limit storage unreachable; answering without RateLimit fields")
        return []
    return out


def _write_fields(response):
    """after_request: `RateLimit-Policy: "default";q=50;w=1` and `RateLimit: "default";r=12;t=1`."""
    evaluated = _evaluated()
    if evaluated:
        response.headers["RateLimit-Policy"] = ", ".join(f'"{n}";q={q};w={w}' for n, q, w, _, _ in evaluated)
        response.headers["RateLimit"] = ", ".join(f'"{n}";r={r};t={t}' for n, _, _, r, t in evaluated)
    return response


def _too_many_requests(exc: RateLimitExceeded):
    """429 `rate_limited`, with Retry-After: the seconds until the breached window admits one more."""
    breached = current_app.extensions["rate_limiter"].current_limit
    retry_after = max(1, _seconds_until(breached.window.reset_time)) if breached else 1
    whose = "this API key" if g.get("credential") else "this client address (no valid API key)"
    return problem(
        429,
        "rate_limited",
        "Too many requests",
        f"more than {exc.limit.limit} for {whose}; retry after {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )
