"""A CRM connection's status (api.md "CRM connections that keep working"): `active`, `paused` (by its
owner, or by a receiver that answered 410 Gone), `needs_reauth` (its credentials were refused),
`rate_limited` (until `paused_until`). The outbox claims only the deliveries of active connections.

Every change is one conditional UPDATE, so concurrent senders and admins cannot undo each other:
a success never writes the status (it cannot lift a pause a concurrent 429 set), a rate limit is only
ever extended, and the one UPDATE that moves a connection to `needs_reauth` is the one that notifies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, update

from backend.persistence.tables import CrmConnection
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import notices

CONNECTIONS = CrmConnection.__table__
PAUSED_BY_OWNER = "paused by an admin"


def _move(uow: UnitOfWork, connection_id: str, when, **values) -> bool:
    stmt = update(CONNECTIONS).where(CONNECTIONS.c.id == connection_id, when)
    return uow.execute(stmt.values(**values)).rowcount == 1


def resume_expired(uow: UnitOfWork, now: datetime) -> None:
    """Rate limits whose time has passed lift by themselves; their deliveries flow again."""
    uow.execute(
        update(CONNECTIONS)
        .where(CONNECTIONS.c.status == "rate_limited", CONNECTIONS.c.paused_until <= now)
        .values(status="active", paused_until=None, status_reason=None)
    )


def rate_limited(uow: UnitOfWork, connection_id: str, until: datetime, reason: str) -> None:
    """The vendor's rate limit pauses the whole connection until `until`; a concurrent, shorter
    limit never shortens it, and a connection paused or awaiting re-authorization stays so."""
    longer = and_(CONNECTIONS.c.status == "rate_limited", CONNECTIONS.c.paused_until < until)
    _move(
        uow,
        connection_id,
        or_(CONNECTIONS.c.status == "active", longer),
        status="rate_limited",
        paused_until=until,
        status_reason=reason[:1000],
    )


def needs_reauth(uow: UnitOfWork, connection_id: str, account_id: str, kind: str, error: str) -> bool:
    """Its credentials were refused: hold its deliveries and tell the account, once per transition
    (a `crm_needs_reauth` notification and a `crm.connection.needs_reauth` event)."""
    moved = _move(
        uow,
        connection_id,
        CONNECTIONS.c.status.in_(("active", "rate_limited")),
        status="needs_reauth",
        paused_until=None,
        status_reason=error[:1000],
    )
    if moved:
        detail = {"connection_id": connection_id, "kind": kind, "error": error[:1000]}
        notices.notify(uow, account_id, "crm_needs_reauth", detail, "crm.connection.needs_reauth")
    return moved


def gone(uow: UnitOfWork, connection_id: str, reason: str) -> None:
    """The receiver asked us to stop (410 Gone): paused, with its reason, until its owner resumes it."""
    _move(
        uow,
        connection_id,
        CONNECTIONS.c.status != "paused",
        status="paused",
        paused_until=None,
        status_reason=reason[:1000],
    )


def set_paused(uow: UnitOfWork, connection_id: str, paused: bool) -> None:
    """The owner's pause (PATCH `paused`). Resuming lifts only a pause: a rate limit ends by itself,
    and refused credentials end with new ones (`credentials_replaced`) or a re-authorization."""
    if paused:
        _move(
            uow,
            connection_id,
            CONNECTIONS.c.status != "paused",
            status="paused",
            paused_until=None,
            status_reason=PAUSED_BY_OWNER,
        )
    else:
        _move(uow, connection_id, CONNECTIONS.c.status == "paused", status="active", status_reason=None)


def credentials_replaced(uow: UnitOfWork, connection_id: str) -> None:
    """New credentials take effect for the next attempt, so a connection waiting for them resumes."""
    _move(uow, connection_id, CONNECTIONS.c.status == "needs_reauth", status="active", status_reason=None)
