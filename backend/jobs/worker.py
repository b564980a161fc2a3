"""`flask --app wsgi worker`: one process that sends CRM deliveries (and runs background jobs)."""

from __future__ import annotations

import logging
import signal
import threading

from flask import Flask

from backend.jobs.deliveries import DeliverySender

log = logging.getLogger(__name__)


def run(app: Flask) -> None:
    """Run until SIGTERM/SIGINT; a claimed delivery interrupted by a kill is re-sent after its lease."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sender = DeliverySender(app.extensions["store"], app.config["SETTINGS"])
    log.info("worker started")
    sender.run_forever(stop)
    log.info("worker stopped")
