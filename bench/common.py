"""Shared bench plumbing: a fresh database per engine, our server under gunicorn, admin calls."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "bench-admin"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
PY = sys.executable
BENCH_KEY = Fernet.generate_key().decode()  # SECRET_KEYS of the server and worker a bench starts
BENCH_SUPPRESSION_KEY = secrets.token_hex(32)  # SUPPRESSION_KEY of the same (R27)


@contextmanager
def database(engine: str):
    """A migrated, empty database: a temp SQLite file, or a throwaway PostgreSQL database."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            migrate(url)
            yield url
        return
    name = "bench_" + secrets.token_hex(4)
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        migrate(f"{PG_SERVER}/{name}")
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# Benches drive one key far past any sensible per-key limit: the figures are the charge path's, not
# the rate limiter's refusals (../shared/guides/performance.md).
RATE_LIMIT = "1000000/second"


def env(url: str) -> dict:
    """The servers, workers and in-process apps a bench starts: rate limits (api.md) far above any
    bench's load, so that a bench measures the work and not 429s (the limiter's storage call is
    still made on every request)."""
    e = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CORS_ORIGINS")}
    e.update(
        DATABASE_URL=url,
        CREDITS_ADMIN_TOKEN=ADMIN,
        SECRET_KEYS=BENCH_KEY,
        SUPPRESSION_KEY=BENCH_SUPPRESSION_KEY,
        RATE_LIMIT=RATE_LIMIT,
        RATE_LIMIT_BULK=RATE_LIMIT,
    )
    return e


def migrate(url: str) -> None:
    subprocess.run(
        [PY, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env(url),
        check=True,
        capture_output=True,
    )


@contextmanager
def served(url: str, port: int = 8911, workers: int = 2, threads: int = 8, target: str = "wsgi:app"):
    """`target` (default: our app) under gunicorn, reachable once its /healthz answers."""
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            target,
        ],
        cwd=ROOT,
        env=env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: gunicorn's graceful stop overran
            os.killpg(proc.pid, 9)
            proc.wait(10)


def admin_post(base: str, path: str, body: dict) -> dict:
    r = requests.post(base + path, json=body, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)
    r.raise_for_status()
    return r.json()


def processes(pattern: str) -> set[int]:
    """The pids whose command line holds `pattern` (`pgrep -f`): a served() instance by its port."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found}


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU the processes have used so far (/proc/<pid>/stat); a process gone counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU per request of one wrk run, split between the app server's processes (where SQLite's work
    is done too) and PostgreSQL's. A slow spell of this machine raises it too (it came out 1.2 ms
    and 3.9 ms per charging reveal an hour apart), so compare servers within one run."""

    def __init__(self, port: int):
        self.port = port

    def around(self, run_wrk, seconds: int):
        """`run_wrk()`'s Run (of `seconds`), and (app µs, database µs) per request."""
        server, database = processes(f"127.0.0.1:{self.port} "), processes("^postgres")
        before = cpu_seconds(server), cpu_seconds(database)
        run = run_wrk()
        database |= processes("^postgres")  # a backend started during the run
        after, requests = (cpu_seconds(server), cpu_seconds(database)), run.rate * seconds
        return run, tuple((a - b) / requests * 1e6 for a, b in zip(after, before, strict=True))
