"""How many Python function calls (ours and C functions alike) a request makes, ours against the bare
ceiling's and the stack's (bench/reveal_ceiling.py), and in which layers: for (a) GET /v1/me and (c) a
charging reveal, in-process, as reveal_breakdown.py calls the app.

A count, not a time: it comes out the same on a fast minute of this machine and a slow one (timings
here swing by half within minutes, which hides a change of a few percent), and calls are what costs
CPU in a process whose requests are CPU-bound. A call is charged to the innermost layer on the
stack when it is made (a statement run by the charge guard counts to "units of work, statements").

On SQLite it also counts the calls made while the write lock is held (ours and the ceiling's both
queue on backend/persistence/unit_of_work.py's WriterQueue): under load SQLite's charging reveals
are bound by how long each charge holds that lock, which the GIL's other threads stretch (README
"Measured"), so a call taken out of the lock counts twice over there.

    .venv/bin/python bench/reveal_calls.py [--engines sqlite,postgresql] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reveal_ceiling  # noqa: E402
from common import ADMIN, database, env  # noqa: E402
from reveal_breakdown import Client, people, quiet_logs  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.config import Settings  # noqa: E402

# (a piece of the file's path, the function or "" for any) -> layer, looked up from the innermost frame
# out (marshmallow counts to whoever called it: parsing the body, or rendering the answer)
LAYERS = (
    ("backend/api/observe.py", "", "request id, metrics, log line"),
    ("backend/api/rate_limits.py", "", "rate limiter"),
    ("backend/api/auth.py", "", "API key"),
    ("backend/api/limits.py", "", "other hooks"),
    ("backend/api/idempotency.py", "", "other hooks"),
    ("backend/app.py", "", "other hooks"),
    ("backend/web/", "", "other hooks"),
    ("backend/api/", "", "the route"),
    ("webargs/", "", "body parsing, validation"),
    ("flask_smorest/response.py", "", "answer rendering"),
    ("flask/json/", "", "answer rendering"),
    ("backend/persistence/", "", "units of work, statements"),
    ("adapters/contacts/", "", "contact lookup"),
    ("backend/services/", "", "rules, use cases"),
    ("backend/domain/", "", "rules, use cases"),
    # the bare servers' Storage: their statements and transactions, counted as ours are
    *(
        ("bench/reveal_ceiling.py", f, "units of work, statements")
        for f in ("conn", "one", "all", "run", "write")
    ),
    ("bench/reveal_ceiling.py", "", "the route"),
)


IN_LOCK = "inside the write lock"  # counted besides its layer


def layer_of(frame) -> str:
    while frame is not None:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        for part, function, layer in LAYERS:
            if part in path and function in ("", name):
                return layer
        frame = frame.f_back
    return "Flask, Werkzeug"


class LockWatch:
    """A writer queue, `held` while a transaction holds SQLite's write lock."""

    def __init__(self, writer):
        self.writer, self.held = writer, False

    def acquire(self) -> None:
        self.writer.acquire()
        self.held = True

    def release(self) -> None:
        self.held = False
        self.writer.release()


WATCHING = {LockWatch.acquire.__code__, LockWatch.release.__code__}  # the watch's own calls: not counted


def count_calls(client: Client, requests: list, lock: LockWatch | None = None) -> Counter:
    """Calls per request by layer, and those made inside the write lock as IN_LOCK (every request
    is called once before, so caches are warm)."""
    counted: Counter = Counter()

    def profile(frame, event, _arg):
        if event in ("call", "c_call") and frame.f_code not in WATCHING:
            counted[layer_of(frame)] += 1
            if lock is not None and lock.held:
                counted[IN_LOCK] += 1

    client.call(requests[0])
    sys.setprofile(profile)
    try:
        for r in requests[1:]:
            client.call(r)
    finally:
        sys.setprofile(None)
    return Counter({layer: n / (len(requests) - 1) for layer, n in counted.items()})


def measure(url: str, n: int) -> dict:
    app = create_app(Settings.from_env(env(url)))
    admin = Client(app, ADMIN)
    admin.call(admin.prepare("POST", "/v1/admin/directory", {"people": people(0, 3 * n + 3)}))
    account = {"name": "r", "admin_email": "r@x.example", "grants": {"email": 10 * n}}
    created = json.loads(admin.call(admin.prepare("POST", "/v1/admin/accounts", account)))
    token = created["users"][0]["api_token"]
    keys = reveal_ceiling.Storage(url)
    for sql in reveal_ceiling.KEYS:
        keys.run_sql(sql)
    out = {}
    ceiling, stack = reveal_ceiling.create_app(url), reveal_ceiling.create_stack_app(url)
    for name, client, storage, first in (
        ("ours", Client(app, token), app.extensions["store"], 0),
        ("ceiling", Client(ceiling, token), ceiling.extensions["storage"], n + 1),
        ("stack", Client(stack, token), stack.extensions["storage"], 2 * n + 2),
    ):
        lock = None
        if getattr(storage, "writer", None) is not None:  # SQLite
            lock = storage.writer = LockWatch(storage.writer)
        me = [client.prepare("GET", "/v1/me") for _ in range(n)]
        reveals = [
            client.prepare("POST", "/v1/extension/reveal", {"linkedin_url": p["linkedin_url"]})
            for p in people(first, n)
        ]
        out[name] = {"a": count_calls(client, me, lock), "c": count_calls(client, reveals, lock)}
    app.extensions["store"].engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    quiet_logs()
    for engine in args.engines.split(","):
        with database(engine) as url:
            m = measure(url, args.n)
        for request in ("a", "c"):
            locked = {s: m[s][request].pop(IN_LOCK, 0) for s in m}
            ours, ceiling, stack = (sum(m[s][request].values()) for s in ("ours", "ceiling", "stack"))
            print(
                f"{engine:<11} {request}: ours {ours:.0f} calls a request, the ceiling's {ceiling:.0f}"
                f" (ceiling/ours {ceiling / ours:.2f}), the stack's {stack:.0f}"
                f" (stack/ours {stack / ours:.2f})"
            )
            print("    ours: " + ", ".join(f"{k} {v:.0f}" for k, v in m["ours"][request].most_common()))
            print("    the stack: " + ", ".join(f"{k} {v:.0f}" for k, v in m["stack"][request].most_common()))
            if locked["ours"]:
                print(
                    f"    inside SQLite's write lock: ours {locked['ours']:.0f},"
                    f" the ceiling's {locked['ceiling']:.0f}, the stack's {locked['stack']:.0f}"
                )


if __name__ == "__main__":
    main()
