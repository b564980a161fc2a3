"""Scale-out (api.md "Operations", README "Production"): two app servers, each with its own job
worker and metrics directory, on ONE PostgreSQL database and ONE Redis queue. Clients race over both
servers on the same people and on an account's last credits; afterwards SQL shows every credit charged
once, the receiver shows every delivery sent once, and each server's /metrics adds up to what was
sent to it. And RATE_LIMIT with REDIS_URL is one count for an API key across both servers."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from backend.domain.credits import MILLI
from tests.conftest import ADMIN, redis_or_skip
from tests.invariants import assert_ledger_invariants
from tests.processes import kill, start_server, start_worker, wait_for
from tests.receiver import Receiver

METRICS_TOKEN = "metrics-test-token"
CREDITS, PEOPLE, THREADS = 20, 40, 32
NOT_COUNTED = ("/healthz", "/metrics")  # start_server's polls and the scrapes themselves


class Server:
    """One app server as a client sees it: its base URL and the answers it gave us, by status."""

    def __init__(self, base: str):
        self.base, self.answered = base, Counter()
        self._lock = threading.Lock()

    def call(self, method: str, path: str, token: str, body=None) -> requests.Response:
        r = requests.request(
            method, self.base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        with self._lock:
            self.answered[(method, str(r.status_code))] += 1
        return r

    def metrics(self) -> dict[str, list]:
        r = requests.get(
            self.base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30
        )
        assert r.status_code == 200, r.text
        return {f.name: f.samples for f in text_string_to_metric_families(r.text)}

    def requests_counted(self, families: dict) -> Counter:
        counted = Counter()
        for s in families["leadledger_http_requests"]:
            if s.name.endswith("_total") and s.labels["route"] not in NOT_COUNTED:
                counted[(s.labels["method"], s.labels["status"])] += int(s.value)
        return counted


def total(families: dict, family: str, **labels) -> float:
    return sum(
        s.value
        for s in families.get(family, [])
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
def shared_redis():
    """Redis, and a queue name of this test's own: its keys (huey's `huey.<what>.<name>`, the rate
    limits' under `<name>:ratelimit`), and only those, are removed afterwards."""
    import redis

    url = redis_or_skip()
    name = "ll-scale-" + uuid.uuid4().hex[:8]
    yield url, name
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"*{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@contextmanager
def two_servers(db_url: str, tmp_path: Path, with_workers: bool, **env):
    """Two servers (2 gunicorn processes × 4 threads each), each with its own metrics directory and,
    `with_workers`, its own job worker counting into it; every process is killed on the way out."""
    procs = []
    try:
        with ThreadPoolExecutor(2) as pool:  # boot both at once: each may take long on a loaded machine
            futures = [
                pool.submit(start_server, db_url, tmp_path / f"server{n}.log", workers=2, threads=4, **env)
                for n in (1, 2)
            ]
        procs += [f.result()[0] for f in futures if f.exception() is None]
        bases = [f.result()[1] for f in futures]  # the first failure is raised here, after the kills below
        if with_workers:
            for n in (1, 2):
                metrics_dir = tmp_path / f"server{n}-metrics"  # start_server's: the worker counts there too
                log = tmp_path / f"worker{n}.log"
                procs.append(start_worker(db_url, log, PROMETHEUS_MULTIPROC_DIR=metrics_dir, **env))
        yield [Server(base) for base in bases]
    finally:
        for proc in procs:
            kill(proc)


@pytest.fixture
def cluster(db_url, store, shared_redis, tmp_path):
    """Two servers and a worker per server, all sharing the database and the queue."""
    redis_url, name = shared_redis
    env = dict(REDIS_URL=redis_url, QUEUE_NAME=name, METRICS_TOKEN=METRICS_TOKEN, CRM_BACKOFF_BASE=0.2)
    with two_servers(db_url, tmp_path, with_workers=True, **env) as servers:
        yield servers


