"""Runs one background job to the end: claim it, reserve (R23), process chunks that each commit
their charges together with their items' progress, then release what was not spent and finish.

A job is safe to run again at any point: a second worker can only claim it once the first one's
lease has expired, and finished items are never processed twice."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from backend.config import Settings
from backend.domain.credits import render
from backend.domain.errors import InsufficientCredits
from backend.persistence.unit_of_work import Store
from backend.services import bulk, jobs, list_exports, post_exports, uploads

log = logging.getLogger(__name__)
KINDS = {post_exports.KIND: post_exports, list_exports.KIND: list_exports, uploads.KIND: uploads}


def run_job(store: Store, settings: Settings, job_id: str) -> None:
    now = lambda: datetime.now(UTC)  # noqa: E731
    job = store.run(lambda uow: jobs.claim(uow, job_id, now(), settings.job_lease_seconds))
    if job is None:
        return  # finished, or another worker holds it
    kind = KINDS[job.kind]
    try:
        if job.reserved is None:
            store.run(lambda uow: kind.begin(uow, jobs.row(uow, job_id)))
        chunk = 0
        while store.run(lambda uow: _chunk(uow, kind, jobs.row(uow, job_id), settings, now())):
            chunk += 1
            _pause_point(settings, chunk)
        store.run(lambda uow: jobs.finish(uow, job_id, now(), result=kind.finish(uow, jobs.row(uow, job_id))))
    except InsufficientCredits as exc:
        error = {
            "code": "insufficient_credits",
            "detail": exc.detail,
            "credit_type": exc.credit_type,
            "required": render(exc.required_milli),
            "available": render(exc.available_milli),
        }
        store.run(lambda uow: jobs.finish(uow, job_id, now(), error=error))
    except Exception:
        log.exception("job %s failed", job_id)
        store.run(
            lambda uow: (
                _release(uow, kind, job_id),
                jobs.finish(
                    uow,
                    job_id,
                    now(),
                    error={"code": "internal_error", "detail": "the job stopped on an error"},
                ),
            )
        )


def _chunk(uow, kind, job, settings: Settings, now) -> int:
    items = jobs.pending_items(uow, job.id, settings.job_chunk_size)
    if not items:
        return 0
    outcomes, charged, reserved = kind.process(uow, job, items)
    jobs.record_chunk(uow, job, outcomes, charged, reserved, now, settings.job_lease_seconds)
    return len(items)


def _release(uow, kind, job_id: str) -> None:
    bulk.release(uow, jobs.row(uow, job_id), kind.KIND)


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
