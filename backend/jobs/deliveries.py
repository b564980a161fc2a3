"""Sends due CRM deliveries through their connection's adapter. Runs in the worker process.

Each delivery is claimed in one short transaction, sent with no transaction open (a slow CRM never
holds a database lock), and its outcome recorded in another. Nothing here charges: the credit was
taken when the delivery was queued, so retries and re-sends are free by construction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from adapters.crm.base import AuthRefused, DeliveryError, Lead, Outbound, PushResult, outbound_session
from adapters.crm.registry import get_adapter
from backend.config import Settings
from backend.observe import metrics
from backend.persistence.unit_of_work import Store
from backend.services import outbox
from backend.services.crm_tokens import TokenKeeper
from backend.services.outbox import Claimed, Policy

log = logging.getLogger(__name__)


class DeliverySender:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ):
        self.store, self.settings, self.clock = store, settings, clock
        self.session = session or outbound_session(settings.crm_allow_private_networks)
        self.tokens = TokenKeeper(store, settings, clock)
        # a batch is sent one by one, each within the timeout: it must end before its leases do
        self.batch = max(1, int(settings.crm_lease_seconds // (2 * settings.crm_timeout)))
        self.policy = Policy(
            settings.crm_max_attempts,
            settings.crm_backoff_base,
            settings.crm_backoff_cap,
            settings.crm_lease_seconds,
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def run_once(self) -> int:
        """Claim what is due and send it; answers how many were attempted."""
        claimed = self.store.run(lambda uow: outbox.claim_due(uow, self.now(), self.policy, self.batch))
        for c in claimed:
            self.send(c)
        return len(claimed)

    def send(self, c: Claimed) -> None:
        """One attempt, then one JSON log line and one count of its outcome (api.md "Operations"):
        ids, kind and outcome only — the CRM's error text stays in the delivery's `last_error`."""
        started = time.perf_counter()
        outcome = self._attempt(c)
        metrics.DELIVERIES.labels(c.kind, outcome).inc()
        log.info(
            "delivery attempt",
            extra={
                "delivery_id": c.id,
                "connection_id": c.connection_id,
                "kind": c.kind,
                "attempt": c.attempts,
                "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    def _attempt(self, c: Claimed) -> str:
        """Send it and record the outcome: delivered, or what `outbox.failed` made of the failure."""
        outbound = Outbound(
            self.session,
            self.settings.crm_allow_private_networks,
            timeout=self.settings.crm_timeout,
            clock=self.clock,
        )
        try:
            result = self._deliver(c, outbound)
        except DeliveryError as exc:
            return self._failed(c, exc.message, exc.retryable, exc.retry_after)
        except Exception as exc:  # noqa: BLE001  (an adapter bug must not stop the worker)
            log.exception("delivery %s: adapter error", c.id)
            return self._failed(c, f"adapter error: {type(exc).__name__}", True, None)
        self.store.run(lambda uow: outbox.delivered(uow, c, result.external_id, self.now()))
        return "delivered"

    def _deliver(self, c: Claimed, outbound: Outbound) -> PushResult:
        """Send with a fresh token; a refused token is refreshed once and the send repeated (api.md
        "Refresh": Salesforce states no expiry, so its 401 INVALID_SESSION_ID is the signal)."""
        config = self._config(c)
        try:
            return self._push(c, config, outbound)
        except AuthRefused:
            renewed = self.tokens.after_refusal(c.connection_id, config)
            if renewed is None:
                raise
            return self._push(c, renewed, outbound)

    def _config(self, claimed: Claimed) -> dict:
        """The claimed delivery's connection config, with an access token good for CRM_REFRESH_MARGIN."""
        return self.tokens.fresh_config(claimed.connection_id)

    @staticmethod
    def _push(c: Claimed, config: dict, outbound: Outbound) -> PushResult:
        adapter = get_adapter(c.kind)(config, outbound)
        if "event" in c.payload:  # R22 notifications, queued for webhook connections only
            return adapter.send_event(c.payload["event"], c.payload["data"], message_id=c.id)
        return adapter.push(Lead(**c.payload), delivery_id=c.id)

    def _failed(self, c: Claimed, message: str, retryable: bool, retry_after: float | None) -> str:
        status = self.store.run(
            lambda uow: outbox.failed(uow, c, message, retryable, retry_after, self.now(), self.policy)
        )
        return "retry" if status == "pending" else status

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001  (a database hiccup must not end the worker)
                log.exception("delivery loop")
                busy = 0
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)
