"""api.md "Operations" under the real server: gunicorn started with gunicorn.conf.py sums /metrics
over its worker processes; its stderr holds JSON request lines and nothing secret (no access log
with query strings); a worker whose queue does not answer says so and exits non-zero."""

import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.processes import free_port, kill, start_server, start_worker, wait_for

ME = 'leadledger_http_requests_total{method="GET",route="/v1/me",status="401"}'


@pytest.fixture
def server(sqlite_url, tmp_path):
    """Two sync workers (one thread each): concurrent requests must be spread over both processes."""
    proc, base = start_server(sqlite_url, tmp_path / "server.log", workers=2, threads=1)
    yield base, tmp_path / "server.log", tmp_path / "server-metrics"
    kill(proc)


def counted(base: str) -> float:
    for line in requests.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith(ME + " "):
            return float(line.split()[-1])
    return 0.0


def pids_that_counted(metrics_dir) -> set[str]:
    return {m.group(1) for f in metrics_dir.iterdir() if (m := re.match(r"counter_(\d+)\.db$", f.name))}


@pytest.mark.timeout(120)
def test_metrics_sum_the_requests_of_both_gunicorn_workers(server):
    """A sync worker holding a half-sent request serves nothing else, so the requests sent meanwhile
    are all answered by the other worker (however the kernel would have spread them), and the held
    one by the first: both processes count, and /metrics must add them up."""
    base, _, metrics_dir = server
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as held:
        held.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\n")  # no blank line yet: its worker waits
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: requests.get(base + "/v1/me", timeout=30).status_code, range(24))
            )
        assert set(answers) == {401}
        held.sendall(b"Connection: close\r\n\r\n")
        assert int(held.recv(64).split()[1]) == 401
    assert len(pids_that_counted(metrics_dir)) == 2
    assert counted(base) == len(answers) + 1


@pytest.mark.timeout(120)
def test_served_logs_are_json_request_lines_without_tokens_or_query_strings(server):
    base, log, _ = server
    r = requests.get(
        base + "/v1/me?code=oauth-code-42&state=s",
        headers={"Authorization": "Bearer tok-not-valid", "X-Request-ID": "trace-me-1"},
        timeout=10,
    )
    assert r.status_code == 401 and r.json()["request_id"] == "trace-me-1"

    def line():
        for text in log.read_text().splitlines():
            if text.startswith("{") and json.loads(text).get("request_id") == "trace-me-1":
                return json.loads(text)
        return None

    found = wait_for(line, 10, "the request's JSON log line")
    assert {k: found[k] for k in ("method", "route", "status")} == {
        "method": "GET",
        "route": "/v1/me",
        "status": 401,
    }
    assert found["time"] and "duration_ms" in found
    assert malformed(base, b"GET/v1/me?code=oauth-code-43") == 400  # gunicorn quotes this line in its log
    wait_for(lambda: "Invalid HTTP request line" in log.read_text(), 10, "gunicorn's warning")
    logged = log.read_text()
    assert "oauth-code-4" not in logged and "tok-not-valid" not in logged and "code=" not in logged


def malformed(base: str, request_line: bytes) -> int:
    """Send a request line gunicorn answers itself; its status."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        return int(s.recv(64).split()[1])


@pytest.mark.timeout(120)
def test_a_request_line_over_the_limit_is_gunicorns_own_414_before_the_app(server):
    """README "Operations": no problem+json, CORS or X-Request-ID on it — the app never sees it."""
    base, _, _ = server
    r = requests.get(base + "/v1/me?code=" + "a" * 4100, timeout=10)
    assert r.status_code == 414 and "X-Request-ID" not in r.headers
    assert not r.headers["Content-Type"].startswith("application/problem+json")
    assert requests.get(base + "/v1/me?code=" + "a" * 4000, timeout=10).status_code == 401


@pytest.mark.timeout(60)
def test_a_worker_whose_redis_does_not_answer_exits_non_zero_saying_so(sqlite_url, tmp_path):
    log = tmp_path / "worker.log"
    proc = start_worker(sqlite_url, log, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert proc.wait(30) != 0
    finally:
        kill(proc)
    assert "job queue does not answer" in log.read_text()
