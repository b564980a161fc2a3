"""Charge throughput under gunicorn (2 workers x 8 threads), on SQLite and on PostgreSQL.

Drives, with the same load (wrk -t2 -c16), (a) GET /v1/me — authenticated, touches nothing else;
(b) a reveal of a lead the account already holds; (c) a reveal that charges (a new lead each
request, one hot account). Prints requests/s and the ratios b/a and c/a, measured in one run.
Target: c/a >= 0.5 on both engines. Needs `wrk` (Debian package `wrk`).

    .venv/bin/python bench/charge_throughput.py [--seconds 5] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import admin_post, database, served  # noqa: E402

PEOPLE = 60_000
CHARGE_LUA = """
-- each wrk thread walks its own stride of the people, so no lead is revealed twice
local threads, n = 0, 0
id = 0  -- set per thread by setup(); a global, so thread:set reaches it
function setup(thread) thread:set("id", threads); threads = threads + 1 end
request = function()
  local i = id + 2 * n
  n = n + 1
  local body = '{"linkedin_url": "https://www.linkedin.com/in/bench-' .. (i % __PEOPLE__) .. '"}'
  return wrk.format("POST", "/v1/extension/reveal", nil, body)
end
"""
FIXED_LUA = """
wrk.method = "%s"
wrk.body = %s
"""


def seed(base: str) -> str:
    for start in range(0, PEOPLE, 20_000):
        admin_post(
            base,
            "/v1/admin/directory",
            {
                "people": [
                    {
                        "linkedin_url": f"https://www.linkedin.com/in/bench-{i}",
                        "full_name": f"B {i}",
                        "title": "T",
                        "company": "C",
                        "email": f"b{i}@x.example",
                    }
                    for i in range(start, start + 20_000)
                ]
            },
        )
    account = admin_post(
        base,
        "/v1/admin/accounts",
        {"name": "bench", "admin_email": "b@x.example", "grants": {"email": 10_000_000}},
    )
    return account["users"][0]["api_token"]


def wrk(base: str, path: str, token: str, lua: str, seconds: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "-s",
            f.name,
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "Content-Type: application/json",
            base + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{path}: {non2xx.group(1)} failed requests\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def measure(engine: str, seconds: int) -> dict:
    with database(engine) as url, served(url) as base:
        token = seed(base)
        held = "https://www.linkedin.com/in/bench-0"
        import requests

        requests.post(
            base + "/v1/extension/reveal",
            json={"linkedin_url": held},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).raise_for_status()
        a = wrk(base, "/v1/me", token, FIXED_LUA % ("GET", "nil"), seconds)
        b = wrk(
            base,
            "/v1/extension/reveal",
            token,
            FIXED_LUA % ("POST", json.dumps(json.dumps({"linkedin_url": held}))),
            seconds,
        )
        c = wrk(base, "/v1/extension/reveal", token, CHARGE_LUA.replace("__PEOPLE__", str(PEOPLE)), seconds)
        balance = requests.get(
            base + "/v1/credits", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()["balance"]["email"]
        return {"a": a, "b": b, "c": c, "charged": 10_000_000 - balance}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--engines", default="sqlite,postgresql")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: apt-get install wrk")
    print(
        f"{'engine':<11} {'a no-op/s':>10} {'b held/s':>10} {'c charge/s':>11} {'b/a':>6} {'c/a':>6}  charged"
    )
    for engine in args.engines.split(","):
        m = measure(engine, args.seconds)
        print(
            f"{engine:<11} {m['a']:>10.0f} {m['b']:>10.0f} {m['c']:>11.0f} {m['b'] / m['a']:>6.2f} "
            f"{m['c'] / m['a']:>6.2f}  {m['charged']:.0f} credits (target c/a >= 0.5)"
        )


if __name__ == "__main__":
    main()
