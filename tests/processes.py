"""Starting our own server and worker processes in tests: each in its own process group, always killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ADMIN, HIGH_RATE_LIMIT, ORIGIN, SECRET_KEYS, SUPPRESSION_KEY

ROOT = Path(__file__).resolve().parent.parent


def env_for(db_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CORS_ORIGINS")}
    env.update(
        DATABASE_URL=db_url,
        CREDITS_ADMIN_TOKEN=ADMIN,
        CORS_ORIGINS=ORIGIN,
        CRM_ALLOW_PRIVATE_NETWORKS="true",
        SECRET_KEYS=",".join(SECRET_KEYS),
        SUPPRESSION_KEY=SUPPRESSION_KEY,
        RATE_LIMIT=HIGH_RATE_LIMIT,  # a test of the limits passes its own (extra)
        RATE_LIMIT_BULK=HIGH_RATE_LIMIT,
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
    )


def start_worker(db_url: str, log: Path, **extra) -> subprocess.Popen:
    return start(["flask", "--app", "wsgi", "worker"], env_for(db_url, **extra), log)


def kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, log: Path, workers: int = 4, threads: int = 4, **extra) -> tuple:
    """gunicorn with the repository's gunicorn.conf.py serving wsgi:app, its metrics directory next
    to the log (a killed server leaves nothing behind); answers (process, base URL) once /healthz
    answers."""
    import requests

    port = free_port()
    metrics_dir = log.parent / f"{log.stem}-metrics"
    metrics_dir.mkdir(exist_ok=True)
    env = env_for(db_url, **{"PROMETHEUS_MULTIPROC_DIR": metrics_dir, **extra})
    env.update(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers), WEB_THREADS=str(threads))
    proc = start(["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env, log)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(base + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return proc.poll() is not None and AssertionError(log.read_text())

    try:
        wait_for(up, 90, "gunicorn to answer /healthz")  # a loaded 2-core machine boots slowly
    except AssertionError:
        kill(proc)
        raise AssertionError(f"server did not start: {log.read_text()[-2000:]}") from None
    return proc, base
