"""The job queue: huey, embedded on a SQLite file by default, on Redis when REDIS_URL is set (then
workers on several machines share the work). Only job ids travel through it; the job's state lives
in our own tables, so a lost task is recovered from there (`recover`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab
from sqlalchemy.engine import make_url

from backend.config import ROOT, Settings
from backend.persistence.unit_of_work import Store
from backend.services import jobs, retention

log = logging.getLogger(__name__)
RETENTION_EVERY_MINUTES = 15  # the worker's periodic retention task (services/retention.py)


def queue_file(settings: Settings) -> str:
    """Next to the SQLite database, or under var/ when the database is a server."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return url.database + ".queue"
    return str(ROOT / "var" / f"{settings.queue_name}.queue.db")


class JobQueue:
    def __init__(self, store: Store, settings: Settings):
        if settings.redis_url:
            self.huey = RedisHuey(
                settings.queue_name, url=settings.redis_url, immediate=settings.queue_immediate
            )
        else:
            Path(queue_file(settings)).parent.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey(
                settings.queue_name, filename=queue_file(settings), immediate=settings.queue_immediate
            )
        self.store, self.settings = store, settings

        @self.huey.task(name="run_job")
        def run_job(job_id: str) -> None:
            from backend.jobs.runner import run_job as run

            run(self.store, self.settings, job_id)

        @self.huey.periodic_task(crontab(minute=f"*/{RETENTION_EVERY_MINUTES}"), name="retention")
        def purge_expired() -> None:
            removed = retention.purge(self.store, self.settings, datetime.now(UTC))
            log.info("retention removed %s", removed)

        self._run_job, self.purge_expired = run_job, purge_expired

    def enqueue(self, job_id: str) -> None:
        """Call after the job's row is committed. A queue that cannot take the task (Redis down) does
        not fail the request: the job exists and stays queued, and the worker's next `recover` sends
        it; answering 500 would free the Idempotency-Key, and the client's retry would make a twin."""
        try:
            self._run_job(job_id)
        except Exception:  # noqa: BLE001
            log.exception("job %s: not enqueued; the worker's recovery will run it", job_id)

    def depth(self) -> int:
        """Tasks waiting to be taken: /readyz asks it to see the queue answer, /metrics reports it."""
        return self.huey.pending_count()

    def recover(self) -> int:
        """Re-enqueue jobs a dead worker left behind (queued, or running past their lease)."""
        ids = self.store.run(lambda uow: jobs.stale(uow, datetime.now(UTC)))
        for job_id in ids:
            self._run_job(job_id)
        return len(ids)
