"""Where a charging reveal's time goes, in-process (no HTTP server, no load): the app called as WSGI
with requests built beforehand, one thread, back to back. Prints µs per request for (a) GET /v1/me,
(b) a held reveal and (c) a charging reveal, their ratios, and on SQLite how long the charge holds
the write lock. Compare with bench/charge_throughput.py, which adds gunicorn and concurrent load:
the gap between the two is contention, not code.

    .venv/bin/python bench/reveal_breakdown.py [--engines sqlite,postgresql] [--n 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN, database, env  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.persistence.unit_of_work import WriterQueue  # noqa: E402


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


def measure(url: str, n: int) -> dict:
    app = create_app(Settings.from_env(env(url)))
    store = app.extensions["store"]
    if store.writer is not None:
        store.writer = TimedWriterQueue(store.engine.url.database)
    admin = Client(app, ADMIN)
    people = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/r-{i}",
            "full_name": f"R {i}",
            "title": "T",
            "company": "C",
            "email": f"r{i}@x.example",
        }
        for i in range(n + 1)
    ]
    admin.call(admin.prepare("POST", "/v1/admin/directory", {"people": people}))
    account = {"name": "r", "admin_email": "r@x.example", "grants": {"email": 10 * n}}
    created = json.loads(admin.call(admin.prepare("POST", "/v1/admin/accounts", account)))
    client = Client(app, created["users"][0]["api_token"])
    reveal = "/v1/extension/reveal"
    held = client.prepare("POST", reveal, {"linkedin_url": people[0]["linkedin_url"]})
    client.call(held)  # charged once; held from now on
    me = [client.prepare("GET", "/v1/me") for _ in range(n)]
    charging = [client.prepare("POST", reveal, {"linkedin_url": p["linkedin_url"]}) for p in people[1:]]
    per_request(client, me[: n // 10])  # warm up
    a = per_request(client, me)
    b = per_request(client, [held] * n)
    writer = store.writer
    if writer is not None:
        writer.held_for, writer.holds = 0.0, 0
    c = per_request(client, charging)
    hold = writer.held_for / writer.holds * 1e6 if writer is not None else None
    store.engine.dispose()
    return {"a": a, "b": b, "c": c, "hold": hold}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args()
    print(f"{'engine':<11} {'a /v1/me':>9} {'b held':>8} {'c charge':>9}  {'b/a':>5} {'c/a':>5}  write lock")
    for engine in args.engines.split(","):
        with database(engine) as url:
            m = measure(url, args.n)
        hold = f"{m['hold']:.0f} µs per charge" if m["hold"] else "(no write lock: PostgreSQL)"
        print(
            f"{engine:<11} {m['a']:>7.0f}µs {m['b']:>6.0f}µs {m['c']:>7.0f}µs  {m['a'] / m['b']:>5.2f}"
            f" {m['a'] / m['c']:>5.2f}  {hold}"
        )


if __name__ == "__main__":
    main()
