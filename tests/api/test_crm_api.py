"""CRM connections through the API: configs checked by their adapter, secrets never echoed,
plugin kinds from entry points, deliveries listed and filtered."""

import importlib.metadata
from importlib.metadata import EntryPoint

import pytest

from adapters.crm.registry import GROUP, load_adapters


@pytest.mark.parametrize(
    "config,field",
    [
        ({}, "config.url"),
        ({"url": "ftp://hooks.example/x"}, "config.url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "config.url"),
        ({"url": "https://hooks.example/x", "secret": "not-a-secret"}, "config.secret"),
        ({"url": "https://hooks.example/x", "surprise": 1}, "config.surprise"),
    ],
)
def test_bad_webhook_configs_are_422_naming_the_field(api, config, field):
    user = api.account()
    r = user.post("/v1/crm/connections", {"kind": "webhook", "name": "h", "config": config})
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert field in r.json["errors"]


@pytest.mark.parametrize(
    "kind,config,field",
    [
        ("hubspot", {}, "config.access_token"),
        ("salesforce", {"access_token": "t"}, "config.instance_url"),
        ("pipedrive", {}, "config.api_token"),
        ("nosuchcrm", {}, "kind"),
    ],
)
def test_vendor_configs_missing_credentials_are_422(api, kind, config, field):
    r = api.account().post("/v1/crm/connections", {"kind": kind, "name": "c", "config": config})
    assert r.status_code == 422 and field in r.json["errors"]


def test_credentials_are_never_echoed_and_the_generated_secret_is_shown_once(api):
    user = api.account()
    made = user.post(
        "/v1/crm/connections", {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}
    )
    assert made.status_code == 201 and made.json["secret"].startswith("whsec_")
    hub = user.post(
        "/v1/crm/connections", {"kind": "hubspot", "name": "hs", "config": {"access_token": "pat-xyz"}}
    )
    assert hub.status_code == 201 and "pat-xyz" not in hub.text
    listed = user.get("/v1/crm/connections")
    assert made.json["secret"] not in listed.text and "pat-xyz" not in listed.text
    assert {c["kind"] for c in listed.json["connections"]} == {"webhook", "hubspot"}


def test_a_plugin_adapter_installed_through_an_entry_point_is_a_connection_kind(api, monkeypatch):
    shipped = list(importlib.metadata.entry_points(group=GROUP))
    plugin = EntryPoint(name="fake", value="tests.fake_crm_plugin:FakeAdapter", group=GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [*shipped, plugin])
    load_adapters.cache_clear()
    try:
        user = api.account()
        r = user.post("/v1/crm/connections", {"kind": "fake", "name": "f", "config": {"token": "s3cret"}})
        assert r.status_code == 201 and r.json["kind"] == "fake" and "s3cret" not in r.text
    finally:
        load_adapters.cache_clear()


def test_deliveries_are_listed_with_status_filter_and_retry_is_404_for_others(api):
    [url] = api.directory(1)
    user = api.account()
    cid = user.post(
        "/v1/crm/connections", {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}
    ).json["id"]
    d = user.post("/v1/extension/crm-exports", {"linkedin_url": url, "connection_id": cid}).json["delivery"]
    pending = user.get("/v1/crm/deliveries?status=pending").json["deliveries"]
    assert [x["id"] for x in pending] == [d["id"]]
    assert set(pending[0]) >= {
        "id",
        "connection_id",
        "person_id",
        "status",
        "attempts",
        "last_error",
        "external_id",
    }
    assert user.get("/v1/crm/deliveries?status=delivered").json["deliveries"] == []
    assert user.get("/v1/crm/deliveries?status=bogus").status_code == 422
    assert api.account().post(f"/v1/crm/deliveries/{d['id']}/retry").status_code == 404
