"""The server settings `make run` uses (`gunicorn -c gunicorn.conf.py wsgi:app`), for production too
(README "Production"). Every value can be set from the environment; the defaults are `make run`'s.

- bind: BIND, else 127.0.0.1:$PORT (8000). Production behind a proxy: BIND=0.0.0.0:8000.
- workers × threads: WEB_CONCURRENCY (2) × WEB_THREADS (8); each process holds its own database pool
  (backend/persistence/db.py), which is what README "Production" adds up.
- metrics: prometheus-client's multiprocess mode needs one directory per server instance, shared by
  its gunicorn workers and its job worker (`flask worker`) and empty at start. PROMETHEUS_MULTIPROC_DIR
  when set (`make run` empties var/metrics and passes it to both), else a fresh temporary directory,
  removed on exit. A worker that exits is marked dead (child_exit), so its live gauges are dropped;
  its counters stay in the sums.
- no access log: the app writes one JSON line per request (backend/api/observe.py) with the route
  template, never the path's query string, where an OAuth `code` travels. gunicorn's own error log
  quotes a request line it cannot parse: query strings are cut from its messages (on_starting).
- request limits (gunicorn's defaults, stated): a request line over limit_request_line bytes is
  answered 414 by gunicorn itself, more than limit_request_fields headers or one over
  limit_request_field_size bytes 431, before the app sees the request — so those answers are
  gunicorn's plain-text ones, without problem+json, CORS headers or X-Request-ID (a browser
  extension sees a CORS failure). URLs this API hands out stay far below 4094 bytes.
"""

import logging
import os
import re
import shutil
import tempfile

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))

accesslog = None
errorlog = "-"

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

_made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_metrics_dir:  # set before the app (and prometheus-client) is imported in the workers
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="leadledger-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

_QUERY = re.compile(r"\?[^\s'\"]*")


class _NoQueryStrings(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY.sub("?[query removed]", message), ()
        return True


def on_starting(server):
    logging.getLogger("gunicorn.error").addFilter(_NoQueryStrings())


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
