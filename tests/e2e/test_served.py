"""The app under gunicorn (4 worker processes) driven over HTTP by concurrent clients, on SQLite and
PostgreSQL; the ledger invariants are then checked by SQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ADMIN
from tests.invariants import assert_ledger_invariants
from tests.processes import kill, start_server


@pytest.fixture
def served(db_url, store, tmp_path):
    proc, base = start_server(db_url, tmp_path / "server.log")
    yield base
    kill(proc)


def admin(base, path, body):
    r = requests.post(base + path, json=body, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def setup(base, email=100):
    people = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/served-{i}",
            "full_name": f"S {i}",
            "title": "T",
            "company": "C",
            "email": f"s{i}@x.example",
        }
        for i in range(8)
    ]
    admin(base, "/v1/admin/directory", {"people": people})
    account = admin(
        base,
        "/v1/admin/accounts",
        {"name": "served", "admin_email": "a@x.example", "grants": {"email": email}},
    )
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + account["users"][0]["api_token"]
    lid = s.post(base + "/v1/lists", json={"name": "L"}, timeout=30).json()["id"]
    cid = s.post(
        base + "/v1/crm/connections",
        json={"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}},
        timeout=30,
    ).json()["id"]
    return s, [p["linkedin_url"] for p in people], lid, cid


@pytest.mark.timeout(180)
def test_r12_concurrent_clients_over_four_processes_charge_each_person_once(served, store):
    s, urls, lid, cid = setup(served)
    calls = []
    for i in range(64):
        url = urls[i % 8]
        calls.append(
            [
                ("/v1/extension/reveal", {"linkedin_url": url}),
                (f"/v1/extension/lists/{lid}/leads", {"linkedin_url": url}),
                ("/v1/extension/crm-exports", {"linkedin_url": url, "connection_id": cid}),
                ("/v1/extension/list-and-crm", {"linkedin_url": url, "list_id": lid, "connection_id": cid}),
            ][(i // 8) % 4]
        )
    barrier = threading.Barrier(16)

    def call(c):
        if barrier.n_waiting < 16 and not barrier.broken:
            try:
                barrier.wait(timeout=0.5)
            except threading.BrokenBarrierError:
                pass
        return requests.post(served + c[0], json=c[1], headers=s.headers, timeout=60).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(call, calls))
    assert set(codes) <= {200, 201, 202}, codes
    assert s.get(served + "/v1/credits", timeout=30).json()["balance"]["email"] == 92
    assert len(s.get(served + f"/v1/lists/{lid}/leads", timeout=30).json()["leads"]) == 8
    asked = sum(1 for path, _ in calls if "crm" in path)
    assert len(s.get(served + "/v1/crm/deliveries", timeout=30).json()["deliveries"]) == asked
    assert_ledger_invariants(store)


@pytest.mark.timeout(180)
def test_r6_ten_concurrent_requests_with_one_idempotency_key_charge_once(served, store):
    s, urls, lid, cid = setup(served)
    body = {"linkedin_url": urls[0], "list_id": lid, "connection_id": cid}
    barrier = threading.Barrier(10)

    def call(_):
        barrier.wait(timeout=30)
        return requests.post(
            served + "/v1/extension/list-and-crm",
            json=body,
            headers={**s.headers, "Idempotency-Key": "same-click"},
            timeout=60,
        )

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(call, range(10)))
    ok = [a for a in answers if a.status_code == 202]
    busy = [a for a in answers if a.status_code == 409]
    assert len(ok) + len(busy) == 10 and ok
    assert all(a.json()["code"] == "idempotency_in_progress" for a in busy)
    assert len({a.text for a in ok}) == 1  # identical answers: the replays are the first answer
    assert s.get(served + "/v1/credits", timeout=30).json()["balance"]["email"] == 99
    assert len(s.get(served + "/v1/crm/deliveries", timeout=30).json()["deliveries"]) == 1
    assert_ledger_invariants(store)
