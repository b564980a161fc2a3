"""The Prometheus metrics (api.md "Operations"), counted in-process and summed at scrape time.

Under gunicorn every process writes its figures to PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes
one per server instance; the job worker writes into the same one), and `/metrics` sums the directory.
Without it, the process's own registry is answered. prometheus-client reads the variable when it is
first imported, so it must be set before the app is loaded (gunicorn.conf.py and Makefile do)."""

from __future__ import annotations

import os
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from backend.domain.credits import MILLI

REQUESTS = Counter("leadledger_http_requests_total", "Answered requests", ["route", "method", "status"])
LATENCY = Histogram(
    "leadledger_http_request_duration_seconds",
    "Time from the request's first hook to its answer",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CREDITS = Counter(
    "leadledger_credits_charged_total", "Credits charged (committed)", ["credit_type", "action"]
)
INSUFFICIENT = Counter(
    "leadledger_insufficient_credits_total", "402 insufficient_credits answers", ["route", "credit_type"]
)
DELIVERIES = Counter(
    "leadledger_crm_delivery_attempts_total", "CRM delivery attempts by outcome", ["kind", "outcome"]
)
JOBS = Counter("leadledger_jobs_total", "Background job runs by outcome", ["kind", "outcome"])


def request_answered(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request: its count and its latency."""
    counted, timed = _request_series(route, method, status)
    counted.inc()
    timed.observe(seconds)


# route templates and statuses are few (a client's odd methods are bounded by the cache's size);
# `labels()` validates and takes a lock on every call
@lru_cache(maxsize=1024)
def _request_series(route: str, method: str, status: int):
    return REQUESTS.labels(route, method, str(status)), LATENCY.labels(route)


def charges_committed(charges: list[tuple[str, str, int]]) -> None:
    """The Store's after-commit hook: the (credit type, action, milli-credits) a transaction charged."""
    for credit_type, action, milli in charges:
        _credit_series(credit_type, action).inc(milli / MILLI)


@lru_cache(maxsize=256)  # credit types and actions are few, named by our code
def _credit_series(credit_type: str, action: str):
    return CREDITS.labels(credit_type, action)


def exposition(queue_depth: int | None) -> tuple[bytes, str]:
    """The text format: every process's figures (or this one's), plus the queue depth read now."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    body = generate_latest(registry)
    if queue_depth is not None:
        extra = CollectorRegistry()
        extra.register(_Depth(queue_depth))
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


class _Depth:
    """The job queue's pending tasks, read at scrape time (a gauge written by some process would go
    stale when that process stops)."""

    def __init__(self, depth: int):
        self.depth = depth

    def collect(self):
        yield GaugeMetricFamily("leadledger_queue_depth", "Tasks waiting in the job queue", value=self.depth)
