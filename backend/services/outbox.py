"""The CRM outbox's bookkeeping: claiming due deliveries under a lease, and recording outcomes.

A claim is a conditional UPDATE (still pending, lease free or expired), so two workers never send
the same delivery at once; a worker that dies mid-send leaves a lease that expires, and the next
worker sends it again with the same delivery id (the webhook-id receivers deduplicate on).

Only deliveries of an active connection are claimed (api.md "CRM connections that keep working"):
those of a paused, rate-limited or refused connection stay pending, neither sent nor failed, and flow
again when it is active. A wait (a rate limit, refused credentials, a receiver that is gone) puts the
delivery back to pending without counting the attempt; every attempt is recorded all the same."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, literal, or_, select, update

from backend.persistence.tables import CrmConnection, CrmDelivery, CrmDeliveryAttempt
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import connection_status

DELIVERIES = CrmDelivery.__table__
CONNECTIONS = CrmConnection.__table__
ATTEMPTS = CrmDeliveryAttempt.__table__
FIRST = DELIVERIES.c.first_attempt_at


@dataclass(frozen=True)
class Claimed:
    id: str
    token: str
    attempts: int
    payload: dict
    kind: str
    connection_id: str
    account_id: str
    first_attempt_at: datetime


MAX_RETRY_AFTER = 86_400.0  # seconds: a CRM's Retry-After is honoured up to a day (1e12 overflowed the date)


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    lease_seconds: float
    give_up_after: float = 86_400.0

    def backoff(self, attempts: int, retry_after: float | None, rng=random.random) -> float:
        """Exponential with full jitter, never sooner than the CRM's Retry-After (up to a day)."""
        delay = rng() * min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER))

    def gives_up(self, claimed: Claimed, now: datetime) -> bool:
        """`dead` after CRM_MAX_ATTEMPTS failed attempts AND no sooner than CRM_GIVE_UP_AFTER after
        the first (api.md "Flow control")."""
        return claimed.attempts >= self.max_attempts and now >= self._deadline(claimed)

    def next_attempt(self, claimed: Claimed, retry_after: float | None, now: datetime) -> datetime:
        """The backoff; once the attempts are spent, the last try waits for the give-up time."""
        at = now + timedelta(seconds=self.backoff(claimed.attempts, retry_after))
        return max(at, self._deadline(claimed)) if claimed.attempts >= self.max_attempts else at

    def _deadline(self, claimed: Claimed) -> datetime:
        return claimed.first_attempt_at + timedelta(seconds=self.give_up_after)


def claim_due(
    uow: UnitOfWork, now: datetime, policy: Policy, limit: int, batches: dict[str, int] | None = None
) -> list[Claimed]:
    """Lease up to `limit` due deliveries of active connections; the caller sizes `limit` so that
    sending them all, one timeout each, ends before their lease does. For a kind in `batches` (kind ->
    most per request), the other due deliveries of a chosen connection join it, up to that many, as
    they go in one request."""
    connection_status.resume_expired(uow, now)
    free = or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now)
    due = (
        select(DELIVERIES.c.id)
        .join(CONNECTIONS, CONNECTIONS.c.id == DELIVERIES.c.connection_id)
        .where(
            DELIVERIES.c.status == "pending",
            DELIVERIES.c.next_attempt_at <= now,
            free,
            CONNECTIONS.c.status == "active",
            CONNECTIONS.c.deleted_at.is_(None),
        )
        .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
    )
    chosen = uow.execute(due.add_columns(CONNECTIONS.c.id, CONNECTIONS.c.kind).limit(limit)).all()
    ids = [r[0] for r in chosen]
    for connection_id, kind in {(r[1], r[2]) for r in chosen if r[2] in (batches or {})}:
        mine = sum(1 for r in chosen if r[1] == connection_id)
        ids += uow.execute(
            due.where(DELIVERIES.c.connection_id == connection_id, DELIVERIES.c.id.not_in(ids)).limit(
                max(0, batches[kind] - mine)
            )
        ).scalars()
    if not ids:
        return []
    token = str(uuid.uuid4())
    uow.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(ids), DELIVERIES.c.status == "pending", free)
        .values(
            lease_token=token,
            lease_until=now + timedelta(seconds=policy.lease_seconds),
            attempts=DELIVERIES.c.attempts + 1,
            first_attempt_at=func.coalesce(
                DELIVERIES.c.first_attempt_at, literal(now, FIRST.type), type_=FIRST.type
            ),
            updated_at=now,
        )
    )
    return _claimed(uow, token)


