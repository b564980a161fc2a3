"""OAuth 2 connect and re-authorize (api.md "OAuth 2 connect").

`start` records a state (only its hash), bound to the account and user, single use, 10 minutes, with
the PKCE verifier, and answers the vendor's consent URL. `callback` consumes the state with one
conditional UPDATE (a replay, an unknown or an expired state loses and nothing is created), exchanges
the code with no transaction open, and creates the connection — or, for a re-authorization, renews
the same one: new tokens, status back to `active`, its pending deliveries due now, so they go out
without a manual retry and, since the credit was taken when they were queued, without a charge.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import requests
from sqlalchemy import delete, select, update

from adapters.crm import oauth
from adapters.crm.base import ConfigError, DeliveryError
from adapters.crm.registry import get_adapter
from backend.config import Settings
from backend.domain.errors import InvalidInput, OAuthRefused, VendorRefused
from backend.persistence.tables import CrmConnection, CrmDelivery, OAuthState, utcnow
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import owned
from backend.services.charge_guard import Actor
from backend.services.crm import replaceable_config, store_config
from backend.services.crm_tokens import oauth_app

SEALED_FOR = "oauth_states"  # the purpose a state's sealed PKCE verifier is bound to
STATE_SECONDS = 600
CALLBACK_PATH = "/v1/crm/oauth/callback"
STATES = OAuthState.__table__
CONNECTIONS = CrmConnection.__table__
DELIVERIES = CrmDelivery.__table__


@dataclass(frozen=True)
class Connected:
    """What the callback made: the connection, and where to send the browser (None: show a page)."""

    connection_id: str
    kind: str
    name: str
    return_to: str | None
    renewed: bool

    def redirect_url(self) -> str | None:
        if not self.return_to:
            return None
        joiner = "&" if urlsplit(self.return_to).query else "?"
        return f"{self.return_to}{joiner}{urlencode({'connection_id': self.connection_id})}"


def start(
    uow: UnitOfWork,
    actor: Actor,
    settings: Settings,
    kind: str,
    name: str,
    return_to: str | None,
    connection_id: str | None = None,
) -> dict:
    vendor, client = _app(settings, kind)
    _check_return_to(settings, return_to)
    _forget_old(uow)
    state, state_id = secrets.token_urlsafe(32), str(uuid.uuid4())
    verifier, challenge = oauth.pkce_pair() if vendor.pkce else (None, None)
    uow.session.add(
        OAuthState(
            id=state_id,
            state_hash=_hash(state),
            account_id=actor.account_id,
            user_id=actor.user_id,
            kind=kind,
            name=name,
            connection_id=connection_id,
            return_to=return_to,
            code_verifier=uow.keyring.seal(SEALED_FOR, state_id, verifier) if verifier else None,
            expires_at=utcnow() + timedelta(seconds=STATE_SECONDS),
        )
    )
    url = oauth.authorize_url(
        vendor, client, redirect_uri=redirect_uri(settings), state=state, code_challenge=challenge
    )
    return {"authorize_url": url, "state": state}


def reauthorize(
    uow: UnitOfWork, actor: Actor, settings: Settings, connection_id: str, return_to: str | None
) -> dict:
    row = owned.get(uow, actor, CrmConnection, connection_id, "CRM connection")
    return start(uow, actor, settings, row.kind, row.name, return_to, connection_id=row.id)


def callback(store: Store, settings: Settings, query: dict) -> Connected:
    """The vendor sent the browser back: consume the state, exchange the code, connect."""
    state = query.get("state") or ""
    pending = store.run(lambda uow: _consume(uow, state)) if state else None
    if query.get("error"):  # the state is spent with the refusal
        described = " ".join(str(query.get("error_description") or "").split())[:200]
        error = f"the CRM answered {str(query['error'])[:60]!r}" + (f": {described}" if described else "")
        raise OAuthRefused(f"{error}; nothing was connected")
    if pending is None:
        raise OAuthRefused(
            "this sign-in link is unknown, already used or expired; start the connection again"
        )
    if not query.get("code"):
        raise OAuthRefused("the CRM sent no authorization code; start the connection again")
    vendor, client = _app(settings, pending.kind)
    config = _exchange(vendor, client, settings, query["code"], pending.code_verifier)
    return store.run(lambda uow: _connect(uow, pending, config))


def _exchange(
    vendor: oauth.Vendor, client: oauth.Client, settings: Settings, code: str, verifier: str | None
) -> dict:
    """The code for tokens, with no transaction open, as the adapter's config."""
    session = requests.Session()
    session.trust_env = False  # as every outbound call: no environment proxies or ~/.netrc
    endpoint = oauth.TokenEndpoint(
        session, settings.crm_allow_private_networks, settings.crm_timeout, time.time
    )
    try:
        tokens = oauth.exchange_code(
            vendor, client, endpoint, code=code, redirect_uri=redirect_uri(settings), code_verifier=verifier
        )
    except DeliveryError as exc:
        raise VendorRefused(f"{exc.message}; nothing was connected") from None
    return _validated(vendor, tokens, settings.crm_allow_private_networks)


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url}{CALLBACK_PATH}"


