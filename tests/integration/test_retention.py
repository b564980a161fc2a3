"""Retention (README "Retention"): the worker's periodic task removes idempotency records past their
24 h window and finished jobs' per-lead results past JOB_RESULT_RETENTION_DAYS, in bounded batches,
and keeps everything younger, and every job still running. Time is injected."""

from datetime import timedelta

from sqlalchemy import insert, select, update

from backend.config import Settings
from backend.persistence.tables import utcnow
from backend.services import jobs, retention
from backend.services.retention import ITEMS, JOBS, KEYS

NOW = utcnow()


def job_with_items(store, actor, status: str, age: timedelta, n: int = 3) -> str:
    job = store.run(lambda uow: jobs.create(uow, actor, "post_export", {}, [{"i": i} for i in range(n)]))
    at = NOW - age
    store.run(
        lambda uow: uow.execute(
            update(JOBS).where(JOBS.c.id == job["id"]).values(status=status, updated_at=at)
        )
    )
    return job["id"]


def items_left(store) -> dict:
    rows = store.run(lambda uow: uow.execute(select(ITEMS.c.job_id)).scalars().all())
    return {j: rows.count(j) for j in set(rows)}


def test_retention_removes_what_is_past_its_age_and_keeps_the_rest(store, world, monkeypatch):
    actor = world.account()
    old_done = job_with_items(store, actor, "succeeded", timedelta(days=31), n=7)
    old_failed = job_with_items(store, actor, "failed", timedelta(days=40))
    young_done = job_with_items(store, actor, "succeeded", timedelta(days=29))
    old_running = job_with_items(store, actor, "running", timedelta(days=60))
    keys = [("old", timedelta(hours=25)), ("young", timedelta(hours=23)), ("stuck", timedelta(days=3))]
    store.run(
        lambda uow: uow.execute(
            insert(KEYS),
            [
                {
                    "account_id": actor.account_id,
                    "key": k,
                    "request_hash": "h",
                    "state": "done",
                    "created_at": NOW - age,
                }
                for k, age in keys
            ],
        )
    )
    monkeypatch.setattr(retention, "BATCH", 3)  # bounded batches: several per kind here
    removed = retention.purge(store, Settings(job_result_retention_days=30), NOW)
    assert removed == {"idempotency_records": 2, "job_items": 10}
    assert items_left(store) == {young_done: 3, old_running: 3}
    assert store.run(lambda uow: uow.execute(select(KEYS.c.key)).scalars().all()) == ["young"]
    kept_jobs = store.run(lambda uow: uow.execute(select(JOBS.c.id)).scalars().all())
    assert {old_done, old_failed} <= set(kept_jobs)  # the job rows (status, counts, charges) stay
    assert retention.purge(store, Settings(job_result_retention_days=30), NOW) == {
        "idempotency_records": 0,
        "job_items": 0,
    }
    later = retention.purge(store, Settings(job_result_retention_days=30), NOW + timedelta(days=2))
    assert later == {"idempotency_records": 1, "job_items": 3}


def test_the_worker_runs_retention_as_a_periodic_task(app):
    queue = app.extensions["queue"]
    assert "retention" in [t.name for t in queue.huey._registry.periodic_tasks]
    store = app.extensions["store"]
    old = {
        "account_id": "operator",
        "key": "k",
        "request_hash": "h",
        "state": "done",
        "created_at": NOW - timedelta(days=2),
    }
    store.run(lambda uow: uow.execute(insert(KEYS).values(**old)))
    queue.purge_expired.call_local()
    assert store.run(lambda uow: uow.execute(select(KEYS.c.key)).scalars().all()) == []