def _claimed(uow: UnitOfWork, token: str) -> list[Claimed]:
    rows = uow.execute(
        select(
            DELIVERIES.c.id,
            DELIVERIES.c.attempts,
            DELIVERIES.c.payload,
            DELIVERIES.c.connection_id,
            DELIVERIES.c.account_id,
            DELIVERIES.c.first_attempt_at,
            CONNECTIONS.c.kind,
        )
        .join(CONNECTIONS, CONNECTIONS.c.id == DELIVERIES.c.connection_id)
        .where(DELIVERIES.c.lease_token == token)
        .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
    ).all()
    return [
        Claimed(r.id, token, r.attempts, r.payload, r.kind, r.connection_id, r.account_id, r.first_attempt_at)
        for r in rows
    ]


@dataclass(frozen=True)
class Attempt:
    """What one attempt at a delivery came to: the HTTP status that decided it, if any, and the error."""

    at: datetime
    status_code: int | None = None
    error: str | None = None


def delivered(uow: UnitOfWork, claimed: Claimed, external_id: str | None, attempt: Attempt) -> None:
    external_id = (external_id or "")[:200] or None
    _record(uow, claimed, attempt, counted=True)
    if _finish(uow, claimed, attempt.at, status="delivered", external_id=external_id, last_error=None):
        _health(uow, claimed, last_success_at=attempt.at)


def failed(
    uow: UnitOfWork,
    claimed: Claimed,
    retryable: bool,
    retry_after: float | None,
    attempt: Attempt,
    policy: Policy,
) -> str:
    """Retryable: back off, or `dead` once the policy gives up. Permanent: `failed`. Answers the status."""
    error, now = (attempt.error or "")[:1000], attempt.at
    if retryable and not policy.gives_up(claimed, now):
        status, later = "pending", {"next_attempt_at": policy.next_attempt(claimed, retry_after, now)}
    else:
        status, later = ("dead" if retryable else "failed"), {}
    _record(uow, claimed, attempt, counted=True)
    if _finish(uow, claimed, now, status=status, last_error=error, **later):
        _health(uow, claimed, last_error=error)
    return status


def rate_limited(uow: UnitOfWork, claimed: Claimed, until: datetime, attempt: Attempt) -> None:
    """The vendor's rate limit: the whole connection waits until `until`, and so does this delivery;
    the wait is not an attempt."""
    connection_status.rate_limited(uow, claimed.connection_id, until, attempt.error or "rate limited")
    _wait(uow, claimed, until, attempt)


def refused(uow: UnitOfWork, claimed: Claimed, attempt: Attempt) -> None:
    """Refused credentials: the connection needs re-authorization; the delivery waits for it."""
    error = attempt.error or "credentials refused"
    connection_status.needs_reauth(uow, claimed.connection_id, claimed.account_id, claimed.kind, error)
    _wait(uow, claimed, attempt.at, attempt)


def gone(uow: UnitOfWork, claimed: Claimed, attempt: Attempt) -> None:
    """The receiver is gone (410): the connection is paused with the reason; the delivery waits."""
    connection_status.gone(uow, claimed.connection_id, attempt.error or "the receiver is gone")
    _wait(uow, claimed, attempt.at, attempt)


def held(uow: UnitOfWork, claimed: Claimed, now: datetime) -> None:
    """Claimed but not sent: its connection stopped earlier in the same round."""
    _finish(uow, claimed, now, status="pending", attempts=DELIVERIES.c.attempts - 1)


def _wait(uow: UnitOfWork, claimed: Claimed, until: datetime, attempt: Attempt) -> None:
    _record(uow, claimed, attempt, counted=False)
    error = (attempt.error or "")[:1000] or None
    if _finish(
        uow,
        claimed,
        attempt.at,
        status="pending",
        next_attempt_at=until,
        last_error=error,
        attempts=DELIVERIES.c.attempts - 1,
    ):
        _health(uow, claimed, last_error=error)


def _record(uow: UnitOfWork, claimed: Claimed, attempt: Attempt, counted: bool) -> None:
    error = attempt.error[:1000] if attempt.error else None
    uow.execute(
        insert(ATTEMPTS).values(
            delivery_id=claimed.id,
            at=attempt.at,
            status_code=attempt.status_code,
            error=error,
            counted=counted,
        )
    )


def _finish(uow: UnitOfWork, claimed: Claimed, now: datetime, **values) -> bool:
    """Record the outcome only while this claim still holds the delivery: a sender that outlived its
    lease (and was overtaken by another) must not overwrite the newer outcome. A delivery cancelled
    while in flight (its connection deleted) stays cancelled unless it did arrive."""
    mine = [DELIVERIES.c.id == claimed.id, DELIVERIES.c.lease_token == claimed.token]
    if values["status"] != "delivered":
        mine.append(DELIVERIES.c.status == "pending")
    stmt = (
        update(DELIVERIES).where(*mine).values(lease_until=None, lease_token=None, updated_at=now, **values)
    )
    return uow.execute(stmt).rowcount == 1


def _health(uow: UnitOfWork, claimed: Claimed, **values) -> None:
    uow.execute(update(CONNECTIONS).where(CONNECTIONS.c.id == claimed.connection_id).values(**values))
