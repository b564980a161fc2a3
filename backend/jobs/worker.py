"""`flask --app wsgi worker`: one process that sends CRM deliveries (and runs background jobs)."""

from __future__ import annotations

import gc
import logging
import threading

from flask import Flask

from backend.jobs.deliveries import DeliverySender
from backend.observe.checks import bounded

log = logging.getLogger(__name__)


def run(app: Flask, job_threads: int = 2) -> None:
    """Run until SIGTERM/SIGINT: huey's consumer for jobs, a thread for CRM deliveries. A queue that
    does not answer at start (Redis down, a wrong REDIS_URL) ends the process with status 1 and says
    why, instead of a consumer retrying forever.

    Work a killed worker left is picked up again: deliveries after their lease, jobs re-enqueued
    here at start and every lease period."""
    queue = app.extensions["queue"]
    reachable, why = bounded(queue.depth)
    if not reachable:
        log.error("worker not started: the job queue does not answer (%s); check REDIS_URL", why)
        raise SystemExit(1)
    stop = threading.Event()
    sender = DeliverySender(app.extensions["store"], app.config["SETTINGS"])
    threading.Thread(target=sender.run_forever, args=(stop,), name="deliveries", daemon=True).start()
    threading.Thread(target=_recover_forever, args=(queue, stop), name="recovery", daemon=True).start()
    consumer = queue.huey.create_consumer(workers=job_threads, worker_type="thread", max_delay=0.5)
    settle_heap()
    log.info("worker started")
    try:
        consumer.run()  # returns on SIGTERM/SIGINT (huey installs the handlers)
    finally:
        stop.set()
    log.info("worker stopped")


def settle_heap() -> None:
    """Exclude what start-up built (modules, the app, table metadata) from every later garbage
    collection: a bulk job allocates tens of thousands of objects per chunk, and each collection it
    triggers would otherwise scan the whole start-up heap again (10,000 engagers: ~60 ms of ~600,
    measured)."""
    gc.collect()
    gc.freeze()


def _recover_forever(queue, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            recovered = queue.recover()
            if recovered:
                log.info("re-enqueued %s job(s) left by a stopped worker", recovered)
        except Exception:  # noqa: BLE001
            log.exception("job recovery")
        stop.wait(max(1.0, queue.settings.job_lease_seconds))
