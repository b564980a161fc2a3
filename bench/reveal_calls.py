"""How many Python function calls (ours and C functions alike) a request makes, ours against the bare
ceiling's (bench/reveal_ceiling.py), and in which of our layers: for (a) GET /v1/me and (c) a
charging reveal, in-process, as reveal_breakdown.py calls the app.

A count, not a time: it comes out the same on a fast minute of this machine and a slow one (timings
here swing by half within minutes, which hides a change of a few percent), and calls are what costs
CPU in a process whose requests are CPU-bound. A call is charged to the innermost layer on the
stack when it is made (a statement run by the charge guard counts to "units of work, statements").

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
    ("bench/reveal_ceiling.py", "", "the route"),
)


def layer_of(frame) -> str:
    while frame is not None:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        for part, function, layer in LAYERS:
            if part in path and function in ("", name):
                return layer
        frame = frame.f_back
    return "Flask, Werkzeug"


def count_calls(client: Client, requests: list) -> Counter:
    """Calls per request by layer (every request is called once before, so caches are warm)."""
    counted: Counter = Counter()

    def profile(frame, event, _arg):
        if event in ("call", "c_call"):
            counted[layer_of(frame)] += 1

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
    admin.call(admin.prepare("POST", "/v1/admin/directory", {"people": people(0, 2 * n + 2)}))
    account = {"name": "r", "admin_email": "r@x.example", "grants": {"email": 10 * n}}
    created = json.loads(admin.call(admin.prepare("POST", "/v1/admin/accounts", account)))
    token = created["users"][0]["api_token"]
    keys = reveal_ceiling.Storage(url)
    for sql in reveal_ceiling.KEYS:
        keys.run_sql(sql)
    out = {}
    for name, client, first in (
        ("ours", Client(app, token), 0),
        ("ceiling", Client(reveal_ceiling.create_app(url), token), n + 1),
    ):
        me = [client.prepare("GET", "/v1/me") for _ in range(n)]
        reveals = [
            client.prepare("POST", "/v1/extension/reveal", {"linkedin_url": p["linkedin_url"]})
            for p in people(first, n)
        ]
        out[name] = {"a": count_calls(client, me), "c": count_calls(client, reveals)}
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
            ours, ceiling = (sum(m[s][request].values()) for s in ("ours", "ceiling"))
            print(
                f"{engine:<11} {request}: ours {ours:.0f} calls a request, the ceiling's {ceiling:.0f}"
                f" (ceiling/ours {ceiling / ours:.2f})"
            )
            print("    ours: " + ", ".join(f"{k} {v:.0f}" for k, v in m["ours"][request].most_common()))


if __name__ == "__main__":
    main()
