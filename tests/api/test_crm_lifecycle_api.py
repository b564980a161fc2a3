"""CRM connections over months, through the API (api.md "Updating and deleting", "CRM connections
that keep working", "Roles"): PATCH, DELETE and test (admin only), one delivery with its attempts,
person-less notifications; nothing changed by a refused request, no credential in any answer."""

import time

import pytest
import standardwebhooks

from adapters.crm.base import AuthRefused, PermanentDeliveryError
from backend.jobs.deliveries import DeliverySender
from tests.conftest import ORIGIN
from tests.fake_crm_plugin import installed
from tests.receiver import Receiver

HOOK = {"url": "http://127.0.0.1:9/h"}


@pytest.fixture
def scripted(monkeypatch):
    yield from installed(monkeypatch)


def patch(client, path, body):
    return client.c.patch(path, json=body, headers=client.headers)


def delete(client, path):
    return client.c.delete(path, headers=client.headers)


def connect(client, kind="webhook", config=None, name="c"):
    r = client.post("/v1/crm/connections", {"kind": kind, "name": name, "config": config or HOOK})
    assert r.status_code == 201, r.json
    return r.json


def connections(client):
    return {c["id"]: c for c in client.get("/v1/crm/connections").json["connections"]}


def export(api, client, connection_id, n=1, start=0):
    urls = api.directory(n, start=start)
    return [
        client.post("/v1/extension/crm-exports", {"linkedin_url": u, "connection_id": connection_id}).json[
            "delivery"
        ]["id"]
        for u in urls
    ]


def send_due(app):
    DeliverySender(app.extensions["store"], app.config["SETTINGS"]).run_once()


def test_patch_renames_pauses_resumes_and_merges_the_config_key_by_key(api):
    user = api.account()
    made = connect(user)
    assert (made["status"], made["paused_until"], made["status_reason"]) == ("active", None, None)
    r = patch(user, f"/v1/crm/connections/{made['id']}", {"name": "renamed", "paused": True})
    assert r.status_code == 200
    assert (r.json["name"], r.json["status"]) == ("renamed", "paused") and r.json["status_reason"]
    r = patch(user, f"/v1/crm/connections/{made['id']}", {"config": {"url": "http://127.0.0.1:10/new"}})
    assert r.json["config"] == {"url": "http://127.0.0.1:10/new"} and r.json["status"] == "paused"
    assert made["secret"] not in r.text  # the secret was kept, and is not shown again
    r = patch(user, f"/v1/crm/connections/{made['id']}", {"paused": False})
    assert (r.json["status"], r.json["status_reason"]) == ("active", None)
    assert connections(user)[made["id"]]["name"] == "renamed"


def test_a_webhook_secret_set_back_to_null_is_regenerated_and_shown_this_once(api):
    user = api.account()
    made = connect(user)
    r = patch(user, f"/v1/crm/connections/{made['id']}", {"config": {"secret": None}})
    assert (
        r.status_code == 200 and r.json["secret"].startswith("whsec_") and r.json["secret"] != made["secret"]
    )
    again = patch(user, f"/v1/crm/connections/{made['id']}", {"name": "x", "config": {"url": HOOK["url"]}})
    assert "secret" not in again.json and r.json["secret"] not in user.get("/v1/crm/connections").text


@pytest.mark.parametrize(
    "body,field",
    [
        ({"config": {"surprise": 1}}, "config.surprise"),
        ({"config": {"url": "ftp://hooks.example/x"}}, "config.url"),
        ({"config": {"url": "http://169.254.169.254/latest/meta-data"}}, "config.url"),
        ({"config": {"secret": "not-a-secret"}}, "config.secret"),
        ({"name": ""}, "name"),
        ({"paused": "maybe"}, "paused"),
        ({"status": "active"}, "status"),
    ],
)
def test_a_bad_patch_is_422_naming_the_field_and_changes_nothing(api, body, field):
    user = api.account()
    made = connect(user, name="kept")
    before = connections(user)[made["id"]]
    r = patch(user, f"/v1/crm/connections/{made['id']}", {**body, "name": body.get("name", "lost")})
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert r.json["code"] == "validation_error" and field in r.json["errors"]
    assert connections(user)[made["id"]] == before


