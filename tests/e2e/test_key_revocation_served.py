"""API keys under gunicorn with 2 worker processes, on SQLite and PostgreSQL (api.md "API keys and
users"): a key revoked while 16 threads use it is refused for every request that starts after the
revocation's answer, on both workers; a key rotated with a 2 s grace works until the grace ends and
not after. Times are the client's monotonic clock; the server judges by the database's clock, on the
same machine."""

import threading
import time

import pytest
import requests

from tests.conftest import ADMIN
from tests.processes import kill, start_server


@pytest.fixture
def served(db_url, store, tmp_path):
    proc, base = start_server(db_url, tmp_path / "server.log", workers=2, threads=8)
    yield base
    kill(proc)


def owner(base) -> requests.Session:
    r = requests.post(
        base + "/v1/admin/accounts",
        json={"name": "keys", "admin_email": "a@x.example"},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.json()["users"][0]["api_token"]
    return s


def new_key(base, s, name) -> dict:
    r = s.post(base + "/v1/api-keys", json={"name": name}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def timed_get(session, url) -> tuple[float, float, int]:
    start = time.monotonic()
    status = session.get(url, timeout=30).status_code
    return start, time.monotonic(), status


@pytest.mark.timeout(120)
def test_a_key_revoked_while_16_threads_use_it_is_refused_for_every_request_after_the_answer(served):
    s = owner(served)
    busy = new_key(served, s, "busy")
    calls, stop = [], threading.Event()

    def use():
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + busy["api_token"]
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            calls.append(timed_get(session, served + "/v1/credits"))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(calls) >= 100, "100 requests before the revocation")
        sent = time.monotonic()
        assert s.delete(served + f"/v1/api-keys/{busy['id']}", timeout=30).status_code == 204
        answered = time.monotonic()
        wait_until(lambda: sum(1 for c in list(calls) if c[0] > answered) >= 100, "100 requests after it")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert {status for _, _, status in calls} <= {200, 401}
    after = [status for start, _, status in calls if start > answered]
    before = [status for _, end, status in calls if end < sent]
    assert len(after) >= 100 and set(after) == {401}, after.count(200)
    assert len(before) >= 100 and set(before) == {200}
    assert s.get(served + "/v1/me", timeout=30).status_code == 200  # the owner's other key


@pytest.mark.timeout(120)
def test_a_key_rotated_with_a_2_second_grace_works_until_it_ends_and_not_after(served):
    s = owner(served)
    old = new_key(served, s, "ci")
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + old["api_token"]
    assert session.get(served + "/v1/me", timeout=30).status_code == 200
    sent = time.monotonic()
    rotated = s.post(served + f"/v1/api-keys/{old['id']}/rotate", json={"grace_seconds": 2}, timeout=30)
    answered = time.monotonic()
    assert rotated.status_code == 201, rotated.text
    assert answered - sent < 1.5, "the rotation took most of its grace: the machine is too busy to tell"
    calls = []
    while len([c for c in calls if c[0] > answered + 2]) < 5:  # past the grace, by the latest clock
        assert time.monotonic() < answered + 20, calls
        calls.append(timed_get(session, served + "/v1/me"))
        time.sleep(0.05)
    within = [status for _, end, status in calls if end < sent + 1.99]  # SQLite's clock: milliseconds
    past = [status for start, _, status in calls if start > answered + 2]
    assert within and set(within) == {200}, calls
    assert past and set(past) == {401}, calls
    fresh = requests.get(
        served + "/v1/me", headers={"Authorization": "Bearer " + rotated.json()["api_token"]}
    )
    assert fresh.status_code == 200


def wait_until(predicate, what, timeout=60):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)
