"""Runs one background job to the end: claim it, reserve (R23), process chunks that each commit
their charges together with their items' progress, then release what was not spent and finish.

A job is safe to run again at any point: a second worker can only claim it once the first one's
lease has expired, and finished items are never processed twice."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from backend.config import Settings
from backend.domain.errors import InsufficientCredits, UserLimitReached
from backend.observe import metrics
from backend.persistence.unit_of_work import Store
from backend.services import bulk, jobs, list_exports, post_exports, uploads

log = logging.getLogger(__name__)
KINDS = {post_exports.KIND: post_exports, list_exports.KIND: list_exports, uploads.KIND: uploads}


class LeaseLost(Exception):
    """Another worker took the job over (this one outlived its lease); stop without writing."""


def run_job(store: Store, settings: Settings, job_id: str) -> None:
    """Run the job, then one JSON log line and one count of how its run ended (api.md "Operations")."""
    started = time.perf_counter()
    kind, outcome = _run(store, settings, job_id)
    if kind is None:
        return  # finished, or another worker holds it: nothing ran
    metrics.JOBS.labels(kind, outcome).inc()
    log.info(
        "job",
        extra={
            "job_id": job_id,
            "kind": kind,
            "outcome": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


def _run(store: Store, settings: Settings, job_id: str) -> tuple[str | None, str]:
    """The job's kind and how this run ended: finished, insufficient_credits, failed, lease_lost or
    connection_lost (the last two leave it to be resumed)."""
    token, lease = str(uuid.uuid4()), settings.job_lease_seconds
    now = lambda: datetime.now(UTC)  # noqa: E731
    if not store.run(lambda uow: jobs.claim(uow, job_id, now(), lease, token)):
        return None, "not_claimed"

    def owned(uow):
        job = jobs.renew(uow, job_id, token, now(), lease)
        if job is None:
            raise LeaseLost(job_id)
        return job

    kind = KINDS[store.run(lambda uow: jobs.row(uow, job_id)).kind]
    try:
        if store.run(lambda uow: jobs.row(uow, job_id)).reserved is None:
            store.run(lambda uow: kind.begin(uow, owned(uow)))
        chunk, after = 0, -1
        while (after := _chunk(store, kind, owned, job_id, settings, after)) is not None:
            chunk += 1
            _pause_point(settings, chunk)
        store.run(lambda uow: jobs.finish(uow, job_id, now(), result=kind.finish(uow, owned(uow))))
        return kind.KIND, "finished"
    except LeaseLost:
        log.warning("job %s: another worker took it over; this one stops", job_id)
        return kind.KIND, "lease_lost"
    except (InsufficientCredits, UserLimitReached) as exc:  # R23/R24: refused whole
        code = "insufficient_credits" if isinstance(exc, InsufficientCredits) else "user_limit_reached"
        _fail(store, kind, job_id, owned, now, {"code": code, "detail": exc.detail, **exc.facts()})
        return kind.KIND, code
    except Exception as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            # a database restart or failover: the step committed whole or not at all, so the job is
            # resumed after its lease like a killed worker's; failed, an upload's rows would be lost
            log.warning("job %s: lost the database connection; it resumes after its lease", job_id)
            return kind.KIND, "connection_lost"
        log.exception("job %s failed", job_id)
        _fail(
            store,
            kind,
            job_id,
            owned,
            now,
            {"code": "internal_error", "detail": "the job stopped on an error"},
        )
        return kind.KIND, "failed"


def _fail(store, kind, job_id: str, owned, now, error: dict) -> None:
    """Release what the job set aside and did not spend, and record why it stopped; the outcomes of
    the chunks it committed stay in its result (those leads were charged)."""

    def fail(uow):
        job = owned(uow)
        bulk.release(uow, job, kind.KIND)
        jobs.finish(uow, job_id, now(), result=job.result, error=error)

    try:
        store.run(fail)
    except LeaseLost:
        log.warning("job %s: taken over before its failure was recorded", job_id)


def _chunk(store: Store, kind, owned, job_id: str, settings: Settings, after: int) -> int | None:
    """Process the next chunk after seq `after`; the last seq it finished, or None when none was left.
    What the chunk will ask the contact provider and the validator is asked first, with no
    transaction open (backend/services/prefetch.py); the chunk then commits in one transaction."""
    size = settings.job_chunk_size
    job, items = store.run(
        lambda uow: (jobs.row(uow, job_id), jobs.pending_items(uow, job_id, size, after)), write=False
    )
    if not items:
        return None
    answered = kind.prefetch(store, job, items)

    def write(uow) -> int:
        job = owned(uow)  # still ours: then nobody can have processed these items since they were read
        outcomes, charged, reserved = kind.process(uow, job, items)
        jobs.record_chunk(uow, job, outcomes, charged, reserved)
        return items[-1].seq

    return answered.run(write)


def _pause_point(settings: Settings, chunk: int) -> None:
    """Crash tests only: with JOB_PAUSE_FILE naming chunk N, stop after committing chunk N, say so in
    `<file>.reached`, and wait there (to be killed) while the file exists."""
    if not settings.job_pause_file:
        return
    path = Path(settings.job_pause_file)
    if path.exists() and path.read_text().strip() == str(chunk):
        Path(str(path) + ".reached").write_text(str(chunk))
        while path.exists():
            time.sleep(0.05)
