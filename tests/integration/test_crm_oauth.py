"""CRM connections that keep working (api.md "OAuth 2 connect", "Refresh"), against fake vendors on
127.0.0.1 (tests/fake_vendors.py), on SQLite and PostgreSQL: the consent round trip per vendor, the
states that must be refused, refresh before expiry and after a Salesforce 401, one refresh at a time
across two workers, and re-authorization after a refused refresh."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from adapters.crm.base import AuthRefused, RetryableDeliveryError
from backend.app import create_app
from backend.jobs.deliveries import DeliverySender
from backend.persistence.tables import CrmConnection, CrmDelivery, OAuthState
from backend.services import crm, outbox
from backend.services.crm_tokens import TokenKeeper
from tests.conftest import ORIGIN, app_settings, make_api
from tests.fake_vendors import CLIENTS, FakeVendors

PUBLIC_URL = "https://leads.example.com"
REDIRECT_URI = f"{PUBLIC_URL}/v1/crm/oauth/callback"
KINDS = ("hubspot", "salesforce", "pipedrive")


class Clock:
    """Injected time for the sender and the fake vendors, a minute ahead so what a test queues is due."""

    def __init__(self):
        self.t = time.time() + 60

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    vendors = FakeVendors(clock)
    yield vendors
    vendors.close()


def oauth_settings(db_url, fake, **kw):
    apps = {}
    for kind, (client_id, secret) in CLIENTS.items():
        apps.update(
            {
                f"{kind}_client_id": client_id,
                f"{kind}_client_secret": secret,
                f"{kind}_oauth_base_url": fake.base(kind),
            }
        )
    return app_settings(db_url, public_url=PUBLIC_URL, **apps, **kw)


@pytest.fixture
def app(db_url, fake):
    app = create_app(oauth_settings(db_url, fake))
    yield app
    app.extensions["store"].engine.dispose()


@pytest.fixture
def api(app):
    return make_api(app)


def consent(api, fake, start_answer, kind):
    """The browser's part: the vendor's consent page redirects back with a code it issued."""
    query = parse_qs(urlsplit(start_answer["authorize_url"]).query)
    code = fake.consent(kind, query["redirect_uri"][0], query.get("code_challenge", [None])[0])
    return api.raw.get(f"/v1/crm/oauth/callback?code={code}&state={start_answer['state']}")


def connect(api, client, fake, kind, **extra):
    start = client.post("/v1/crm/oauth/start", {"kind": kind, "name": f"my {kind}", **extra})
    assert start.status_code == 200, start.json
    done = consent(api, fake, start.json, kind)
    assert done.status_code in (200, 302), done.json
    [connection] = [c for c in client.get("/v1/crm/connections").json["connections"] if c["kind"] == kind]
    return connection["id"]


def stored(app, connection_id) -> CrmConnection:
    """The connection row, its config opened (the credentials are sealed in `secrets`)."""

    def read(uow):
        row = uow.session.get(CrmConnection, connection_id)
        uow.session.expunge(row)
        row.config = crm.connection_config(uow, row)
        return row

    return app.extensions["store"].run(read, write=False)


def connections(app) -> list:
    return app.extensions["store"].run(lambda uow: list(uow.session.execute(select(CrmConnection)).scalars()))


def export(api, client, connection_id, n):
    people = api.directory(n)
    for url in people:
        r = client.post("/v1/extension/crm-exports", {"linkedin_url": url, "connection_id": connection_id})
        assert r.status_code == 202, r.json


def deliveries(client):
    return client.get("/v1/crm/deliveries").json["deliveries"]


def sender(app, clock):
    return DeliverySender(app.extensions["store"], app.config["SETTINGS"], clock=clock)


@pytest.mark.parametrize("kind", KINDS)
def test_consent_round_trip_connects_and_never_shows_a_credential(api, app, fake, kind, caplog):
    caplog.set_level(logging.DEBUG)
    client = api.account()
    start = client.post("/v1/crm/oauth/start", {"kind": kind, "name": "sales"})
    assert start.status_code == 200
    url = urlsplit(start.json["authorize_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}".startswith(fake.base(kind))
    assert query["client_id"] == CLIENTS[kind][0] and query["redirect_uri"] == REDIRECT_URI
    assert query["state"] == start.json["state"] and query["response_type"] == "code"
    expected_scope = {
        "hubspot": "crm.objects.contacts.read crm.objects.contacts.write",
        "salesforce": "api refresh_token",
    }
    assert query.get("scope") == expected_scope.get(kind)
    assert ("code_challenge" in query) == (kind != "pipedrive")  # Pipedrive documents no PKCE
    if kind != "pipedrive":
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        [verifier] = app.extensions["store"].run(
            lambda uow: uow.execute(select(OAuthState.code_verifier)).scalars().all(), write=False
        )
        assert verifier.startswith("gAAAAA")  # a Fernet token: the PKCE verifier is sealed at rest

    done = consent(api, fake, start.json, kind)

    assert done.status_code == 200 and done.mimetype == "text/html", done.get_data(as_text=True)
    assert "default-src 'none'" in done.headers["Content-Security-Policy"]
    assert done.headers["X-Content-Type-Options"] == "nosniff"
    [exchange] = fake.grants(kind, "authorization_code")
    assert exchange["status"] == 200  # client authentication, redirect_uri and PKCE verifier accepted
    [connection] = client.get("/v1/crm/connections").json["connections"]
    row = stored(app, connection["id"])
    assert connection["kind"] == kind and connection["name"] == "sales"
    assert row.config["access_token"].startswith(f"{kind}-at-") and row.config["refresh_token"]
    host = {"hubspot": "base_url", "salesforce": "instance_url", "pipedrive": "base_url"}[kind]
    assert row.config[host] == fake.base(kind) + ("/api" if kind == "pipedrive" else "")
    assert ("expires_at" in row.config) == (kind != "salesforce")  # Salesforce states no lifetime
    shown = done.get_data(as_text=True) + client.get("/v1/crm/connections").get_data(as_text=True)
    for secret in (row.config["access_token"], row.config["refresh_token"], CLIENTS[kind][1]):
        assert secret not in shown and secret not in caplog.text


def test_forged_replayed_and_expired_states_are_refused_and_create_nothing(api, app, fake):
    client = api.account()
    forged = api.raw.get("/v1/crm/oauth/callback?code=anything&state=forged-state")
    assert forged.status_code == 400 and forged.mimetype == "application/problem+json"
    assert forged.json["code"] == "oauth_refused"

    start = client.post("/v1/crm/oauth/start", {"kind": "hubspot", "name": "crm"}).json
    assert consent(api, fake, start, "hubspot").status_code == 200
    replayed = consent(api, fake, start, "hubspot")
    assert replayed.status_code == 400 and replayed.json["code"] == "oauth_refused"
    assert len(connections(app)) == 1

    late = client.post("/v1/crm/oauth/start", {"kind": "salesforce", "name": "late"}).json
    app.extensions["store"].run(
        lambda uow: uow.execute(
            update(OAuthState.__table__).values(expires_at=OAuthState.__table__.c.created_at)
        )
    )
    expired = consent(api, fake, late, "salesforce")
    assert expired.status_code == 400 and expired.json["code"] == "oauth_refused"
    assert len(connections(app)) == 1 and not fake.grants("salesforce", "authorization_code")


def test_vendor_refusal_is_400_and_spends_the_state(api, app, fake):
    client = api.account()
    start = client.post("/v1/crm/oauth/start", {"kind": "salesforce", "name": "crm"}).json
    denied = api.raw.get(
        f"/v1/crm/oauth/callback?error=access_denied&error_description=end-user+denied+authorization"
        f"&state={start['state']}"
    )
    assert denied.status_code == 400 and "access_denied" in denied.json["detail"]
    assert consent(api, fake, start, "salesforce").status_code == 400  # the state went with the refusal
    assert connections(app) == [] and not fake.grants("salesforce", "authorization_code")


def test_return_to_must_be_an_allowed_origin_and_is_where_the_browser_goes(api, app, fake):
    client = api.account()
    for outside in ("https://evil.example/cb", "//evil.example/cb", "javascript:alert(1)"):
        r = client.post("/v1/crm/oauth/start", {"kind": "hubspot", "name": "x", "return_to": outside})
        assert r.status_code == 422 and "return_to" in r.json["errors"]
    start = client.post(
        "/v1/crm/oauth/start", {"kind": "hubspot", "name": "x", "return_to": f"{ORIGIN}/options.html"}
    )
    done = consent(api, fake, start.json, "hubspot")
    assert done.status_code == 302
    [connection] = connections(app)
    assert done.headers["Location"] == f"{ORIGIN}/options.html?connection_id={connection.id}"
    assert done.headers["Referrer-Policy"] == "no-referrer"


def test_start_is_for_admins_and_the_callback_needs_no_token(api, fake):
    client = api.account()
    member = api.teammate(client)
    r = member.post("/v1/crm/oauth/start", {"kind": "hubspot", "name": "x"})
    assert r.status_code == 403 and r.json["code"] == "forbidden"
    assert api.raw.get("/v1/crm/oauth/callback?state=x&code=y").status_code == 400  # not 401


def test_unusable_token_answers_are_refused_readably_and_create_nothing(api, app, fake):
    client = api.account()
    fake.token_answers["hubspot"] = {"token_type": "bearer", "expires_in": 1800}
    start = client.post("/v1/crm/oauth/start", {"kind": "hubspot", "name": "x"}).json
    r = consent(api, fake, start, "hubspot")
    assert r.status_code == 502 and "no access_token" in r.json["detail"]

    fake.api_hosts["salesforce"] = "http://169.254.169.254"  # the cloud metadata address: always refused
    start = client.post("/v1/crm/oauth/start", {"kind": "salesforce", "name": "y"}).json
    r = consent(api, fake, start, "salesforce")
    assert r.status_code == 502 and "instance_url is refused" in r.json["detail"]
    assert "salesforce-at-" not in r.get_data(as_text=True)
    assert connections(app) == []


def test_salesforce_keeps_delivering_across_three_expiries_with_one_refresh_each(api, app, fake, clock):
    fake.rotates["salesforce"] = True  # with rotation on, a spent refresh token would be refused
    client = api.account()
    connection_id = connect(api, client, fake, "salesforce")
    worker = sender(app, clock)
    export(api, client, connection_id, 4)
    worker.batch = 1
    for round_ in range(4):
        assert worker.run_once() == 1
        assert len(fake.grants("salesforce", "refresh_token")) == round_
        clock.advance(fake.lifetimes["salesforce"] + 1)  # the session times out; Salesforce never said when
    assert [d["status"] for d in deliveries(client)] == ["delivered"] * 4
    refreshes = fake.grants("salesforce", "refresh_token")
    assert len(refreshes) == 3 and all(r["status"] == 200 for r in refreshes)
    assert len(fake.api_calls("salesforce", 401)) == 3 and len(fake.api_calls("salesforce", 201)) == 4
    assert all(t["uses"] <= 1 for t in fake.refresh_tokens.values())
    assert client.balance()["email"] == 96  # four leads, four credits, nothing for the re-sends


def test_a_token_still_refused_after_one_refresh_is_auth_refused_without_a_loop(api, app, fake, clock):
    client = api.account()
    connection_id = connect(api, client, fake, "salesforce")
    export(api, client, connection_id, 1)
    fake.lifetimes["salesforce"] = 0  # every new session is dead on arrival
    clock.advance(7201)
    sender(app, clock).run_once()
    assert len(fake.grants("salesforce", "refresh_token")) == 1
    assert len(fake.api_calls("salesforce", 401)) == 2
    [delivery] = deliveries(client)
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)  # held, the wait not counted
    assert stored(app, connection_id).status == "needs_reauth"


def test_two_workers_on_an_expired_hubspot_token_refresh_once_and_both_deliver(api, app, fake, clock):
    fake.rotates["hubspot"] = True
    fake.refresh_delay = 0.3  # the second worker arrives while the first is refreshing
    client = api.account()
    connection_id = connect(api, client, fake, "hubspot")
    export(api, client, connection_id, 2)
    clock.advance(fake.lifetimes["hubspot"] - 60)  # within CRM_REFRESH_MARGIN of the stated expiry
    workers = [sender(app, clock) for _ in range(2)]
    store = app.extensions["store"]
    claims = [  # each worker holds one delivery; they send at once
        store.run(lambda uow: outbox.claim_due(uow, w.now(), w.policy, 1))[0] for w in workers
    ]
    ready = threading.Barrier(2)

    def work(worker, claimed):
        ready.wait(10)
        worker.send(claimed)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(workers, claims, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [d["status"] for d in deliveries(client)] == ["delivered", "delivered"]
    [refresh] = fake.grants("hubspot", "refresh_token")
    assert refresh["status"] == 200
    assert all(t["uses"] <= 1 for t in fake.refresh_tokens.values())
    assert not fake.api_calls("hubspot", 401)
    row = stored(app, connection_id)
    assert row.token_version == 1 and row.token_lease_owner is None
    assert fake.refresh_tokens[row.config["refresh_token"]]["live"]  # the rotated one was stored


def keeper(app, clock):
    return TokenKeeper(app.extensions["store"], app.config["SETTINGS"], clock)


def test_a_refused_refresh_is_auth_refused_without_the_token_and_frees_the_lease(api, app, fake, clock):
    client = api.account()
    connection_id = connect(api, client, fake, "hubspot")
    refresh_token = stored(app, connection_id).config["refresh_token"]
    fake.revoke("hubspot")
    clock.advance(fake.lifetimes["hubspot"])
    with pytest.raises(AuthRefused) as refused:
        keeper(app, clock).fresh_config(connection_id)
    assert "refused the refresh token" in refused.value.message and "invalid_grant" in refused.value.message
    assert refresh_token not in refused.value.message and CLIENTS["hubspot"][1] not in refused.value.message
    row = stored(app, connection_id)
    assert (row.token_lease_owner, row.token_version) == (None, 0)


def test_a_live_lease_is_waited_for_bounded_and_a_dead_workers_lease_is_taken_over(api, app, fake, clock):
    client = api.account()
    connection_id = connect(api, client, fake, "hubspot")
    clock.advance(fake.lifetimes["hubspot"])
    until = datetime.fromtimestamp(clock() + 30, UTC)  # a worker that died mid-refresh
    app.extensions["store"].run(
        lambda uow: uow.execute(
            update(CrmConnection.__table__).values(token_lease_until=until, token_lease_owner="gone")
        )
    )
    waiting = keeper(app, clock)
    waiting.lease_seconds = 0.2  # bounds the wait in real time
    with pytest.raises(RetryableDeliveryError, match="another worker is refreshing"):
        waiting.fresh_config(connection_id)
    assert not fake.grants("hubspot", "refresh_token")
    clock.advance(31)
    config = keeper(app, clock).fresh_config(connection_id)
    assert len(fake.grants("hubspot", "refresh_token")) == 1
    row = stored(app, connection_id)
    assert config["access_token"] == row.config["access_token"] and row.token_version == 1


def test_reauthorize_renews_the_same_connection_and_its_pending_deliveries_go_out(api, app, fake, clock):
    client = api.account()
    connection_id = connect(api, client, fake, "hubspot")
    export(api, client, connection_id, 1)
    store = app.extensions["store"]
    tomorrow = datetime.now(UTC) + timedelta(days=1)  # backing off, as after failed attempts
    store.run(lambda uow: uow.execute(update(CrmDelivery.__table__).values(next_attempt_at=tomorrow)))
    store.run(
        lambda uow: uow.execute(
            update(CrmConnection.__table__).values(status="needs_reauth", status_reason="refresh refused")
        )
    )
    before = stored(app, connection_id).config

    start = client.post(f"/v1/crm/connections/{connection_id}/reauthorize", {})
    assert start.status_code == 200
    done = consent(api, fake, start.json, "hubspot")

    assert done.status_code == 200 and "reconnected" in done.get_data(as_text=True)
    row = stored(app, connection_id)
    assert [c.id for c in connections(app)] == [connection_id]
    assert (row.status, row.status_reason, row.token_version) == ("active", None, 1)
    assert row.config["access_token"] != before["access_token"]
    assert row.config["field_map"] == before["field_map"]  # its other settings kept
    assert sender(app, clock).run_once() == 1
    assert [d["status"] for d in deliveries(client)] == ["delivered"]
    assert client.balance()["email"] == 99
    other = api.account()
    assert other.post(f"/v1/crm/connections/{connection_id}/reauthorize", {}).status_code == 404


def test_refused_refresh_holds_deliveries_until_reauthorized_then_delivers_without_a_second_charge(
    api, app, fake, clock
):
    client = api.account()
    connection_id = connect(api, client, fake, "hubspot")
    export(api, client, connection_id, 1)
    clock.advance(fake.lifetimes["hubspot"])
    fake.revoke("hubspot")
    worker = sender(app, clock)
    worker.run_once()

    [refused] = fake.grants("hubspot", "refresh_token")
    assert refused["status"] == 400
    assert [d["status"] for d in deliveries(client)] == ["pending"]
    assert stored(app, connection_id).status == "needs_reauth"
    kinds = [n["kind"] for n in client.get("/v1/notifications").json["notifications"]]
    assert "crm_needs_reauth" in kinds
    clock.advance(3600)
    worker.run_once()
    assert [d["status"] for d in deliveries(client)] == ["pending"]  # held, not failed

    start = client.post(f"/v1/crm/connections/{connection_id}/reauthorize", {}).json
    assert consent(api, fake, start, "hubspot").status_code == 200
    worker.run_once()
    assert [d["status"] for d in deliveries(client)] == ["delivered"]
    assert client.balance()["email"] == 99
