"""The CRM outbox's bookkeeping: claiming due deliveries under a lease, and recording outcomes.

A claim is a conditional UPDATE (still pending, lease free or expired), so two workers never send
the same delivery at once; a worker that dies mid-send leaves a lease that expires, and the next
worker sends it again with the same delivery id (the webhook-id receivers deduplicate on)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from backend.persistence.sealed import SealedValueError
from backend.persistence.tables import CrmConnection, CrmDelivery
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import crm

DELIVERIES = CrmDelivery.__table__
CONNECTIONS = CrmConnection.__table__


@dataclass(frozen=True)
class Claimed:
    id: str
    token: str
    attempts: int
    payload: dict
    kind: str
    config: dict
    connection_id: str


MAX_RETRY_AFTER = 86_400.0  # seconds: a CRM's Retry-After is honoured up to a day (1e12 overflowed the date)


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    lease_seconds: float

    def backoff(self, attempts: int, retry_after: float | None, rng=random.random) -> float:
        """Exponential with full jitter, never sooner than the CRM's Retry-After (up to a day)."""
        delay = rng() * min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER))


def claim_due(uow: UnitOfWork, now: datetime, policy: Policy, limit: int) -> list[Claimed]:
    """Lease up to `limit` due deliveries; the caller sizes `limit` so that sending them all, one
    timeout each, ends before their lease does."""
    free = or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now)
    due = (
        uow.execute(
            select(DELIVERIES.c.id)
            .where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= now, free)
            .order_by(DELIVERIES.c.next_attempt_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    claimed = []
    for delivery_id in due:
        token = str(uuid.uuid4())
        won = uow.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == "pending", free)
            .values(
                lease_token=token,
                lease_until=now + timedelta(seconds=policy.lease_seconds),
                attempts=DELIVERIES.c.attempts + 1,
                updated_at=now,
            )
        ).rowcount
        if won and (c := _claimed(uow, delivery_id, token, now, policy)):
            claimed.append(c)
    return claimed


def _claimed(uow: UnitOfWork, delivery_id: str, token: str, now: datetime, policy: Policy) -> Claimed | None:
    """The claimed delivery with its connection's config, credentials opened for the sender. When
    they do not open (a key missing from SECRET_KEYS, a ciphertext copied from another row), the
    attempt fails here, retried later as any failure: nothing is sent, the others go on."""
    d = uow.execute(
        select(
            DELIVERIES.c.id, DELIVERIES.c.attempts, DELIVERIES.c.payload, DELIVERIES.c.connection_id
        ).where(DELIVERIES.c.id == delivery_id)
    ).one()
    connection = uow.execute(select(CONNECTIONS).where(CONNECTIONS.c.id == d.connection_id)).one()
    claimed = Claimed(d.id, token, d.attempts, d.payload, connection.kind, {}, d.connection_id)
    try:
        return replace(claimed, config=crm.connection_config(uow, connection))
    except SealedValueError as exc:
        failed(uow, claimed, str(exc), True, None, now, policy)
        return None


def delivered(uow: UnitOfWork, claimed: Claimed, external_id: str | None, now: datetime) -> None:
    external_id = (external_id or "")[:200] or None
    if _finish(uow, claimed, now, status="delivered", external_id=external_id, last_error=None):
        _health(uow, claimed, last_success_at=now)


def failed(
    uow: UnitOfWork,
    claimed: Claimed,
    error: str,
    retryable: bool,
    retry_after: float | None,
    now: datetime,
    policy: Policy,
) -> str:
    """Retryable: back off, or `dead` after the last attempt. Permanent: `failed`. Answers the status."""
    error = error[:1000]
    if retryable and claimed.attempts < policy.max_attempts:
        status, later = (
            "pending",
            {"next_attempt_at": now + timedelta(seconds=policy.backoff(claimed.attempts, retry_after))},
        )
    else:
        status, later = ("dead" if retryable else "failed"), {}
    if _finish(uow, claimed, now, status=status, last_error=error, **later):
        _health(uow, claimed, last_error=error)
    return status


def _finish(uow: UnitOfWork, claimed: Claimed, now: datetime, **values) -> bool:
    """Record the outcome only while this claim still holds the delivery: a sender that outlived its
    lease (and was overtaken by another) must not overwrite the newer outcome."""
    return (
        uow.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == claimed.id, DELIVERIES.c.lease_token == claimed.token)
            .values(lease_until=None, lease_token=None, updated_at=now, **values)
        ).rowcount
        == 1
    )


def _health(uow: UnitOfWork, claimed: Claimed, **values) -> None:
    uow.execute(update(CONNECTIONS).where(CONNECTIONS.c.id == claimed.connection_id).values(**values))
