"""Fresh CRM access tokens before a send (api.md "Refresh").

Where the vendor states an expiry, a token within CRM_REFRESH_MARGIN of it is refreshed before the
send; Salesforce, which states none, is refreshed after a refusal (`after_refusal`). One refresh at a
time per connection, across every worker and host: a worker claims a short lease on the connection
row in its own committed transaction (conditional on the token version it read and on no live lease),
re-reads the config, calls the vendor with no transaction open (a write transaction held across it
would stall every charge on SQLite), and writes the new access token and the rotated refresh token in
one transaction that first checks it still holds the lease. Everyone else waits, bounded, re-reading
until the version moves (then uses that token) or the lease runs out (then may claim it). So no
worker ever sends a spent refresh token, which a rotating vendor would answer `invalid_grant`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import or_, update

from adapters.crm import oauth
from adapters.crm.base import AuthRefused, DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from backend.config import Settings
from backend.persistence.tables import CrmConnection
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services.crm import connection_config, store_config

CONNECTIONS = CrmConnection.__table__
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Current:
    """A connection's token state as read: its config and the version of its token."""

    id: str
    kind: str
    config: dict
    version: int


def oauth_app(settings: Settings, kind: str) -> tuple[oauth.Vendor, oauth.Client] | None:
    """The vendor and the operator's registered app for `kind`, when the server has one."""
    vendor, client = oauth.VENDORS.get(kind), settings.oauth_client(kind)
    if vendor is None or client is None:
        return None
    return vendor, oauth.Client(*client)


class TokenKeeper:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float] = time.time):
        self.store, self.settings, self.clock = store, settings, clock
        self.session = requests.Session()
        self.session.trust_env = False
        # a lease outlives the vendor call it covers (one timeout), with room to write the answer
        self.lease_seconds = 2 * settings.crm_timeout + 5
        self.wait_step = 0.05

    def fresh_config(self, connection_id: str) -> dict:
        """The connection's config, its access token refreshed first when it expires within the margin."""
        margin = self.settings.crm_refresh_margin

        def due(config: dict) -> bool:
            expires_at = config.get("expires_at")
            return isinstance(expires_at, int | float) and self.clock() + margin >= expires_at

        return self._renewed(connection_id, due)

    def after_refusal(self, connection_id: str, used: dict) -> dict | None:
        """After the CRM refused the token in `used`: the config to send again with, refreshed once —
        unless another worker has renewed the token since (then its token is used as it is). None when
        there is no refresh token to try."""
        if not used.get("refresh_token"):
            return None
        return self._renewed(
            connection_id, lambda config: config.get("access_token") == used.get("access_token")
        )

    def _renewed(self, connection_id: str, needs_refresh: Callable[[dict], bool]) -> dict:
        deadline = time.monotonic() + self.lease_seconds  # a live lease ends by then, or its holder died
        while True:
            current = self.store.run(lambda uow: _read(uow, connection_id), write=False)
            if not current.config.get("refresh_token") or not needs_refresh(current.config):
                return current.config
            owner = str(uuid.uuid4())
            claimed = self.store.run(lambda uow, read=current, me=owner: self._claim(uow, read, me))
            if claimed is not None:
                return self._refresh(claimed, owner)
            if time.monotonic() > deadline:
                raise RetryableDeliveryError("another worker is refreshing this connection's token; retrying")
            time.sleep(self.wait_step)

    def _claim(self, uow: UnitOfWork, current: Current, owner: str) -> Current | None:
        """The lease, when nobody renewed the token since `current` was read and no lease is live; then
        the config re-read under it."""
        now = self._now()
        won = uow.execute(
            update(CONNECTIONS)
            .where(
                CONNECTIONS.c.id == current.id,
                CONNECTIONS.c.token_version == current.version,
                or_(CONNECTIONS.c.token_lease_until.is_(None), CONNECTIONS.c.token_lease_until < now),
            )
            .values(token_lease_until=now + timedelta(seconds=self.lease_seconds), token_lease_owner=owner)
        ).rowcount
        return _read(uow, current.id) if won else None

    def _refresh(self, current: Current, owner: str) -> dict:
        app = oauth_app(self.settings, current.kind)
        try:
            if app is None:
                kind = current.kind.upper()
                raise RetryableDeliveryError(
                    f"the access token needs a refresh; the server has no {kind}_CLIENT_ID/_CLIENT_SECRET"
                )
            vendor, client = app
            tokens = oauth.refresh(vendor, client, self._endpoint(), current.config["refresh_token"])
        except DeliveryError as exc:
            self.store.run(lambda uow: _release(uow, current.id, owner))
            if isinstance(exc, oauth.InvalidGrant):
                raise AuthRefused(
                    f"the CRM refused the refresh token; reconnect it ({exc.message})"
                ) from None
            raise
        config = {key: value for key, value in current.config.items() if key != "expires_at"}
        config.update(tokens.config(vendor))
        if not self.store.run(lambda uow: _write(uow, current, owner, config)):
            log.warning("connection %s: token lease lost before the refreshed token was stored", current.id)
        return config

    def _endpoint(self) -> oauth.TokenEndpoint:
        return oauth.TokenEndpoint(
            self.session, self.settings.crm_allow_private_networks, self.settings.crm_timeout, self.clock
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def _read(uow: UnitOfWork, connection_id: str) -> Current:
    row = uow.session.get(CrmConnection, connection_id, populate_existing=True)
    if row is None:
        raise PermanentDeliveryError("this CRM connection no longer exists")
    return Current(row.id, row.kind, connection_config(uow, row), row.token_version)


def _write(uow: UnitOfWork, current: Current, owner: str, config: dict) -> bool:
    """The new tokens, only while this worker still holds the lease; the version moves with them."""
    won = uow.execute(
        update(CONNECTIONS)
        .where(CONNECTIONS.c.id == current.id, CONNECTIONS.c.token_lease_owner == owner)
        .values(token_version=CONNECTIONS.c.token_version + 1, token_lease_until=None, token_lease_owner=None)
    ).rowcount
    if won:
        store_config(uow, current.id, current.kind, config)
    return bool(won)


def _release(uow: UnitOfWork, connection_id: str, owner: str) -> None:
    uow.execute(
        update(CONNECTIONS)
        .where(CONNECTIONS.c.id == connection_id, CONNECTIONS.c.token_lease_owner == owner)
        .values(token_lease_until=None, token_lease_owner=None)
    )
