"""Where a charging reveal's time goes, in-process (no HTTP server, no load): the app called as WSGI
with requests built beforehand, one thread, back to back. Prints µs per request for (a) GET /v1/me,
(b) a held reveal and (c) a charging reveal, their ratios, and on SQLite how long the charge holds
the write lock. Compare with bench/charge_throughput.py, which adds gunicorn and concurrent load:
the gap between the two is contention, not code.

Then what two per-request layers cost a charging reveal, in one run: c as served; c without the
request metrics and JSON log line (backend/api/observe.py and the after-commit credit counter); and
c with the first wave's token check in place of the API keys' and no rate limiter ("before"): one
indexed lookup of the token's hash in its own read transaction, as backend/api/auth.py did before
keys could be revoked, expire or belong to a removed user. The three take turns request by request
(n charging reveals of fresh people each), so each meets the same database and machine; each
prints its median request (a rare pause, such as a garbage collection, is no layer's own cost). The
metrics write into a multiprocess directory and the log lines are formatted and written (to
/dev/null), as under gunicorn. Targets (issues 15 and 17): the key lookup with rate limiting adds
≤ 10 % to c before them, metrics with logging cost ≤ 5 % of c.

A fourth variant takes its turns too: the floor of metrics and logging, what any implementation of
api.md "Operations" must do per request and nothing more — a random request id set in the answer's
X-Request-ID, the request counter and latency histogram (the same prometheus-client series), and the
request line's fields encoded by orjson and written to the same stream, without `logging` or a
validation of a sent id. Its share tells how much of the 5 % this machine leaves to any code.

    .venv/bin/python bench/reveal_breakdown.py [--engines sqlite,postgresql] [--n 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
from flask import g, request
from sqlalchemy import bindparam, select
from werkzeug.test import EnvironBuilder

# as under gunicorn: counters in memory-mapped files (set before prometheus-client is imported)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN, database, env  # noqa: E402

from backend.api import auth, observe  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.observe import logs, metrics  # noqa: E402
from backend.persistence.unit_of_work import WriterQueue  # noqa: E402
from backend.services import api_keys  # noqa: E402
from backend.services.api_keys import KEYS  # noqa: E402


class Client:
    """Calls the app as a WSGI server would, with each request's environ built before timing."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    def prepare(self, method: str, path: str, body=None) -> tuple[dict, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"}
        environ = EnvironBuilder(method=method, path=path, headers=headers, json=body).get_environ()
        return environ, environ["wsgi.input"].read()

    def call(self, prepared: tuple[dict, bytes]) -> bytes:
        environ, data = prepared
        environ = {**environ, "wsgi.input": io.BytesIO(data)}
        status = []
        out = b"".join(self.app(environ, lambda s, h, exc=None: status.append(s)))
        if not status[0].startswith(("200", "201")):
            raise SystemExit(f"{status[0]}: {out[:300]!r}")
        return out


def quiet_logs() -> None:
    """The JSON log lines formatted and written as served, to /dev/null instead of the terminal."""
    logs.configure()
    for handler in logging.getLogger().handlers:
        if getattr(handler, "leadledger_json", False):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - open for the process's life


def per_request(client: Client, requests: list) -> float:
    start = time.perf_counter()
    for r in requests:
        client.call(r)
    return (time.perf_counter() - start) / len(requests) * 1e6


class TimedWriterQueue(WriterQueue):
    """The writer queue, timing how long each holder keeps the lock."""

    held_for, holds, since = 0.0, 0, 0.0

    def acquire(self) -> None:
        super().acquire()
        self.since = time.perf_counter()

    def release(self) -> None:
        self.held_for += time.perf_counter() - self.since
        self.holds += 1
        super().release()


def people(start: int, count: int) -> list[dict]:
    return [
        {
            "linkedin_url": f"https://www.linkedin.com/in/r-{i}",
            "full_name": f"R {i}",
            "title": "T",
            "company": "C",
            "email": f"r{i}@x.example",
        }
        for i in range(start, start + count)
    ]


FIRST_WAVE_LOOKUP = select(KEYS.c.user_id, KEYS.c.account_id).where(KEYS.c.hash == bindparam("h"))


class Floor:
    """The floor of per-request observation: the id, the two request metrics, one JSON line."""

    def __init__(self):
        self.stream = open(os.devnull, "wb")  # noqa: SIM115 - open for the process's life

    def begin(self) -> None:
        g.started, g.request_id = time.perf_counter(), os.urandom(16).hex()

    def finish(self, response):
        elapsed, status, route = time.perf_counter() - g.started, response.status_code, request.url_rule.rule
        response.headers[observe.HEADER] = g.request_id
        metrics.request_answered(route, request.method, status, elapsed)
        actor = g.actor
        line = {
            "time": time.time(),
            "request_id": g.request_id,
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": elapsed * 1000,
            "account_id": actor.account_id,
            "user_id": actor.user_id,
        }
        self.stream.write(orjson.dumps(line) + b"\n")
        self.stream.flush()
        return response


