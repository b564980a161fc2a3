"""CRM connections and the delivery outbox. A delivery row is written in the same transaction as
the charge that paid for it; the worker sends it later (adapters/crm)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from adapters.crm.base import ConfigError
from adapters.crm.registry import get_adapter
from backend.domain.credits import UnlockKind
from backend.domain.errors import InvalidInput
from backend.persistence.tables import CrmConnection, CrmDelivery, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, owned
from backend.services.charge_guard import Actor
from backend.services.pages import FIRST, Order, PageRequest, keyset
from backend.services.unlocking import Held

DELIVERIES = CrmDelivery.__table__
DELIVERY_STATUSES = ("pending", "delivered", "failed", "dead", "cancelled")
DELIVERY_ORDER = Order("deliveries", CrmDelivery.created_at, CrmDelivery.id, descending=True)


def create_connection(
    uow: UnitOfWork, actor: Actor, kind: str, name: str, config: dict, allow_private_networks: bool
) -> dict:
    """Validate the config with the kind's adapter (422 naming each bad field), then store it.
    A generated webhook secret is answered this once; it is never shown again."""
    try:
        adapter = get_adapter(kind)
        stored = adapter.validate_config(config, allow_private_networks=allow_private_networks)
    except ConfigError as exc:
        raise InvalidInput(
            str(exc), fields={f"config.{k}" if k != "kind" else k: [m] for k, m in exc.fields.items()}
        ) from exc
    row = CrmConnection(
        id=str(uuid.uuid4()), account_id=actor.account_id, kind=kind, name=name, config=stored
    )
    uow.session.add(row)
    uow.session.flush()
    out = connection_json(row)
    if kind == "webhook" and "secret" not in config:
        out["secret"] = stored["secret"]
    return out


def all_connections(uow: UnitOfWork, actor: Actor, page: PageRequest = FIRST) -> dict:
    return owned.page_of(uow, actor, CrmConnection, page).json("connections", connection_json)


def get_connection(uow: UnitOfWork, actor: Actor, connection_id: str) -> CrmConnection:
    return owned.get(uow, actor, CrmConnection, connection_id, "CRM connection")


def queue_delivery(uow: UnitOfWork, actor: Actor, connection: CrmConnection, held: Held) -> dict:
    """R11: what leaves is only what the account holds: the email it unlocked, a phone only when
    it already holds the phone unlock."""
    person = held.person
    phone = charge_guard.held(uow, actor.account_id, [person.id], [UnlockKind.PHONE])
    contact = held.contact or (uow.contacts.lookup(person.linkedin_url) if person.linkedin_url else None)
    payload = {
        "person_id": person.id,
        "linkedin_url": person.linkedin_url,
        "full_name": person.full_name or (contact.full_name if contact else None),
        "title": contact.title if contact else None,
        "company": contact.company if contact else None,
        "email": held.values.get(UnlockKind.EMAIL),
        "phone": phone[(person.id, UnlockKind.PHONE)].value if phone else None,
    }
    row = CrmDelivery(
        id=str(uuid.uuid4()),
        account_id=actor.account_id,
        connection_id=connection.id,
        person_id=person.id,
        payload=payload,
    )
    uow.session.add(row)
    uow.session.flush()
    return delivery_json(row)


def deliveries(uow: UnitOfWork, actor: Actor, status: str | None, page: PageRequest = FIRST) -> dict:
    """Newest first, a page at a time (a delivery whose status changes while a status-filtered
    listing is paged leaves or joins it)."""
    stmt = select(CrmDelivery).where(CrmDelivery.account_id == actor.account_id)
    if status:
        stmt = stmt.where(CrmDelivery.status == status)
    found = keyset(uow, stmt, DELIVERY_ORDER, (actor.account_id, status), page)
    return found.json("deliveries", lambda row: delivery_json(row[0]))


def retry(uow: UnitOfWork, actor: Actor, delivery_id: str) -> dict:
    """Re-queue a failed or dead delivery; it is sent again, and nothing is charged again. The UPDATE
    checks the status again: a concurrent retry may have re-queued it and a sender claimed it since
    it was read, and resetting that claim would send it twice."""
    row = owned.get(uow, actor, CrmDelivery, delivery_id, "delivery")
    if row.status in ("failed", "dead"):
        uow.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == row.id, DELIVERIES.c.status.in_(("failed", "dead")))
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
                lease_until=None,
                lease_token=None,
                updated_at=utcnow(),
            )
        )
        uow.session.refresh(row)
    return delivery_json(row)


def connection_json(row: CrmConnection) -> dict:
    adapter = get_adapter(row.kind)
    return {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "config": adapter.public_config(row.config),
        "last_success_at": row.last_success_at,
        "last_error": row.last_error,
        "created_at": row.created_at,
    }


def delivery_json(row: CrmDelivery) -> dict:
    return {
        "id": row.id,
        "connection_id": row.connection_id,
        "person_id": row.person_id,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "external_id": row.external_id,
        "created_at": row.created_at,
    }
