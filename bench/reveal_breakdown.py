"""Where a charging reveal's time goes, in-process (no HTTP server, no load): the app called as WSGI
with requests built beforehand, one thread, back to back. Prints µs per request for (a) GET /v1/me,
(b) a held reveal and (c) a charging reveal, their ratios, and on SQLite how long the charge holds
the write lock. Compare with bench/charge_throughput.py, which adds gunicorn and concurrent load:
the gap between the two is contention, not code.

Then what two per-request layers cost a charging reveal, in one run: c as served, c without the
request metrics and JSON log line (backend/api/observe.py and the after-commit credit counter), and
c without the API-key lookup and the rate limiter (auth answered from a caller looked up once, the
limiter's hooks removed) — alternated over --rounds rounds of n fresh people each, medians. The
metrics write into a multiprocess directory and the log lines are formatted and written (to
/dev/null), as under gunicorn. Targets (issues 15 and 17): key lookup with rate limiting ≤ 10 %,
metrics with logging ≤ 5 % of c.

    .venv/bin/python bench/reveal_breakdown.py [--engines sqlite,postgresql] [--n 3000] [--rounds 3]
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

from flask import g
from werkzeug.test import EnvironBuilder

# as under gunicorn: counters in memory-mapped files (set before prometheus-client is imported)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN, database, env  # noqa: E402

from backend.api import auth, observe  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.observe import logs  # noqa: E402
from backend.persistence.unit_of_work import WriterQueue  # noqa: E402
from backend.services import api_keys  # noqa: E402


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


class Layers:
    """Swaps one layer's hooks out of the app and back, between timed runs."""

    def __init__(self, app, store, token: str):
        self.app, self.store = app, store
        self.before = list(app.before_request_funcs[None])
        self.after = list(app.after_request_funcs[None])
        self.on_charges = store.on_charges
        limiter = app.extensions["rate_limits"]
        self.limiter_hooks = {limiter.check, limiter.write_fields}
        with app.app_context():
            caller = store.run(lambda uow: api_keys.authenticate(uow, token), write=False)
        digest = auth.credential_digest(token)

        def known_caller():
            """authenticate() without the key lookup: the caller it found once."""
            g.actor, g.api_key_id, g.credential = caller.actor, caller.key_id, digest

        self.known_caller = known_caller

    def use(self, variant: str) -> None:
        before, after, on_charges = list(self.before), list(self.after), self.on_charges
        if variant == "no metrics or logging":
            before.remove(observe._begin)
            after.remove(observe._finish)
            on_charges = None
        elif variant == "no key lookup or rate limit":
            before = [self.known_caller if f is auth.authenticate else f for f in before]
            before = [f for f in before if f not in self.limiter_hooks]
            after = [f for f in after if f not in self.limiter_hooks]
        self.app.before_request_funcs[None], self.app.after_request_funcs[None] = before, after
        self.store.on_charges = on_charges


VARIANTS = ("as served", "no metrics or logging", "no key lookup or rate limit")


def measure(url: str, n: int, rounds: int) -> dict:
    app = create_app(Settings.from_env(env(url)))
    store = app.extensions["store"]
    if store.writer is not None:
        store.writer = TimedWriterQueue(store.engine.url.database)
    admin = Client(app, ADMIN)
    total = (1 + len(VARIANTS) * rounds) * n + 1
    for start in range(0, total, 5000):
        batch = {"people": people(start, min(5000, total - start))}
        admin.call(admin.prepare("POST", "/v1/admin/directory", batch))
    account = {"name": "r", "admin_email": "r@x.example", "grants": {"email": 10 * total}}
    created = json.loads(admin.call(admin.prepare("POST", "/v1/admin/accounts", account)))
    token = created["users"][0]["api_token"]
    client = Client(app, token)
    reveal = "/v1/extension/reveal"

    def charging(start: int) -> list:
        return [client.prepare("POST", reveal, {"linkedin_url": p["linkedin_url"]}) for p in people(start, n)]

    held = client.prepare("POST", reveal, {"linkedin_url": people(0, 1)[0]["linkedin_url"]})
    client.call(held)  # charged once; held from now on
    me = [client.prepare("GET", "/v1/me") for _ in range(n)]
    per_request(client, me[: n // 10])  # warm up
    a = per_request(client, me)
    b = per_request(client, [held] * n)
    writer = store.writer
    if writer is not None:
        writer.held_for, writer.holds = 0.0, 0
    c = per_request(client, charging(1))
    hold = writer.held_for / writer.holds * 1e6 if writer is not None else None
    layers, times = Layers(app, store, token), {v: [] for v in VARIANTS}
    next_person = 1 + n
    for _ in range(rounds):
        for variant in VARIANTS:
            batch = charging(next_person)
            next_person += n
            layers.use(variant)
            times[variant].append(per_request(client, batch))
    layers.use("as served")
    store.engine.dispose()
    return {"a": a, "b": b, "c": c, "hold": hold, **{v: statistics.median(t) for v, t in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    logs.configure()
    for handler in logging.getLogger().handlers:  # formatted and written, as served; not shown
        if getattr(handler, "leadledger_json", False):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - open for the process's life
    results = {}
    print(f"{'engine':<11} {'a /v1/me':>9} {'b held':>8} {'c charge':>9}  {'b/a':>5} {'c/a':>5}  write lock")
    for engine in args.engines.split(","):
        with database(engine) as url:
            m = results[engine] = measure(url, args.n, args.rounds)
        hold = f"{m['hold']:.0f} µs per charge" if m["hold"] else "(no write lock: PostgreSQL)"
        print(
            f"{engine:<11} {m['a']:>7.0f}µs {m['b']:>6.0f}µs {m['c']:>7.0f}µs  {m['a'] / m['b']:>5.2f}"
            f" {m['a'] / m['c']:>5.2f}  {hold}"
        )
    print(f"\ncharging reveal c by layer (medians of {args.rounds} alternated rounds of {args.n}):")
    print(f"{'engine':<11} {'as served':>10} {'-metrics,log':>13} {'-key,limit':>11}  metrics+log  key+limit")
    for engine, m in results.items():
        served, observed, keyed = m["as served"], m["no metrics or logging"], m["no key lookup or rate limit"]
        print(
            f"{engine:<11} {served:>8.0f}µs {observed:>11.0f}µs {keyed:>9.0f}µs"
            f"  {(served - observed) / served:>10.1%}  {(served - keyed) / served:>8.1%}"
        )


if __name__ == "__main__":
    main()