def test_patch_and_delete_of_another_accounts_connection_are_404(api):
    made = connect(api.account())
    stranger = api.account()
    assert patch(stranger, f"/v1/crm/connections/{made['id']}", {"name": "x"}).status_code == 404
    assert delete(stranger, f"/v1/crm/connections/{made['id']}").status_code == 404
    assert stranger.post(f"/v1/crm/connections/{made['id']}/test").status_code == 404


def test_delete_cancels_pending_deliveries_refunds_nothing_and_a_second_delete_is_404(api, app):
    receiver = Receiver()
    try:
        user = api.account()
        made = connect(user, config={"url": receiver.url})
        ids = export(api, user, made["id"], n=2)
        assert user.balance()["email"] == 98
        r = delete(user, f"/v1/crm/connections/{made['id']}")
        assert r.status_code == 204 and r.data == b""
        listed = {d["id"]: d["status"] for d in user.get("/v1/crm/deliveries").json["deliveries"]}
        assert listed == dict.fromkeys(ids, "cancelled")
        assert user.get("/v1/crm/deliveries?status=cancelled").json["deliveries"]
        assert user.balance()["email"] == 98
        assert made["id"] not in connections(user)
        send_due(app)
        assert receiver.attempts == []
        again = delete(user, f"/v1/crm/connections/{made['id']}")
        assert again.status_code == 404 and again.json["code"] == "not_found"
        [url] = api.directory(1, start=5)
        gone = user.post("/v1/extension/crm-exports", {"linkedin_url": url, "connection_id": made["id"]})
        assert gone.status_code == 404 and user.balance()["email"] == 98
    finally:
        receiver.close()


def test_test_answers_ok_and_detail(api, scripted):
    user = api.account()
    made = connect(user, "scripted", {"token": "tok-secret-1"})
    r = user.post(f"/v1/crm/connections/{made['id']}/test")
    assert r.status_code == 200 and r.json == {"ok": True, "detail": "read one contact"}
    scripted.check = PermanentDeliveryError("Scripted CRM answered 404: no such portal")
    r = user.post(f"/v1/crm/connections/{made['id']}/test")
    assert r.json == {"ok": False, "detail": "Scripted CRM answered 404: no such portal"}
    assert connections(user)[made["id"]]["status"] == "active"


def test_refused_credentials_on_test_set_needs_reauth_and_notify_once(api, scripted):
    user = api.account()
    made = connect(user, "scripted", {"token": "tok-secret-1"})
    scripted.check = AuthRefused("Scripted CRM answered 401: token expired")
    for _ in range(2):
        r = user.post(f"/v1/crm/connections/{made['id']}/test")
        assert r.status_code == 200 and r.json["ok"] is False and "401" in r.json["detail"]
        assert "tok-secret-1" not in r.text
    conn = connections(user)[made["id"]]
    assert (conn["status"], conn["status_reason"]) == (
        "needs_reauth",
        "Scripted CRM answered 401: token expired",
    )
    notes = api.teammate(user).get("/v1/notifications").json["notifications"]  # every member sees them
    assert [n["kind"] for n in notes] == ["crm_needs_reauth"]
    assert notes[0]["detail"] == {
        "connection_id": made["id"],
        "kind": "scripted",
        "error": "Scripted CRM answered 401: token expired",
    }
    assert "person_id" not in notes[0] and "before" not in notes[0]
    scripted.check = AuthRefused("still refused")
    r = patch(user, f"/v1/crm/connections/{made['id']}", {"config": {"token": "tok-secret-2"}})
    assert r.json["status"] == "active" and "tok-secret-2" not in r.text  # a new credential resumes it


