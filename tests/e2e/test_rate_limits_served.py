"""api.md "Rate limits" under gunicorn: with REDIS_URL, 2 worker processes x 8 threads share one count,
so 5x the limit for 3 seconds gets through no more than the limit allows; without it, one process
(the README's embedded case) holds the limit the same way. Every 429 is a problem with Retry-After
and CORS headers, and every answer carries the IETF RateLimit fields."""

from __future__ import annotations

import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ADMIN, ORIGIN, redis_or_skip
from tests.processes import kill, start_server

LIMIT = 20  # per second
SECONDS = 3
RATE = 5 * LIMIT  # requests per second sent


@pytest.fixture
def redis_server(db_url, tmp_path):
    """gunicorn 2x8 counting in Redis under a queue name of this test's own (its keys removed after)."""
    import redis

    url = redis_or_skip()
    queue = "ll-test-rl-" + uuid.uuid4().hex[:8]
    proc, base = start_server(
        db_url,
        tmp_path / "server.log",
        workers=2,
        threads=8,
        REDIS_URL=url,
        QUEUE_NAME=queue,
        RATE_LIMIT=f"{LIMIT}/second",
    )
    yield base
    kill(proc)
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*{queue}*", count=1000):
        client.delete(key)


@pytest.fixture
def memory_server(db_url, tmp_path):
    proc, base = start_server(
        db_url, tmp_path / "server.log", workers=1, threads=8, RATE_LIMIT=f"{LIMIT}/second"
    )
    yield base
    kill(proc)


def new_key(base: str) -> dict:
    r = requests.post(
        base + "/v1/admin/accounts",
        json={"name": "rl", "admin_email": "a@x.example", "grants": {"email": 1}},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return {"Authorization": "Bearer " + r.json()["users"][0]["api_token"], "Origin": ORIGIN}


def flood(base: str, headers: dict) -> list[requests.Response]:
    """RATE requests a second, evenly paced, for SECONDS seconds, from 32 threads; each answer
    carries `span`: (sent, answered) in seconds from the start."""
    start = time.monotonic()

    def call(i: int) -> requests.Response:
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load, not waiting for the server's state
        sent = time.monotonic()
        # a connection per request, as separate clients would: gunicorn's workers share the load
        r = requests.get(base + "/v1/me", headers={**headers, "Connection": "close"}, timeout=30)
        r.span = (sent - start, time.monotonic() - start)
        return r

    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(call, range(RATE * SECONDS)))


def assert_limited(answers: list[requests.Response]) -> None:
    """Each 2xx was admitted between its sending and its answer (r.span). Counted over the whole
    windows the load took (D seconds: longer than SECONDS on a busy machine), at most one window's
    allowance beyond the limit got through; and no answers that were sent and received within one
    second number more than LIMIT (the moving window)."""
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    took = max(r.span[1] for r in answers)
    assert LIMIT * (SECONDS - 1) <= len(ok) <= LIMIT * (math.ceil(took) + 1), (len(ok), took)
    for a in sorted(r.span[0] for r in ok):
        within = [r for r in ok if r.span[0] >= a and r.span[1] < a + 1]
        assert len(within) <= LIMIT, (a, [r.span for r in within])
    assert refused and all(r.status_code == 429 for r in refused), {r.status_code for r in refused}
    for r in refused:
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.json()["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    for r in answers:
        assert r.headers["RateLimit-Policy"] == f'"default";q={LIMIT};w=1'
        assert r.headers["RateLimit"].startswith('"default";r=')


@pytest.mark.timeout(120)
def test_redis_shares_the_count_across_two_gunicorn_processes(redis_server):
    assert_limited(flood(redis_server, new_key(redis_server)))


@pytest.mark.timeout(120)
def test_the_embedded_count_holds_the_limit_in_one_process(memory_server):
    assert_limited(flood(memory_server, new_key(memory_server)))
