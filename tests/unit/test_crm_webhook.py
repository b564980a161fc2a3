"""Webhook adapter: Standard Webhooks signing (checked with the standardwebhooks package), status handling,
secrets and the network rule at creation and delivery time."""

from __future__ import annotations

import base64
import time

import pytest
import requests
import responses
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.crm.base import (
    CheckResult,
    ConfigError,
    ConnectionGone,
    Lead,
    Outbound,
    PermanentDeliveryError,
    PushResult,
    RateLimited,
    RetryableDeliveryError,
)
from adapters.crm.webhook import WebhookAdapter

URL = "https://hooks.example.com/leadledger/in"
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
ADA = Lead(
    "p1", "https://www.linkedin.com/in/ada", "Ada Lovelace", "Analyst", "Engines", "ada@example.com", None
)


def public(host):
    return ["93.184.216.34"]


class Clock:
    """Real time (the verifier rejects stale timestamps) that tests can move forward."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def adapter(clock):
    config = WebhookAdapter.validate_config(
        {"url": URL, "secret": SECRET}, allow_private_networks=False, resolve=public
    )
    return WebhookAdapter(config, Outbound(session=requests.Session(), resolve=public, clock=clock))


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


def verify(call, secret: str = SECRET) -> dict:
    return Webhook(secret).verify(call.request.body, dict(call.request.headers))


# Configuration


def test_a_connection_without_secret_gets_a_generated_whsec_secret_of_32_bytes():
    config = WebhookAdapter.validate_config({"url": URL}, allow_private_networks=False, resolve=public)
    assert config["secret"].startswith("whsec_")
    assert len(base64.b64decode(config["secret"].removeprefix("whsec_"))) == 32
    other = WebhookAdapter.validate_config({"url": URL}, allow_private_networks=False, resolve=public)
    assert other["secret"] != config["secret"]
    assert WebhookAdapter.public_config(config) == {"url": URL}


@pytest.mark.parametrize(
    "secret", ["not-a-secret", "whsec_" + base64.b64encode(b"short").decode(), "whsec_!!!notbase64!!!"]
)
def test_a_malformed_or_short_secret_is_refused_without_being_echoed(secret):
    with pytest.raises(ConfigError) as caught:
        WebhookAdapter.validate_config(
            {"url": URL, "secret": secret}, allow_private_networks=False, resolve=public
        )
    assert set(caught.value.fields) == {"secret"}
    assert secret not in str(caught.value)


def test_url_is_required_and_must_be_http_or_https():
    with pytest.raises(ConfigError) as caught:
        WebhookAdapter.validate_config({}, allow_private_networks=False, resolve=public)
    assert caught.value.fields == {"url": "is required"}
    with pytest.raises(ConfigError) as caught:
        WebhookAdapter.validate_config(
            {"url": "ftp://hooks.example.com/"}, allow_private_networks=False, resolve=public
        )
    assert "http" in caught.value.fields["url"]


def test_base_url_and_unknown_keys_are_refused():
    with pytest.raises(ConfigError) as caught:
        WebhookAdapter.validate_config(
            {"url": URL, "base_url": URL, "headers": {}}, allow_private_networks=False, resolve=public
        )
    assert set(caught.value.fields) == {"base_url", "headers"}


def test_a_metadata_target_is_refused_at_creation_even_with_private_networks_allowed():
    with pytest.raises(ConfigError) as caught:
        WebhookAdapter.validate_config(
            {"url": "http://169.254.169.254/latest/meta-data/"}, allow_private_networks=True, resolve=public
        )
    assert "link-local" in caught.value.fields["url"]


def test_a_private_target_is_accepted_only_when_private_networks_are_allowed():
    def internal(host):
        return ["10.0.0.12"]

    with pytest.raises(ConfigError):
        WebhookAdapter.validate_config(
            {"url": "http://n8n.internal/hook"}, allow_private_networks=False, resolve=internal
        )
    config = WebhookAdapter.validate_config(
        {"url": "http://n8n.internal/hook"}, allow_private_networks=True, resolve=internal
    )
    assert config["url"] == "http://n8n.internal/hook"


# Delivery


def test_push_posts_a_signed_lead_exported_event_that_standardwebhooks_verifies(adapter, mock, clock):
    mock.add(responses.POST, URL, status=204)
    assert adapter.push(ADA, delivery_id="dlv_123") == PushResult(None)
    call = mock.calls[0]
    payload = verify(call)
    assert payload["type"] == "lead.exported"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"] == {
        "person_id": "p1",
        "linkedin_url": "https://www.linkedin.com/in/ada",
        "full_name": "Ada Lovelace",
        "title": "Analyst",
        "company": "Engines",
        "email": "ada@example.com",
        "phone": None,
    }
    headers = call.request.headers
    assert headers["webhook-id"] == "dlv_123"
    assert headers["webhook-timestamp"] == str(int(clock.now))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["Content-Type"] == "application/json"


def test_a_generated_secret_signs_verifiable_webhooks(mock, clock):
    config = WebhookAdapter.validate_config({"url": URL}, allow_private_networks=False, resolve=public)
    adapter = WebhookAdapter(config, Outbound(session=requests.Session(), resolve=public, clock=clock))
    mock.add(responses.POST, URL, status=200)
    adapter.push(ADA, delivery_id="dlv_1")
    assert verify(mock.calls[0], config["secret"])["data"]["person_id"] == "p1"


def test_a_retry_keeps_the_webhook_id_and_signs_a_new_timestamp(adapter, mock, clock):
    mock.add(responses.POST, URL, status=503)
    mock.add(responses.POST, URL, status=200)
    with pytest.raises(RetryableDeliveryError):
        adapter.push(ADA, delivery_id="dlv_7")
    clock.now += 60
    adapter.push(ADA, delivery_id="dlv_7")
    first, second = (call.request.headers for call in mock.calls)
    assert first["webhook-id"] == second["webhook-id"] == "dlv_7"
    assert int(second["webhook-timestamp"]) == int(first["webhook-timestamp"]) + 60
    verify(mock.calls[1])


def test_a_wrong_secret_does_not_verify(adapter, mock):
    mock.add(responses.POST, URL, status=200)
    adapter.push(ADA, delivery_id="dlv_1")
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        verify(mock.calls[0], other)


def test_send_event_supports_other_event_types(adapter, mock):
    mock.add(responses.POST, URL, status=202)
    adapter.send_event("credits.low", {"remaining": 5}, message_id="msg_9")
    payload = verify(mock.calls[0])
    assert payload["type"] == "credits.low" and payload["data"] == {"remaining": 5}


def test_a_message_id_with_a_dot_is_a_programming_error(adapter, mock):
    with pytest.raises(ValueError):
        adapter.send_event("lead.exported", {}, message_id="a.b")
    assert len(mock.calls) == 0


def test_the_receivers_json_id_becomes_the_external_id(adapter, mock):
    mock.add(responses.POST, URL, json={"id": "rcv_55", "ok": True}, status=201)
    assert adapter.push(ADA, delivery_id="d1") == PushResult("rcv_55")


def test_any_2xx_is_success_even_with_html_or_truncated_json(adapter, mock):
    mock.add(responses.POST, URL, body="<html>thanks</html>", status=200, content_type="text/html")
    mock.add(responses.POST, URL, body='{"id": "rcv', status=200)
    assert adapter.push(ADA, delivery_id="d1") == PushResult(None)
    assert adapter.push(ADA, delivery_id="d1") == PushResult(None)


def test_410_gone_is_connection_gone_with_a_readable_reason(adapter, mock):
    mock.add(responses.POST, URL, json={"error": "endpoint disabled by its owner"}, status=410)
    with pytest.raises(ConnectionGone) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert caught.value.retryable is False
    assert caught.value.message == (
        "The webhook receiver answered 410 Gone: endpoint disabled by its owner; "
        "the receiver asked to stop receiving events (410 Gone)"
    )


def test_a_redirect_is_not_followed_and_is_permanent(adapter, mock):
    mock.add(responses.POST, URL, status=301, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(PermanentDeliveryError, match="redirects are not followed"):
        adapter.push(ADA, delivery_id="d1")
    assert len(mock.calls) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502])
def test_other_failures_are_retryable_as_the_spec_asks(adapter, mock, status):
    mock.add(responses.POST, URL, json={"error": "receiver not ready"}, status=status)
    with pytest.raises(RetryableDeliveryError, match="receiver not ready") as caught:
        adapter.push(ADA, delivery_id="d1")
    assert not isinstance(caught.value, RateLimited)


def test_429_with_retry_after_30_is_rate_limited_for_30_seconds(adapter, mock):
    mock.add(responses.POST, URL, status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 30


def test_timeout_is_retryable(adapter, mock):
    mock.add(responses.POST, URL, body=requests.exceptions.ConnectTimeout())
    with pytest.raises(RetryableDeliveryError, match="hooks.example.com"):
        adapter.push(ADA, delivery_id="d1")


def test_a_receiver_echoing_the_secret_does_not_get_it_into_the_error(adapter, mock):
    mock.add(responses.POST, URL, body=f"bad signature, expected key {SECRET}", status=500)
    with pytest.raises(RetryableDeliveryError) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert SECRET not in str(caught.value) and "[redacted]" in str(caught.value)


def test_dns_pointing_at_the_metadata_address_after_creation_fails_permanently_without_a_request(mock, clock):
    config = WebhookAdapter.validate_config({"url": URL}, allow_private_networks=False, resolve=public)
    rebound = Outbound(session=requests.Session(), resolve=lambda host: ["169.254.169.254"], clock=clock)
    with pytest.raises(PermanentDeliveryError, match="169.254.169.254"):
        WebhookAdapter(config, rebound).push(ADA, delivery_id="d1")
    assert len(mock.calls) == 0


# Connection test


def test_check_connection_posts_a_signed_ping_the_receiver_can_verify(adapter, mock):
    mock.add(responses.POST, URL, status=204)
    assert adapter.check_connection() == CheckResult(True, "the receiver accepted a signed ping event")
    payload = verify(mock.calls[0])
    assert payload["type"] == "ping" and payload["data"] == {}
    assert mock.calls[0].request.headers["webhook-id"].startswith("ping_")


def test_each_ping_has_its_own_message_id(adapter, mock):
    mock.add(responses.POST, URL, status=200)
    adapter.check_connection()
    adapter.check_connection()
    first, second = (call.request.headers["webhook-id"] for call in mock.calls)
    assert first != second


def test_a_failing_ping_is_not_ok_with_the_receivers_reason(adapter, mock):
    mock.add(responses.POST, URL, json={"error": "invalid signature"}, status=401)
    result = adapter.check_connection()
    assert not result.ok and "401" in result.detail and "invalid signature" in result.detail


def test_a_gone_receiver_raises_connection_gone_from_the_test_too(adapter, mock):
    mock.add(responses.POST, URL, status=410)
    with pytest.raises(ConnectionGone):
        adapter.check_connection()