def setup(server: Server, receiver_url: str) -> tuple[str, str, list[str], str, str]:
    """Through one server: PEOPLE people with an email, an account with CREDITS email credits, a list
    and a webhook connection to the receiver."""
    people = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/scale-{i}",
            "full_name": f"S {i}",
            "title": "T",
            "company": "C",
            "email": f"s{i}@x.example",
        }
        for i in range(PEOPLE)
    ]
    assert server.call("POST", "/v1/admin/directory", ADMIN, {"people": people}).status_code == 200
    account = server.call(
        "POST",
        "/v1/admin/accounts",
        ADMIN,
        {"name": "scale", "admin_email": "a@x.example", "grants": {"email": CREDITS}},
    )
    assert account.status_code == 201, account.text
    token = account.json()["users"][0]["api_token"]
    list_id = server.call("POST", "/v1/lists", token, {"name": "L"}).json()["id"]
    conn = server.call(
        "POST",
        "/v1/crm/connections",
        token,
        {"kind": "webhook", "name": "h", "config": {"url": receiver_url}},
    )
    assert conn.status_code == 201, conn.text
    return account.json()["id"], token, [p["linkedin_url"] for p in people], list_id, conn.json()["id"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_servers_on_one_database_and_queue_charge_and_deliver_exactly_once(cluster, store, receiver):
    for server in cluster:  # each sees the shared database and the shared queue
        assert server.call("GET", "/readyz", ADMIN).status_code == 200
    account_id, token, urls, list_id, conn_id = setup(cluster[0], receiver.url)
    answers = race(cluster, token, urls, list_id, conn_id)

    by_person: dict[str, set[int]] = {}
    for url, status, _ in answers:
        by_person.setdefault(url, set()).add(status)
    assert all(codes <= {200, 201, 202} or codes == {402} for codes in by_person.values()), by_person
    paid = {url for url, codes in by_person.items() if codes != {402}}
    assert len(paid) == CREDITS  # the last credits went to exactly CREDITS people
    assert_charged_once(store, account_id, paid)

    exported = {body["delivery"]["id"] for _, status, body in answers if status == 202}
    assert len(exported) == 2 * CREDITS  # two exports per paid person, each its own delivery
    sent = assert_delivered_once(store, receiver, exported)
    assert_metrics_add_up(cluster, sent)


def race(servers: list[Server], token: str, urls: list[str], list_id: str, conn_id: str) -> list:
    """Each person's reveal, list add, CRM export and list-and-CRM side by side, so they are in flight
    together, two on each server (which two alternates from person to person), from THREADS threads:
    (linkedin_url, status, body) each."""
    actions = [
        ("/v1/extension/reveal", {}),
        (f"/v1/extension/lists/{list_id}/leads", {}),
        ("/v1/extension/crm-exports", {"connection_id": conn_id}),
        ("/v1/extension/list-and-crm", {"list_id": list_id, "connection_id": conn_id}),
    ]
    calls = [
        ((i + n) % 2, url, path, {"linkedin_url": url, **extra})
        for n, url in enumerate(urls)
        for i, (path, extra) in enumerate(actions)
    ]
    barrier = threading.Barrier(THREADS)

    def call(c):
        server, url, path, body = c
        if not barrier.broken:
            try:
                barrier.wait(timeout=2)  # the first wave starts together
            except threading.BrokenBarrierError:
                pass
        r = servers[server].call("POST", path, token, body)
        return url, r.status_code, r.json()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(call, calls))


def assert_charged_once(store, account_id: str, paid: set[str]) -> None:
    """By SQL: the ledger invariants, the balance spent to zero and exactly CREDITS charged, and one
    unlock for each person served, none for the others."""
    with store.engine.connect() as db:
        balance = db.execute(
            text("SELECT amount FROM balances WHERE account_id = :a AND credit_type = 'email'"),
            {"a": account_id},
        ).scalar_one()
        charged = db.execute(
            text("SELECT -SUM(amount) FROM ledger_entries WHERE account_id = :a AND amount < 0"),
            {"a": account_id},
        ).scalar_one()
        unlocked = (
            db.execute(
                text(
                    "SELECT p.linkedin_url FROM unlocks u JOIN people p ON p.id = u.person_id "
                    "WHERE u.account_id = :a AND u.kind = 'email'"
                ),
                {"a": account_id},
            )
            .scalars()
            .all()
        )
    assert balance == 0 and charged == CREDITS * MILLI
    assert sorted(unlocked) == sorted(paid)
    assert_ledger_invariants(store)


