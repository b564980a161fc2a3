"""A worker SIGKILLed halfway through a 2,000-engager post export: a new worker finishes it, every
engager is in the list once, and the credits charged equal the leads charged, exactly."""

import uuid
from pathlib import Path

import pytest

from backend.app import create_app
from tests.conftest import app_settings, make_api, remove_queue_file
from tests.invariants import assert_ledger_invariants
from tests.processes import kill, start_worker, wait_for


@pytest.mark.timeout(240)
def test_a_killed_worker_leaves_a_job_the_next_one_finishes_without_charging_twice(db_url, store, tmp_path):
    queue_name = "ll-crash-" + uuid.uuid4().hex[:8]
    settings = app_settings(db_url, queue_name=queue_name)
    app = create_app(settings)
    api = make_api(app)
    urls = api.directory(2000)
    user = api.account(email=2500)
    lid = user.post("/v1/lists", {"name": "viral"}).json["id"]
    for u in urls[:100]:
        user.post("/v1/extension/reveal", {"linkedin_url": u})  # 100 already unlocked
    body = {
        "post_url": "https://www.linkedin.com/posts/viral",
        "destination": "list",
        "list_id": lid,
        "engagers": [{"linkedin_url": u, "full_name": "N", "engagement": "like"} for u in urls],
    }
    job_id = user.post("/v1/extension/post-exports", body).json["job"]["id"]
    pause = tmp_path / "pause"
    pause.write_text("5")  # chunk 5 of 10: halfway
    env = dict(QUEUE_NAME=queue_name, JOB_CHUNK_SIZE=200, JOB_LEASE_SECONDS=2)
    first = start_worker(db_url, tmp_path / "w1.log", JOB_PAUSE_FILE=pause, **env)
    second = None
    try:
        wait_for(lambda: Path(str(pause) + ".reached").exists(), 90, "the first worker to reach chunk 5")
        kill(first)
        halfway = user.get(f"/v1/jobs/{job_id}").json
        assert halfway["status"] == "running" and halfway["progress"]["done"] == 1000
        pause.unlink()
        second = start_worker(db_url, tmp_path / "w2.log", **env)
        job = wait_for(
            lambda: (j := user.get(f"/v1/jobs/{job_id}").json)["status"] in ("succeeded", "failed") and j,
            120,
            "the second worker to finish the job",
        )
    finally:
        kill(first)
        if second:
            kill(second)
        remove_queue_file(settings)
    assert job["status"] == "succeeded", job
    assert job["result"]["counts"] == {"charged": 1900, "already_unlocked": 100}
    leads, cursor = [], ""
    while cursor is not None:  # every page of the list
        page = user.get(f"/v1/lists/{lid}/leads?limit=500" + (f"&cursor={cursor}" if cursor else "")).json
        leads, cursor = leads + page["leads"], page["next_cursor"]
    assert len(leads) == 2000 and len({lead["person_id"] for lead in leads}) == 2000
    assert job["credits"]["charged"]["email"] == 1900
    assert user.balance()["email"] == 2500 - 100 - 1900
    assert_ledger_invariants(store)
    app.extensions["store"].engine.dispose()