def test_one_delivery_lists_every_attempt_with_its_status_code(api, app):
    receiver = Receiver(fail_first=1, status=503)
    try:
        user = api.account()
        made = connect(user, config={"url": receiver.url})
        [did] = export(api, user, made["id"])
        fresh = user.get(f"/v1/crm/deliveries/{did}")
        assert fresh.status_code == 200 and fresh.json["attempts"] == [] and fresh.json["attempt_count"] == 0
        now = [time.time()]
        sender = DeliverySender(app.extensions["store"], app.config["SETTINGS"], clock=lambda: now[0])
        sender.run_once()
        now[0] += 3600  # past the backoff
        sender.run_once()
        one = user.get(f"/v1/crm/deliveries/{did}").json
        assert (one["id"], one["status"], one["attempt_count"]) == (did, "delivered", 2)
        assert [(a["status_code"], a["counted"]) for a in one["attempts"]] == [(503, True), (200, True)]
        assert "503" in one["attempts"][0]["error"] and one["attempts"][1]["error"] is None
        assert api.account().get(f"/v1/crm/deliveries/{did}").status_code == 404
        assert user.get("/v1/crm/deliveries/nope").json["code"] == "not_found"
    finally:
        receiver.close()


ADMIN_ROUTES = [
    ("post", "/v1/crm/connections", {"kind": "webhook", "name": "m", "config": HOOK}, 201),
    ("patch", "/v1/crm/connections/{id}", {"name": "by member", "paused": True}, 200),
    ("delete", "/v1/crm/connections/{id}", None, 204),
    ("post", "/v1/crm/connections/{id}/test", None, 200),
]


@pytest.mark.parametrize("method,path,body,ok", ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ADMIN_ROUTES])
def test_connection_writes_are_for_admins_a_member_gets_403_and_changes_nothing(
    api, scripted, method, path, body, ok
):
    admin = api.account()
    made = connect(admin, "scripted", {"token": "tok-secret-1"})
    [did] = export(api, admin, made["id"])
    member = api.teammate(admin)
    url = path.format(id=made["id"])
    before = (connections(admin), admin.get("/v1/crm/deliveries").json)

    def call(client):
        return getattr(client.c, method)(url, json=body, headers=client.headers)

    refused = call(member)
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    assert refused.json["code"] == "forbidden" and "admin" in refused.json["detail"]
    assert (connections(admin), admin.get("/v1/crm/deliveries").json) == before
    assert scripted.pushed == [] and "tok-secret-1" not in refused.text
    assert call(admin).status_code == ok


def test_retry_stays_open_to_members(api, app, scripted):
    admin = api.account()
    made = connect(admin, "scripted", {"token": "t"})
    [did] = export(api, admin, made["id"])
    scripted.script.append(PermanentDeliveryError("Scripted CRM refused the lead"))
    send_due(app)
    member = api.teammate(admin)
    assert member.get(f"/v1/crm/deliveries/{did}").json["status"] == "failed"
    r = member.post(f"/v1/crm/deliveries/{did}/retry")
    assert r.status_code == 202 and r.json["status"] == "pending"


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "PUT"])
def test_cors_preflight_allows_the_new_methods(api, method):
    r = api.raw.options(
        "/v1/crm/connections/some-id",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert 200 <= r.status_code < 300
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {m.strip().upper() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert method in allowed


def test_openapi_documents_the_lifecycle_routes_and_statuses(api):
    spec = api.raw.get("/openapi.json").json
    one = spec["paths"]["/v1/crm/connections/{connection_id}"]
    assert {"patch", "delete"} <= set(one) and "post" in spec["paths"][
        "/v1/crm/connections/{connection_id}/test"
    ]
    assert "get" in spec["paths"]["/v1/crm/deliveries/{delivery_id}"]
    schemas = spec["components"]["schemas"]
    assert "cancelled" in schemas["Delivery"]["properties"]["status"]["enum"]
    assert set(schemas["Connection"]["properties"]["status"]["enum"]) == {
        "active",
        "paused",
        "needs_reauth",
        "rate_limited",
    }
    assert schemas["DeliveryDetail"]["properties"]["attempts"]["type"] == "array"


def test_testing_a_webhook_sends_it_a_signed_ping(api):
    receiver = Receiver()
    try:
        user = api.account()
        made = connect(user, config={"url": receiver.url})
        r = user.post(f"/v1/crm/connections/{made['id']}/test")
        assert r.status_code == 200 and r.json["ok"] is True and made["secret"] not in r.text
        [ping] = receiver.attempts
        event = standardwebhooks.Webhook(made["secret"]).verify(ping["body"], ping["headers"])
        assert event["type"] == "ping"
    finally:
        receiver.close()
