"""Across every kind: how an HTTP answer becomes an error class, that no message ever carries a
credential, that a stored config validates to itself (an update re-validates it), and what
check_connection answers for a kind without a connection test."""

from __future__ import annotations

import pytest
import requests
import responses

from adapters.crm.base import (
    AuthRefused,
    CheckResult,
    DeliveryError,
    Lead,
    Outbound,
    PermanentDeliveryError,
    RateLimited,
    RetryableDeliveryError,
)
from adapters.crm.hubspot import HubSpotAdapter
from adapters.crm.pipedrive import PipedriveAdapter
from adapters.crm.salesforce import SalesforceAdapter
from adapters.crm.webhook import WebhookAdapter
from tests.fake_crm_plugin import FakeAdapter

ACCESS = "acc-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
REFRESH = "ref-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
API_TOKEN = "659c9fddb16335e48cc67114694b52074e812e03"
SECRET = "whsec_a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="
ADA = Lead("p1", "https://www.linkedin.com/in/ada", "Ada Lovelace", "Analyst", None, "ada@example.com", None)

KINDS = {
    # kind: (adapter, config, the URL its first request goes to)
    "hubspot": (
        HubSpotAdapter,
        {"access_token": ACCESS, "refresh_token": REFRESH},
        "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert",
    ),
    "salesforce": (
        SalesforceAdapter,
        {"access_token": ACCESS, "refresh_token": REFRESH, "instance_url": "https://acme.my.salesforce.com"},
        "https://acme.my.salesforce.com/services/data/v60.0/query",
    ),
    "pipedrive-oauth": (
        PipedriveAdapter,
        {"access_token": ACCESS, "refresh_token": REFRESH},
        "https://api.pipedrive.com/v1/persons/search",
    ),
    "pipedrive-token": (
        PipedriveAdapter,
        {"api_token": API_TOKEN},
        "https://api.pipedrive.com/v1/persons/search",
    ),
    "webhook": (
        WebhookAdapter,
        {"url": "https://hooks.example.com/in", "secret": SECRET},
        "https://hooks.example.com/in",
    ),
}
CREDENTIALS = (ACCESS, REFRESH, API_TOKEN, SECRET)


def public(host):
    return ["93.184.216.34"]


def build(kind: str):
    adapter, config, url = KINDS[kind]
    stored = adapter.validate_config(config, allow_private_networks=False, resolve=public, now=1_700_000_000)
    return adapter(
        stored, Outbound(session=requests.Session(), resolve=public, clock=lambda: 1_700_000_000)
    ), url


def echo(kind: str) -> dict:
    """A vendor that echoes every credential of the connection in its error body."""
    adapter, config, _ = KINDS[kind]
    own = [config[key] for key in adapter.secret_fields if key in config]
    return {"status": "error", "message": "bad credentials: " + " ".join(own), "errorCode": "ECHO"}


@pytest.mark.parametrize("status", [400, 401, 403, 409, 410, 429, 500])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_error_message_contains_a_credential(kind, status):
    adapter, url = build(kind)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in (responses.GET, responses.POST):
            mock.add(method, url, json=echo(kind), status=status)
        with pytest.raises(DeliveryError) as caught:
            adapter.push(ADA, delivery_id="d1")
        check = _check_outcome(adapter)
    for text in (str(caught.value), caught.value.message, check):
        assert not any(secret in text for secret in CREDENTIALS), text
    assert "[redacted]" in caught.value.message


def _check_outcome(adapter) -> str:
    try:
        return adapter.check_connection().detail
    except DeliveryError as exc:
        return exc.message


@pytest.mark.parametrize("kind", ["hubspot", "salesforce", "pipedrive-oauth", "pipedrive-token"])
def test_every_crm_kind_answers_401_with_auth_refused_and_429_with_rate_limited(kind):
    adapter, url = build(kind)
    for status, error in ((401, AuthRefused), (429, RateLimited)):
        with responses.RequestsMock() as mock:
            mock.add(
                responses.GET if "query" in url or "search" in url else responses.POST,
                url,
                status=status,
                headers={"Retry-After": "Tue, 14 Nov 2023 22:15:00 GMT"},
            )
            with pytest.raises(error) as caught:
                adapter.push(ADA, delivery_id="d1")
        assert isinstance(caught.value, PermanentDeliveryError if status == 401 else RetryableDeliveryError)
    assert caught.value.retry_after == 100  # the HTTP-date is 100 s after the adapter's clock


def test_a_kind_without_a_connection_test_says_so():
    adapter = FakeAdapter({"token": "t"}, Outbound(session=requests.Session(), resolve=public))
    assert adapter.check_connection() == CheckResult(False, "connections of the fake kind cannot be tested")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_stored_config_validates_to_itself_so_an_update_can_revalidate_it(kind):
    adapter, config, _ = KINDS[kind]
    stored = adapter.validate_config(
        {**config, "expires_in": 3600} if "access_token" in config else config,
        allow_private_networks=False,
        resolve=public,
        now=1_700_000_000,
    )
    again = adapter.validate_config(stored, allow_private_networks=False, resolve=public, now=1_800_000_000)
    assert again == stored