class Layers:
    """Swaps one layer's hooks out of the app and back, between timed requests."""

    def __init__(self, app, store, token: str):
        self.app, self.store = app, store
        self.before = list(app.before_request_funcs[None])
        self.after = list(app.after_request_funcs[None])
        self.on_charges = store.on_charges
        limiter = app.extensions["rate_limits"]
        self.limiter_hooks = {limiter.check, limiter.write_fields}
        with app.app_context():
            caller = store.run(lambda uow: api_keys.authenticate(uow, token), write=False)

        def first_wave_auth():
            """One indexed lookup by the token's hash (no revocation, expiry or user state), then
            the caller it names."""
            hashed = api_keys.hash_token(auth._bearer())
            if not store.run(lambda uow: uow.fetch(FIRST_WAVE_LOOKUP, {"h": hashed}), write=False):
                raise SystemExit("the bench's key was not found")
            g.actor, g.api_key_id = caller.actor, caller.key_id

        self.first_wave_auth = first_wave_auth
        self.floor = Floor()

    def use(self, variant: str) -> None:
        before, after, on_charges = list(self.before), list(self.after), self.on_charges
        if variant == NO_OBSERVE:
            before.remove(observe._begin)
            after.remove(observe._finish)
            on_charges = None
        elif variant == FLOOR:
            before = [self.floor.begin if f is observe._begin else f for f in before]
            after = [self.floor.finish if f is observe._finish else f for f in after]
        elif variant == BEFORE_KEYS:
            before = [self.first_wave_auth if f is auth.authenticate else f for f in before]
            before = [f for f in before if f not in self.limiter_hooks]
            after = [f for f in after if f not in self.limiter_hooks]
        self.app.before_request_funcs[None], self.app.after_request_funcs[None] = before, after
        self.store.on_charges = on_charges


SERVED, NO_OBSERVE, BEFORE_KEYS = "as served", "no metrics or logging", "first-wave token check, no limiter"
FLOOR = "the floor of metrics and logging"
VARIANTS = (SERVED, NO_OBSERVE, BEFORE_KEYS, FLOOR)


def measure(url: str, n: int) -> dict:
    app = create_app(Settings.from_env(env(url)))
    store = app.extensions["store"]
    if store.writer is not None:
        store.writer = TimedWriterQueue(store.engine.url.database)
    admin = Client(app, ADMIN)
    total = (1 + len(VARIANTS)) * n + 1
    for start in range(0, total, 5000):
        batch = {"people": people(start, min(5000, total - start))}
        admin.call(admin.prepare("POST", "/v1/admin/directory", batch))
    account = {"name": "r", "admin_email": "r@x.example", "grants": {"email": 10 * total}}
    created = json.loads(admin.call(admin.prepare("POST", "/v1/admin/accounts", account)))
    token = created["users"][0]["api_token"]
    client = Client(app, token)
    reveal = "/v1/extension/reveal"

    def charging(start: int, count: int) -> list:
        return [
            client.prepare("POST", reveal, {"linkedin_url": p["linkedin_url"]}) for p in people(start, count)
        ]

    held = client.prepare("POST", reveal, {"linkedin_url": people(0, 1)[0]["linkedin_url"]})
    client.call(held)  # charged once; held from now on
    me = [client.prepare("GET", "/v1/me") for _ in range(n)]
    per_request(client, me[: n // 10])  # warm up
    a = per_request(client, me)
    b = per_request(client, [held] * n)
    writer = store.writer
    if writer is not None:
        writer.held_for, writer.holds = 0.0, 0
    c = per_request(client, charging(1, n))
    hold = writer.held_for / writer.holds * 1e6 if writer is not None else None
    layers, times = Layers(app, store, token), {v: [] for v in VARIANTS}
    turns = [(VARIANTS[i % len(VARIANTS)], r) for i, r in enumerate(charging(1 + n, len(VARIANTS) * n))]
    for variant, prepared in turns:
        layers.use(variant)
        start = time.perf_counter()
        client.call(prepared)
        times[variant].append((time.perf_counter() - start) * 1e6)
    layers.use(SERVED)
    store.engine.dispose()
    return {"a": a, "b": b, "c": c, "hold": hold, **{v: statistics.median(t) for v, t in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args()
    quiet_logs()
    results = {}
    print(f"{'engine':<11} {'a /v1/me':>9} {'b held':>8} {'c charge':>9}  {'b/a':>5} {'c/a':>5}  write lock")
    for engine in args.engines.split(","):
        with database(engine) as url:
            m = results[engine] = measure(url, args.n)
        hold = f"{m['hold']:.0f} µs per charge" if m["hold"] else "(no write lock: PostgreSQL)"
        print(
            f"{engine:<11} {m['a']:>7.0f}µs {m['b']:>6.0f}µs {m['c']:>7.0f}µs  {m['a'] / m['b']:>5.2f}"
            f" {m['a'] / m['c']:>5.2f}  {hold}"
        )
    print(f"\ncharging reveal c by layer (median of {args.n} requests each, taking turns):")
    head = f"{'engine':<11} {'as served':>10} {'-metrics,log':>13} {'before keys':>12} {'floor':>8}"
    print(head + "  metrics+log (floor's)  keys+limiter")
    for engine, m in results.items():
        served, observed, before, floor = m[SERVED], m[NO_OBSERVE], m[BEFORE_KEYS], m[FLOOR]
        print(
            f"{engine:<11} {served:>8.0f}µs {observed:>11.0f}µs {before:>10.0f}µs {floor:>6.0f}µs"
            f"  {(served - observed) / served:>10.1%} ({(floor - observed) / floor:.1%})"
            f"  {(served - before) / before:>+11.1%}"
        )


if __name__ == "__main__":
    main()
