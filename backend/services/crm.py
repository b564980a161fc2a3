"""CRM connections and the delivery outbox. A delivery row is written in the same transaction as
the charge that paid for it; the worker sends it later (adapters/crm).

A connection's config is read and written only through `connection_config` and `store_config`: the
one place that knows how configs are kept (the credentials in them are sealed at rest)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from adapters.crm.base import AuthRefused, ConfigError, DeliveryError, Outbound, outbound_session
from adapters.crm.registry import get_adapter
from backend.config import Settings
from backend.domain.credits import UnlockKind
from backend.domain.errors import InvalidInput, NotFound
from backend.persistence.sealed import Keyring, SealedValueError
from backend.persistence.tables import CrmConnection, CrmDelivery, CrmDeliveryAttempt, utcnow
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import charge_guard, connection_status, owned
from backend.services.charge_guard import Actor
from backend.services.pages import FIRST, Order, PageRequest, keyset
from backend.services.unlocking import Held

DELIVERIES = CrmDelivery.__table__
CONNECTIONS = CrmConnection.__table__
ATTEMPTS = CrmDeliveryAttempt.__table__
SEALED_FOR = "crm_connections"  # the purpose a connection's sealed credentials are bound to
DELIVERY_STATUSES = ("pending", "delivered", "failed", "dead", "cancelled")
CONNECTION_STATUSES = ("active", "paused", "needs_reauth", "rate_limited")
DELIVERY_ORDER = Order("deliveries", CrmDelivery.created_at, CrmDelivery.id, descending=True)
CONNECTION_ORDER = Order("connections", CrmConnection.created_at, CrmConnection.id)


def connection_config(uow: UnitOfWork, row) -> dict:
    """The connection's whole config, its credentials opened: for its adapter, in memory only. `row`
    is a CrmConnection or a row of the table (id, config, secrets). SealedValueError when they do not
    open (a key missing from SECRET_KEYS, or a ciphertext copied from another row)."""
    return open_config(uow.keyring, row.id, row.config, row.secrets)


def store_config(uow: UnitOfWork, connection_id: str, kind: str, config: dict) -> None:
    """Write a connection's whole config: the fields its adapter names in `secret_fields` sealed
    and bound to this connection in `secrets`, the rest in clear in `config` (api.md "Secrets at
    rest")."""
    plain, sealed = seal_config(uow.keyring, connection_id, kind, config)
    uow.execute(
        update(CONNECTIONS).where(CONNECTIONS.c.id == connection_id).values(config=plain, secrets=sealed)
    )


def seal_config(
    keyring: Keyring | None, connection_id: str, kind: str, config: dict
) -> tuple[dict, str | None]:
    """(the config without its credentials, the credentials sealed or None when it has none)."""
    secret_fields = get_adapter(kind).secret_fields
    plain = {k: v for k, v in config.items() if k not in secret_fields}
    secrets = {k: v for k, v in config.items() if k in secret_fields}
    return plain, _keys(keyring).seal(SEALED_FOR, connection_id, secrets) if secrets else None


def open_config(keyring: Keyring | None, connection_id: str, config: dict, sealed: str | None) -> dict:
    if not sealed:
        return dict(config)
    return {**config, **_keys(keyring).open(SEALED_FOR, connection_id, sealed)}


def reseal(uow: UnitOfWork, after: str, limit: int) -> tuple[int, str | None]:
    """`flask rotate-secrets`, one bounded transaction: the sealed credentials of up to `limit`
    connections (ids above `after`) sealed again under the first key. Answers (how many, the last
    id read or None when none was left). A value rewritten meanwhile (store_config) is left as is."""
    rows = uow.execute(
        select(CONNECTIONS.c.id, CONNECTIONS.c.secrets)
        .where(CONNECTIONS.c.secrets.is_not(None), CONNECTIONS.c.id > after)
        .order_by(CONNECTIONS.c.id)
        .limit(limit)
    ).all()
    resealed = 0
    for row in rows:
        fresh = _keys(uow.keyring).rotate(SEALED_FOR, row.id, row.secrets)
        resealed += uow.execute(
            update(CONNECTIONS)
            .where(CONNECTIONS.c.id == row.id, CONNECTIONS.c.secrets == row.secrets)
            .values(secrets=fresh)
        ).rowcount
    return resealed, rows[-1].id if rows else None


def _keys(keyring: Keyring | None) -> Keyring:
    if keyring is None:
        raise SealedValueError("no SECRET_KEYS keyring was given to seal or open CRM credentials")
    return keyring


def _checked(kind: str, config: dict, allow_private_networks: bool) -> dict:
    """The config the kind's adapter would store; 422 naming each bad field."""
    try:
        return get_adapter(kind).validate_config(config, allow_private_networks=allow_private_networks)
    except ConfigError as exc:
        raise InvalidInput(
            str(exc), fields={f"config.{k}" if k != "kind" else k: [m] for k, m in exc.fields.items()}
        ) from exc


def create_connection(
    uow: UnitOfWork, actor: Actor, kind: str, name: str, config: dict, allow_private_networks: bool
) -> dict:
    """Validate the config with the kind's adapter (422 naming each bad field), then store it.
    A generated webhook secret is answered this once; it is never shown again."""
    stored = _checked(kind, config, allow_private_networks)
    row = CrmConnection(id=str(uuid.uuid4()), account_id=actor.account_id, kind=kind, name=name, config={})
    uow.session.add(row)
    uow.session.flush()
    store_config(uow, row.id, kind, stored)
    uow.session.refresh(row)
    return connection_json(row) | _shown_once(kind, config, {}, stored)


def update_connection(
    uow: UnitOfWork, actor: Actor, connection_id: str, changes: dict, allow_private_networks: bool
) -> dict:
    """PATCH (api.md "Updating and deleting"): `config` is merged key by key (a null goes back to
    the kind's default) and checked as at creation, so a bad key changes nothing; a new credential
    takes effect for the next attempt and ends a wait for re-authorization; `paused` pauses or
    resumes the connection. Credentials that no key in SECRET_KEYS opens any more are replaced by a
    PATCH that gives new ones (the unreadable ones are dropped); any other config change needs them
    opened (SealedValueError: 409 `credentials_unreadable`)."""
    row, shown = get_connection(uow, actor, connection_id), {}
    if "config" in changes:
        before = replaceable_config(uow, row, changes["config"])
        stored = _checked(row.kind, {**before, **changes["config"]}, allow_private_networks)
        store_config(uow, row.id, row.kind, stored)
        shown = _shown_once(row.kind, changes["config"], before, stored)
        if set(changes["config"]) & set(get_adapter(row.kind).secret_fields):
            connection_status.credentials_replaced(uow, row.id)
    if "name" in changes:
        uow.execute(update(CONNECTIONS).where(CONNECTIONS.c.id == row.id).values(name=changes["name"]))
    if "paused" in changes:
        connection_status.set_paused(uow, row.id, changes["paused"])
    uow.session.refresh(row)
    return connection_json(row) | shown


def replaceable_config(uow: UnitOfWork, row: CrmConnection, given: dict) -> dict:
    """The config a PATCH merges into: the stored one opened, or only its part in clear when its
    credentials do not open and the PATCH brings credentials of its own."""
    try:
        return connection_config(uow, row)
    except SealedValueError:
        if not set(given) & set(get_adapter(row.kind).secret_fields):
            raise
        return dict(row.config)


def _shown_once(kind: str, given: dict, before: dict, stored: dict) -> dict:
    """A webhook secret the server generated (none was given) is answered this once, at creation or
    when a PATCH sets it back to null; it is never shown again."""
    secret = stored.get("secret") if kind == "webhook" else None
    return {"secret": secret} if secret and secret not in (given.get("secret"), before.get("secret")) else {}


def delete_connection(uow: UnitOfWork, actor: Actor, connection_id: str) -> None:
    """DELETE: the connection is gone for the account and its pending deliveries are `cancelled`,
    never sent; nothing is refunded (the credits paid for the unlocks, which the account keeps). The
    row stays, deleted, because its past deliveries still name it."""
    row = get_connection(uow, actor, connection_id)
    now = utcnow()
    deleted = uow.execute(
        update(CONNECTIONS)
        .where(CONNECTIONS.c.id == row.id, CONNECTIONS.c.deleted_at.is_(None))
        .values(deleted_at=now)
    ).rowcount
    if not deleted:  # a concurrent delete won
        raise NotFound(f"no CRM connection {connection_id!r}")
    uow.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.connection_id == row.id, DELIVERIES.c.status == "pending")
        .values(status="cancelled", updated_at=now)
    )


