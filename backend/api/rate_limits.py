"""Rate limits (api.md "More conventions" → Rate limits): `limits`' moving-window strategy and storage
(the library Flask-Limiter is built on) called from two hooks of our own. Flask-Limiter itself cost
three times the storage calls in CPU per request (it re-parses the limit strings and resolves route,
blueprint and exemption scopes on every request, measured with bench/reveal_breakdown.py), and
none of what that buys was used: its headers, error page, exemptions and keys are ours.

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
- Every limited answer carries the IETF draft's
  `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers), one named
  policy per limit: the shortest window of a group is named for the group ("default", "bulk"),
  longer ones add their window (`"default-60s"`)."""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from backend.api import limits as body_limits
from backend.api.errors import problem
from backend.config import Settings

log = logging.getLogger(__name__)

DEFAULT, BULK = "default", "bulk"


@dataclass(frozen=True)
class Policy:
    """One limit of a setting, named as the RateLimit fields name it."""

    name: str
    group: str  # its bucket: DEFAULT or BULK
    item: RateLimitItem


def policies(group: str, value: str) -> tuple[Policy, ...]:
    """The limits of one setting, shortest window first: the first is named for the group, the
    others add their window (`"default-60s"`)."""
    items = sorted(parse_many(value), key=lambda item: item.get_expiry())
    return tuple(
        Policy(group if i == 0 else f"{group}-{item.get_expiry()}s", group, item)
        for i, item in enumerate(items)
    )


class RateLimits:
    """The limiter of one app: its storage, its prefix and the policies of both settings."""

    def __init__(self, settings: Settings):
        storage = storage_from_string(settings.redis_url or f"{ProcessMemoryStorage.STORAGE_SCHEME[0]}://")
        self.strategy = MovingWindowRateLimiter(storage)
        self.prefix = f"{settings.queue_name}:ratelimit"
        self.default = policies(DEFAULT, settings.rate_limit)
        self.bulk = policies(BULK, settings.rate_limit_bulk)

    def check(self):
        """before_request: count this request against each policy that applies; the first one
        already full answers 429 (the later ones are not counted)."""
        if request.method == "OPTIONS" or not request.path.startswith("/v1/"):
            return None
        caller = _caller()
        counted = []
        g.rate_limits = (caller, counted)
        for policy in self.default + (self.bulk if _is_bulk() else ()):
            try:
                admitted = self.strategy.hit(policy.item, self.prefix, caller, policy.group)
            except Exception:  # noqa: BLE001 - a storage outage lets requests through rather than refuse all
                log.exception("rate limit storage unreachable; request let through uncounted")
                counted.clear()
                return None
            counted.append(policy)
            if not admitted:
                return self._refusal(caller, policy)
        return None

    def _refusal(self, caller: str, policy: Policy):
        """429 `rate_limited`, with Retry-After: the seconds until the full window admits one more."""
        reset = self.strategy.get_window_stats(policy.item, self.prefix, caller, policy.group).reset_time
        retry_after = max(1, _seconds_until(reset))
        whose = "this API key" if caller.startswith("key:") else "this client address (no valid API key)"
        return problem(
            429,
            "rate_limited",
            "Too many requests",
            f"more than {policy.item} for {whose}; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    def write_fields(self, response):
        """after_request: `RateLimit-Policy: "default";q=50;w=1` and `RateLimit: "default";r=12;t=1`
        for each policy the request was counted against."""
        caller, counted = g.get("rate_limits", (None, ()))
        if not counted:
            return response
        try:
            stats = [self.strategy.get_window_stats(p.item, self.prefix, caller, p.group) for p in counted]
        except Exception:  # noqa: BLE001 - the storage went away: the answer goes out without the fields
            log.exception("rate limit storage unreachable; answering without RateLimit fields")
            return response
        response.headers["RateLimit-Policy"] = ", ".join(
            f'"{p.name}";q={p.item.amount};w={p.item.get_expiry()}' for p in counted
        )
        response.headers["RateLimit"] = ", ".join(
            f'"{p.name}";r={s.remaining};t={_seconds_until(s.reset_time)}'
            for p, s in zip(counted, stats, strict=True)
        )
        return response


def install(app: Flask, settings: Settings) -> RateLimits:
    """Registers the check as a before_request here, in the order app.py calls this (after auth,
    before idempotency), and the RateLimit fields on every limited answer."""
    limiter = RateLimits(settings)
    app.before_request(limiter.check)
    app.after_request(limiter.write_fields)
    app.extensions["rate_limits"] = limiter
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


def _is_bulk() -> bool:
    """The bulk and upload routes: those backend/api/limits.py marks with a body limit above SINGLE."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "body_limit", body_limits.SINGLE) > body_limits.SINGLE


def _caller() -> str:
    credential = g.get("credential")
    return f"key:{credential}" if credential else f"addr:{request.remote_addr}"


def _seconds_until(moment: float) -> int:
    return max(0, math.ceil(moment - time.time()))