def assert_delivered_once(store, receiver: Receiver, exported: set[str]) -> Counter:
    """Once both workers have drained the outbox (bounded wait): the receiver saw every delivery id
    (every export's, and any account event's) exactly once, one attempt each. Answers what it saw."""

    def drained():
        with store.engine.connect() as db:
            rows = db.execute(text("SELECT status, count(*) FROM crm_deliveries GROUP BY status")).all()
        return dict(rows) if rows and {s for s, _ in rows} == {"delivered"} else None

    statuses = wait_for(drained, 60, "both workers to deliver the whole outbox", interval=0.5)
    with store.engine.connect() as db:
        attempts = db.execute(text("SELECT count(*) FROM crm_delivery_attempts")).scalar_one()
    sent = Counter(a["headers"]["webhook-id"] for a in receiver.attempts)
    assert all(n == 1 for n in sent.values()), [i for i, n in sent.items() if n > 1]
    assert exported <= set(sent)
    assert len(sent) == statuses["delivered"] == attempts
    return sent


def assert_metrics_add_up(servers: list[Server], sent: Counter) -> None:
    """Each server's /metrics (its gunicorn processes and its worker) counts the requests it answered
    us, by method and status; summed over both, the credits charged and the deliveries sent."""
    scraped = [server.metrics() for server in servers]
    for server, families in zip(servers, scraped, strict=True):
        assert server.requests_counted(families) == server.answered
    charged = sum(total(f, "leadledger_credits_charged", credit_type="email") for f in scraped)
    delivered = sum(total(f, "leadledger_crm_delivery_attempts", outcome="delivered") for f in scraped)
    assert charged == CREDITS and delivered == len(sent)


LIMIT, FLOOD_SECONDS = 20, 4  # RATE_LIMIT per second, and how long the flood lasts
FLOOD_RATE = 5 * LIMIT  # requests a second, alternating servers: each alone is sent 2.5x the limit


@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_servers_share_one_rate_limit_count(db_url, store, shared_redis, tmp_path):
    """RATE_LIMIT with REDIS_URL is counted across hosts (README "Production"): one API key flooding
    both servers gets no more through than the limit allows one server."""
    redis_url, name = shared_redis
    env = dict(REDIS_URL=redis_url, QUEUE_NAME=name, RATE_LIMIT=f"{LIMIT}/second")
    with two_servers(db_url, tmp_path, with_workers=False, **env) as servers:
        account = servers[0].call(
            "POST", "/v1/admin/accounts", ADMIN, {"name": "rl", "admin_email": "a@x.example", "grants": {}}
        )
        assert account.status_code == 201, account.text
        answers = flood(servers, account.json()["users"][0]["api_token"])
    assert {status for _, status, _ in answers} == {200, 429}
    ok = [span for _, status, span in answers if status == 200]
    took = max(span[1] for _, _, span in answers)
    # over the whole windows the flood took, at most one window's allowance beyond the limit: two
    # separate counts would have let through up to twice as much
    assert LIMIT * (FLOOD_SECONDS - 1) <= len(ok) <= LIMIT * (math.ceil(took) + 1), (len(ok), took)
    for start in sorted(sent for sent, _ in ok):  # no second (sent to answered) holds more than LIMIT
        within = [span for span in ok if span[0] >= start and span[1] < start + 1]
        assert len(within) <= LIMIT, (start, within)
    for n in (0, 1):  # both servers admitted and refused: each consulted the one count
        assert {status for server, status, _ in answers if server == n} == {200, 429}


def flood(servers: list[Server], token: str) -> list[tuple[int, int, tuple[float, float]]]:
    """FLOOD_RATE requests a second for FLOOD_SECONDS, evenly paced, alternating servers, from 32
    threads: (server, status, (sent, answered) in seconds from the start) each."""
    start = time.monotonic()

    def call(i: int):
        delay = start + i / FLOOD_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load, not waiting for the servers' state
        sent = time.monotonic() - start
        r = servers[i % 2].call("GET", "/v1/me", token)
        return i % 2, r.status_code, (sent, time.monotonic() - start)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(call, range(FLOOD_RATE * FLOOD_SECONDS)))