def _app(settings: Settings, kind: str) -> tuple[oauth.Vendor, oauth.Client]:
    app = oauth_app(settings, kind)
    if app is None or not settings.public_url:
        needs = f"{kind.upper()}_CLIENT_ID, {kind.upper()}_CLIENT_SECRET and PUBLIC_URL"
        if kind not in oauth.VENDORS:
            message = f"OAuth connect is for {', '.join(oauth.VENDORS)}; connect {kind!r} with a config"
        else:
            message = f"OAuth connect for {kind} is not set up on this server (it needs {needs})"
        raise InvalidInput(message, fields={"kind": [message]})
    return app


def _check_return_to(settings: Settings, return_to: str | None) -> None:
    """Only back to an origin this server serves or trusts (CORS_ORIGINS, PUBLIC_URL): no open redirect."""
    if return_to is None:
        return
    allowed = {_origin(o) for o in (*settings.cors_origins, settings.public_url) if o}
    if _origin(return_to) not in allowed:
        message = "must be a URL on an origin in CORS_ORIGINS or PUBLIC_URL"
        raise InvalidInput(f"return_to {message}", fields={"return_to": [message]})


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc or parts.username is not None or "\\" in url:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _forget_old(uow: UnitOfWork) -> None:
    """States a day past their expiry are of no use to anyone, not even to tell a replay apart."""
    uow.execute(delete(STATES).where(STATES.c.expires_at < utcnow() - timedelta(days=1)))


def _consume(uow: UnitOfWork, state: str) -> OAuthState | None:
    """The state's row, marked used by this caller alone; None when unknown, used or expired."""
    now = utcnow()
    won = uow.execute(
        update(STATES)
        .where(STATES.c.state_hash == _hash(state), STATES.c.used_at.is_(None), STATES.c.expires_at > now)
        .values(used_at=now)
    ).rowcount
    if not won:
        return None
    row = uow.session.execute(select(OAuthState).where(OAuthState.state_hash == _hash(state))).scalar_one()
    uow.session.expunge(row)  # the verifier is opened in memory only, never written back
    if row.code_verifier:
        row.code_verifier = uow.keyring.open(SEALED_FOR, row.id, row.code_verifier)
    return row


def _validated(vendor: oauth.Vendor, tokens: oauth.TokenSet, allow_private_networks: bool) -> dict:
    """The adapter's config for these tokens (its defaults filled in, the API host checked again)."""
    config = tokens.config(vendor)
    checked = {k: v for k, v in config.items() if k not in ("refresh_token", "expires_at")}
    try:
        stored = get_adapter(vendor.kind).validate_config(
            checked, allow_private_networks=allow_private_networks
        )
    except ConfigError as exc:
        raise VendorRefused(
            f"{vendor.service}'s answer cannot be used: {exc}; nothing was connected"
        ) from None
    return {**stored, **config}


def _connect(uow: UnitOfWork, pending: OAuthState, config: dict) -> Connected:
    if pending.connection_id is None:
        connection_id = str(uuid.uuid4())
        row = CrmConnection(
            id=connection_id, account_id=pending.account_id, kind=pending.kind, name=pending.name, config={}
        )
        uow.session.add(row)
        uow.session.flush()
        store_config(uow, connection_id, pending.kind, config)
        return Connected(connection_id, pending.kind, pending.name, pending.return_to, renewed=False)
    _renew(uow, pending, config)
    return Connected(pending.connection_id, pending.kind, pending.name, pending.return_to, renewed=True)


def _renew(uow: UnitOfWork, pending: OAuthState, config: dict) -> None:
    """The same connection with new tokens (its other settings kept), active again, deliveries due;
    also the way back for credentials SECRET_KEYS no longer opens."""
    row = uow.session.get(CrmConnection, pending.connection_id)
    if row is None or row.account_id != pending.account_id:
        raise OAuthRefused("the connection being re-authorized no longer exists; nothing was changed")
    kept = {k: v for k, v in replaceable_config(uow, row, config).items() if k != "expires_at"}
    now = utcnow()
    uow.execute(
        update(CONNECTIONS)
        .where(CONNECTIONS.c.id == row.id)
        .values(
            status="active",
            status_reason=None,
            paused_until=None,
            token_version=CONNECTIONS.c.token_version + 1,
            token_lease_until=None,
            token_lease_owner=None,
        )
    )
    store_config(uow, row.id, row.kind, {**kept, **config})
    _due_now(uow, row.id, now)


def _due_now(uow: UnitOfWork, connection_id: str, now: datetime) -> None:
    uow.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.connection_id == connection_id,
            DELIVERIES.c.status == "pending",
            DELIVERIES.c.lease_token.is_(None),
        )
        .values(next_attempt_at=now, updated_at=now)
    )