def check_connection(store: Store, actor: Actor, connection_id: str, settings: Settings) -> dict:
    """POST …/test: the adapter's harmless authenticated call, sent with no transaction open.
    Refused credentials are also what a delivery would meet: the connection then needs
    re-authorization (and the account is told, once)."""

    def target(uow: UnitOfWork) -> tuple[CrmConnection, dict]:
        row = get_connection(uow, actor, connection_id)
        return row, connection_config(uow, row)

    row, config = store.run(target, write=False)
    allow = settings.crm_allow_private_networks
    outbound = Outbound(outbound_session(allow), allow, timeout=settings.crm_timeout)
    try:
        result = get_adapter(row.kind)(config, outbound).check_connection()
    except AuthRefused as exc:
        error = exc.message
        store.run(lambda uow: connection_status.needs_reauth(uow, row.id, row.account_id, row.kind, error))
        return {"ok": False, "detail": error}
    except DeliveryError as exc:
        return {"ok": False, "detail": exc.message}
    return {"ok": result.ok, "detail": result.detail}


def all_connections(uow: UnitOfWork, actor: Actor, page: PageRequest = FIRST) -> dict:
    """Oldest first; a deleted connection is gone from the listing."""
    stmt = select(CrmConnection).where(
        CrmConnection.account_id == actor.account_id, CrmConnection.deleted_at.is_(None)
    )
    found = keyset(uow, stmt, CONNECTION_ORDER, (actor.account_id,), page)
    return found.json("connections", lambda row: connection_json(row[0]))


