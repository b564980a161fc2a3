"""One JSON object per log line on stderr (api.md "Operations"), for the server and the worker.

What is logged is chosen where it is logged: ids, routes, statuses, kinds and outcomes — never a
token, secret, email or phone (SQL errors carry no bound parameters: persistence/db.py)."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

FIELDS = "%(levelname)s %(name)s %(message)s"


def configure(level: int = logging.INFO) -> None:
    """Send the root logger's records to stderr as JSON (once per process). A record no longer
    gathers what no line shows: the calling file and line, and the multiprocessing name (the logging
    HOWTO's "Optimization"; bench/reveal_breakdown.py). The thread and process ids stay: gunicorn's
    own lines show `%(process)d`, which a missing id would break. Lines are encoded by orjson:
    python-json-logger's standard-library encoder took twice as long per request line (10 µs
    against 5, and the request line is written on every request)."""
    root = logging.getLogger()
    if any(getattr(h, "leadledger_json", False) for h in root.handlers):
        return
    logging._srcfile = None  # the HOWTO's documented switch for findCaller()
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        OrjsonFormatter(FIELDS, rename_fields={"levelname": "level", "name": "logger"}, timestamp="time")
    )
    handler.leadledger_json = True
    root.addHandler(handler)
    root.setLevel(level)
