"""Retention: what is kept only for a while is removed by the worker's periodic task (backend/jobs/queue.py).

- Idempotency records past their window (IDEMPOTENCY_TTL_HOURS, 24 h): a replay after it is a new
  request anyway (backend/api/idempotency.py treats an expired record as absent).
- A finished job's per-lead results (its job items: what GET /v1/jobs/<id> lists and its CSV is
  written from) once the job finished more than JOB_RESULT_RETENTION_DAYS ago (default 30). The
  job row stays, with its status, counts and charges.

Each batch is its own short transaction of at most BATCH rows, so the task never holds the write lock
(SQLite) or many row locks (PostgreSQL) for long; a run stops after MAX_BATCHES per kind and the next
run goes on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from backend.config import Settings
from backend.persistence.tables import IdempotencyKey, Job, JobItem
from backend.persistence.unit_of_work import Store, UnitOfWork

KEYS, JOBS, ITEMS = IdempotencyKey.__table__, Job.__table__, JobItem.__table__
FINISHED = ("succeeded", "failed")
BATCH = 2000
MAX_BATCHES = 500


def purge(store: Store, settings: Settings, now: datetime) -> dict:
    """Remove what is past its retention at `now`; answers how many rows of each kind went."""
    keys_before = now - timedelta(hours=settings.idempotency_ttl_hours)
    results_before = now - timedelta(days=settings.job_result_retention_days)
    return {
        "idempotency_records": _in_batches(store, lambda uow: _old_keys(uow, keys_before)),
        "job_items": _in_batches(store, lambda uow: _old_job_items(uow, results_before)),
    }


def _in_batches(store: Store, batch: Callable[[UnitOfWork], int]) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        removed = store.run(batch)
        total += removed
        if removed < BATCH:
            break
    return total


def _old_keys(uow: UnitOfWork, before: datetime) -> int:
    ids = list(uow.execute(select(KEYS.c.id).where(KEYS.c.created_at < before).limit(BATCH)).scalars())
    if ids:
        uow.execute(delete(KEYS).where(KEYS.c.id.in_(ids)))
    return len(ids)


def _old_job_items(uow: UnitOfWork, before: datetime) -> int:
    rows = uow.execute(
        select(ITEMS.c.job_id, ITEMS.c.seq)
        .join(JOBS, JOBS.c.id == ITEMS.c.job_id)
        .where(JOBS.c.status.in_(FINISHED), JOBS.c.updated_at < before)
        .limit(BATCH)
    ).all()
    by_job = defaultdict(list)
    for r in rows:
        by_job[r.job_id].append(r.seq)
    for job_id, seqs in by_job.items():
        for i in range(0, len(seqs), 500):
            uow.execute(delete(ITEMS).where(ITEMS.c.job_id == job_id, ITEMS.c.seq.in_(seqs[i : i + 500])))
    return len(rows)
