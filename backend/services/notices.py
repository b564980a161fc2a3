"""Account notifications and the signed webhook events that carry them (api.md "Notifications").

R22's person notifications (job change, promotion) and the account notices without a person
(`crm_needs_reauth`, and the usage alerts `user_limit`, `low_balance`) take the same way out: a
notification row every member reads, and an event queued in the CRM delivery outbox for the account's
webhook connections, sent and retried like a lead. Each event has one fixed id, its `webhook-id`, the
same for every connection and every retry, so a receiver can deduplicate it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from backend.persistence.tables import CrmConnection, CrmDelivery, Notification, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services.pages import FIRST, Order, PageRequest, keyset
from backend.services.people import PEOPLE

NOTIFICATIONS = Notification.__table__
NOTIFICATION_ORDER = Order("notifications", NOTIFICATIONS.c.id, descending=True)
CONNECTIONS = CrmConnection.__table__


@dataclass(frozen=True)
class Event:
    """A signed webhook event for one account: `{"type": event_type, "data": data}` on the wire."""

    account_id: str
    event_type: str
    data: dict
    person_id: str | None = None


def notify(uow: UnitOfWork, account_id: str, kind: str, detail: dict, event_type: str) -> None:
    """A notification without a person (its facts in `detail`) and its webhook event."""
    now = utcnow()
    uow.execute(
        insert(NOTIFICATIONS).values(
            account_id=account_id,
            person_id=None,
            kind=kind,
            detail=detail,
            before={},
            after={},
            created_at=now,
        )
    )
    queue_events(uow, [Event(account_id, event_type, detail)], now)


def queue_events(uow: UnitOfWork, events: list[Event], now: datetime) -> None:
    """Queue each event for every webhook connection of its account that is neither deleted nor
    paused by its owner; one that is rate limited or needs re-authorization receives it once it is
    active again (the outbox holds it meanwhile)."""
    accounts = {e.account_id for e in events}
    if not accounts:
        return
    hooks = uow.execute(
        select(CONNECTIONS.c.id, CONNECTIONS.c.account_id).where(
            CONNECTIONS.c.account_id.in_(accounts),
            CONNECTIONS.c.kind == "webhook",
            CONNECTIONS.c.deleted_at.is_(None),
            CONNECTIONS.c.status != "paused",
        )
    ).all()
    by_account: dict[str, list[str]] = {}
    for connection_id, account_id in hooks:
        by_account.setdefault(account_id, []).append(connection_id)
    rows = []
    for event in events:
        payload = {"event": event.event_type, "id": f"evt_{uuid.uuid4().hex}", "data": event.data}
        rows += [
            {
                "id": str(uuid.uuid4()),
                "account_id": event.account_id,
                "connection_id": connection_id,
                "person_id": event.person_id,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for connection_id in by_account.get(event.account_id, [])
        ]
    if rows:
        uow.execute(insert(CrmDelivery.__table__), rows)


def notifications(uow: UnitOfWork, account_id: str, page: PageRequest = FIRST) -> dict:
    """The account's notifications, newest first (by id); a person's fields only on a person's
    notification, `detail` only on an account notice."""
    stmt = select(NOTIFICATIONS, PEOPLE.c.linkedin_url).outerjoin(
        PEOPLE, PEOPLE.c.id == NOTIFICATIONS.c.person_id
    )
    stmt = stmt.where(NOTIFICATIONS.c.account_id == account_id)
    return keyset(uow, stmt, NOTIFICATION_ORDER, (account_id,), page).json(
        "notifications", _notification_json
    )


def _notification_json(row) -> dict:
    out = {"id": str(row.id), "kind": row.kind, "created_at": row.created_at}
    if row.person_id is not None:
        out |= {
            "person_id": row.person_id,
            "linkedin_url": row.linkedin_url,
            "before": row.before,
            "after": row.after,
        }
    if row.detail is not None:
        out["detail"] = row.detail
    return out
