"""Sends due CRM deliveries through their connection's adapter. Runs in the worker process.

Deliveries are claimed in one short transaction, sent with no transaction open (a slow CRM never
holds a database lock), and their outcomes recorded in another. Nothing here charges: the credit was
taken when the delivery was queued, so retries and re-sends are free by construction.

Flow control (api.md "CRM connections that keep working"): the adapter's error class says what
happened to the connection. A rate limit pauses it until the vendor's time (else CRM_RATE_LIMIT_PAUSE),
refused credentials make it wait for re-authorization, a receiver that is gone pauses it; none of
these counts as an attempt, and the connection's other deliveries claimed in the same round are put
back unsent. Due HubSpot deliveries of one connection go in one batch request, each with its own
outcome."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests

from adapters.crm import hubspot
from adapters.crm.base import (
    AuthRefused,
    ConnectionGone,
    DeliveryError,
    Lead,
    Outbound,
    PushResult,
    RateLimited,
    RetryableDeliveryError,
    outbound_session,
)
from adapters.crm.registry import get_adapter
from backend.config import Settings
from backend.observe import metrics
from backend.persistence.sealed import SealedValueError
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import outbox
from backend.services.crm_tokens import TokenKeeper
from backend.services.outbox import MAX_RETRY_AFTER, Attempt, Claimed, Policy

log = logging.getLogger(__name__)

BATCHES = {hubspot.HubSpotAdapter.kind: hubspot.BATCH_LIMIT}  # kinds whose leads go many to a request
Outcome = PushResult | DeliveryError


class DeliverySender:
    """One sender per thread: it notes the HTTP status of the last answer its session received."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ):
        self.store, self.settings, self.clock = store, settings, clock
        self.session = session or outbound_session(settings.crm_allow_private_networks)
        self.session.hooks["response"].append(self._answered)
        self.last_status: int | None = None
        self.tokens = TokenKeeper(store, settings, clock)
        # a round's requests go one by one, each within the timeout: they must end before their leases do
        self.batch = max(1, int(settings.crm_lease_seconds // (2 * settings.crm_timeout)))
        self.policy = Policy(
            settings.crm_max_attempts,
            settings.crm_backoff_base,
            settings.crm_backoff_cap,
            settings.crm_lease_seconds,
            settings.crm_give_up_after,
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def run_once(self) -> int:
        """Claim what is due and send it; answers how many were claimed."""
        claimed = self.store.run(
            lambda uow: outbox.claim_due(uow, self.now(), self.policy, self.batch, BATCHES)
        )
        stopped: set[str] = set()
        for group in _requests(claimed):
            if group[0].connection_id in stopped:
                self.store.run(lambda uow, g=group: [outbox.held(uow, c, self.now()) for c in g])
            elif self.send(*group):
                stopped.add(group[0].connection_id)
        return len(claimed)

    def send(self, *group: Claimed) -> bool:
        """Send deliveries of one connection in one go and record each outcome; answers whether the
        connection stopped (its remaining deliveries must wait)."""
        self.last_status = None
        started = time.perf_counter()
        outcomes = self._outcomes(group)
        attempts = [Attempt(self.now(), self.last_status, _error(o)) for o in outcomes]
        pairs = list(zip(group, outcomes, attempts, strict=True))
        stopped = any(self.store.run(lambda uow: [self._record(uow, *pair) for pair in pairs]))
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        for c, outcome in zip(group, outcomes, strict=True):
            _observe(c, outcome, duration_ms)
        return stopped

    def _outcomes(self, group: tuple[Claimed, ...]) -> list[Outcome]:
        first = group[0]
        outbound = Outbound(
            self.session,
            self.settings.crm_allow_private_networks,
            timeout=self.settings.crm_timeout,
            clock=self.clock,
        )
        try:
            config = self._config(first)
            outcomes = _push(group, config, outbound)
            refused = [i for i, o in enumerate(outcomes) if isinstance(o, AuthRefused)]
            if refused:  # api.md "Refresh": the token is refreshed once and the refused sent again
                renewed = self.tokens.after_refusal(first.connection_id, config)
                if renewed is not None:
                    again = _push(tuple(group[i] for i in refused), renewed, outbound)
                    for i, outcome in zip(refused, again, strict=True):
                        outcomes[i] = outcome
            return outcomes
        except DeliveryError as exc:
            return [exc] * len(group)
        except Exception as exc:  # noqa: BLE001  (an adapter bug must not stop the worker)
            log.exception("deliveries %s: adapter error", [c.id for c in group])
            return [RetryableDeliveryError(f"adapter error: {type(exc).__name__}")] * len(group)

    def _config(self, claimed: Claimed) -> dict:
        """The connection's config for this attempt, read afresh (a new credential counts at once),
        with an access token good for CRM_REFRESH_MARGIN (refreshed first where the vendor states an
        expiry; a refused refresh is AuthRefused). Credentials that do not open (a key missing from
        SECRET_KEYS, a ciphertext copied from another row) fail the attempt: nothing is sent."""
        try:
            return self.tokens.fresh_config(claimed.connection_id)
        except SealedValueError as exc:
            raise RetryableDeliveryError(str(exc)) from None

    def _record(self, uow: UnitOfWork, c: Claimed, outcome: Outcome, attempt: Attempt) -> bool:
        """Record one outcome; answers whether it stopped the connection."""
        if isinstance(outcome, PushResult):
            outbox.delivered(uow, c, outcome.external_id, attempt)
            return False
        if isinstance(outcome, RateLimited):
            wait = self.settings.crm_rate_limit_pause if outcome.retry_after is None else outcome.retry_after
            outbox.rate_limited(uow, c, attempt.at + timedelta(seconds=min(wait, MAX_RETRY_AFTER)), attempt)
        elif isinstance(outcome, AuthRefused):
            outbox.refused(uow, c, attempt)
        elif isinstance(outcome, ConnectionGone):
            outbox.gone(uow, c, attempt)
        else:
            outbox.failed(uow, c, outcome.retryable, outcome.retry_after, attempt, self.policy)
            return False
        return True

    def _answered(self, response: requests.Response, *args, **kwargs) -> None:
        self.last_status = response.status_code

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001  (a database hiccup must not end the worker)
                log.exception("delivery loop")
                busy = 0
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)


def _requests(claimed: list[Claimed]) -> list[tuple[Claimed, ...]]:
    """The round's requests: a batching kind's leads together per connection, anything else alone."""
    groups: dict[str, list[Claimed]] = {}
    for c in claimed:
        key = c.connection_id if c.kind in BATCHES and "event" not in c.payload else c.id
        groups.setdefault(key, []).append(c)
    return [tuple(group) for group in groups.values()]


def _push(group: tuple[Claimed, ...], config: dict, outbound: Outbound) -> list[Outcome]:
    """One request: an account event alone, or the group's leads (one batch where the kind has one)."""
    first = group[0]
    adapter = get_adapter(first.kind)(config, outbound)
    if "event" in first.payload:  # an account event, queued for webhook connections only
        event = first.payload
        return [adapter.send_event(event["event"], event["data"], message_id=event.get("id", first.id))]
    return adapter.push_batch([(c.id, Lead(**c.payload)) for c in group])


def _observe(c: Claimed, outcome: Outcome, duration_ms: float) -> None:
    """One JSON log line and one count per attempt (api.md "Operations"): ids, kind and outcome only;
    the CRM's error text stays in the delivery's attempts."""
    fallback = "retry" if getattr(outcome, "retryable", False) else "failed"
    name = next((n for cls, n in _OUTCOMES.items() if isinstance(outcome, cls)), fallback)
    metrics.DELIVERIES.labels(c.kind, name).inc()
    log.info(
        "delivery attempt",
        extra={
            "delivery_id": c.id,
            "connection_id": c.connection_id,
            "kind": c.kind,
            "attempt": c.attempts,
            "outcome": name,
            "duration_ms": duration_ms,
        },
    )


_OUTCOMES = {
    PushResult: "delivered",
    RateLimited: "rate_limited",
    AuthRefused: "auth_refused",
    ConnectionGone: "gone",
}


def _error(outcome: Outcome) -> str | None:
    return outcome.message if isinstance(outcome, DeliveryError) else None