def get_connection(uow: UnitOfWork, actor: Actor, connection_id: str) -> CrmConnection:
    row = owned.get(uow, actor, CrmConnection, connection_id, "CRM connection")
    if row.deleted_at is not None:
        raise NotFound(f"no CRM connection {connection_id!r}")
    return row


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


def get_delivery(uow: UnitOfWork, actor: Actor, delivery_id: str) -> dict:
    """One delivery with every attempt, oldest first (GET /v1/crm/deliveries/<id>): here `attempts`
    is that list and `attempt_count` the counted attempts a listing calls `attempts`."""
    row = owned.get(uow, actor, CrmDelivery, delivery_id, "delivery")
    attempts = uow.execute(
        select(ATTEMPTS.c.at, ATTEMPTS.c.status_code, ATTEMPTS.c.error, ATTEMPTS.c.counted)
        .where(ATTEMPTS.c.delivery_id == row.id)
        .order_by(ATTEMPTS.c.id)
    ).all()
    out = delivery_json(row)
    return out | {"attempt_count": out["attempts"], "attempts": [a._asdict() for a in attempts]}


def retry(uow: UnitOfWork, actor: Actor, delivery_id: str) -> dict:
    """Re-queue a failed or dead delivery; it is sent again with a fresh schedule of attempts, and
    nothing is charged again. The UPDATE checks the status again: a concurrent retry may have
    re-queued it and a sender claimed it since it was read, and resetting that claim would send it
    twice."""
    row = owned.get(uow, actor, CrmDelivery, delivery_id, "delivery")
    if row.status in ("failed", "dead"):
        uow.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == row.id, DELIVERIES.c.status.in_(("failed", "dead")))
            .values(
                status="pending",
                attempts=0,
                first_attempt_at=None,
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
        "config": adapter.public_config(row.config),  # the clear part (store_config)
        "status": row.status,
        "paused_until": row.paused_until,
        "status_reason": row.status_reason,
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
