"""Scale-out (api.md "Operations", README "Production"): two app servers, each with its own job
worker and metrics directory, on ONE PostgreSQL database and ONE Redis queue. Clients race over both
servers on the same people and on an account's last credits; afterwards SQL shows every credit charged
once, the receiver shows every delivery sent once, and each server's /metrics adds up to what was
sent to it."""

from __future__ import annotations

import threading
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


@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_servers_on_one_database_and_queue_charge_and_deliver_exactly_once(cluster, store):
    receiver = Receiver()
    try:
        _race_and_check(cluster, store, receiver)
    finally:
        receiver.close()


def _race_and_check(servers: list[Server], store, receiver: Receiver) -> None:
    for server in servers:  # each sees the shared database and the shared queue
        assert server.call("GET", "/readyz", ADMIN).status_code == 200
    account_id, token, urls, list_id, conn_id = setup(servers[0], receiver.url)
    actions = [
        ("/v1/extension/reveal", lambda url: {"linkedin_url": url}),
        (f"/v1/extension/lists/{list_id}/leads", lambda url: {"linkedin_url": url}),
        ("/v1/extension/crm-exports", lambda url: {"linkedin_url": url, "connection_id": conn_id}),
        (
            "/v1/extension/list-and-crm",
            lambda url: {"linkedin_url": url, "list_id": list_id, "connection_id": conn_id},
        ),
    ]
    # each person's four actions side by side, so they are in flight together, two on each server
    # (which two alternates from person to person)
    calls = [
        ((i + n) % 2, url, path, body(url))
        for n, url in enumerate(urls)
        for i, (path, body) in enumerate(actions)
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
        return url, path, r.status_code, r.json()

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(call, calls))

    by_person: dict[str, set[int]] = {}
    for url, _, status, _ in answers:
        by_person.setdefault(url, set()).add(status)
    assert all(codes <= {200, 201, 202} or codes == {402} for codes in by_person.values()), by_person
    paid = {url for url, codes in by_person.items() if codes != {402}}
    assert len(paid) == CREDITS  # the last credits went to exactly CREDITS people, each once

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
    assert sorted(unlocked) == sorted(paid)  # one unlock per person, for exactly the people served
    assert_ledger_invariants(store)

    lead_deliveries = {a["delivery"]["id"] for _, path, status, a in answers if status == 202}
    assert len(lead_deliveries) == 2 * CREDITS  # two exports per paid person, each its own delivery

    def drained():
        with store.engine.connect() as db:
            rows = db.execute(text("SELECT status, count(*) FROM crm_deliveries GROUP BY status")).all()
        return dict(rows) if rows and {s for s, _ in rows} == {"delivered"} else None

    statuses = wait_for(drained, 60, "both workers to deliver the whole outbox", interval=0.5)
    with store.engine.connect() as db:
        attempts = db.execute(text("SELECT count(*) FROM crm_delivery_attempts")).scalar_one()
    sent = Counter(a["headers"]["webhook-id"] for a in receiver.attempts)
    assert all(n == 1 for n in sent.values()), [i for i, n in sent.items() if n > 1]
    assert lead_deliveries <= set(sent)
    assert len(sent) == statuses["delivered"] == attempts  # every delivery (and event) sent once

    scraped = [server.metrics() for server in servers]
    for server, families in zip(servers, scraped, strict=True):
        assert server.requests_counted(families) == server.answered
    assert sum(total(f, "leadledger_credits_charged", credit_type="email") for f in scraped) == CREDITS
    assert sum(total(f, "leadledger_crm_delivery_attempts", outcome="delivered") for f in scraped) == len(
        sent
    )
