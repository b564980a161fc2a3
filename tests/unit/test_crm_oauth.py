"""adapters/crm/oauth.py: the consent URL, PKCE, the token answer per vendor (lifetimes, rotation, API
host), refusals that name the vendor's error and never a credential, and the OAuth settings."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters.crm import oauth
from adapters.crm.base import AuthRefused, PermanentDeliveryError, RetryableDeliveryError
from backend.config import Settings

NOW = 1_700_000_000.0
SECRET = "client-secret-0123456789"
CLIENT = oauth.Client("client-id", SECRET)


def endpoint(allow_private=False, addresses=("93.184.216.34",)):
    return oauth.TokenEndpoint(
        requests.Session(), allow_private, 5.0, lambda: NOW, resolve=lambda host: list(addresses)
    )


def test_pkce_challenge_is_the_s256_of_the_verifier():
    verifier, challenge = oauth.pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_authorize_url_uses_the_real_consent_page_unless_overridden():
    url = oauth.authorize_url(
        oauth.VENDORS["salesforce"],
        CLIENT,
        redirect_uri="https://l.example/cb",
        state="s",
        code_challenge="c",
    )
    assert url.startswith("https://login.salesforce.com/services/oauth2/authorize?")
    sandbox = oauth.Client("client-id", SECRET, "https://test.salesforce.com")
    url = oauth.authorize_url(
        oauth.VENDORS["pipedrive"], sandbox, redirect_uri="r", state="s", code_challenge="c"
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://test.salesforce.com/oauth/authorize?") and "code_challenge" not in query


@responses.activate
def test_hubspot_answer_expires_after_its_stated_lifetime_and_keeps_its_refresh_token():
    responses.post(
        "https://api.hubapi.com/oauth/v3/token",
        json={"access_token": "at-2", "token_type": "bearer", "expires_in": 1800},
    )
    tokens = oauth.refresh(oauth.VENDORS["hubspot"], CLIENT, endpoint(), "rt-1")
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == ("at-2", "rt-1", NOW + 1800)
    form = parse_qs(responses.calls[0].request.body)
    assert form["client_secret"] == [SECRET] and form["grant_type"] == ["refresh_token"]


@responses.activate
def test_pipedrive_authenticates_with_basic_and_its_api_domain_becomes_the_base_url():
    responses.post(
        "https://oauth.pipedrive.com/oauth/token",
        json={
            "access_token": "at",
            "refresh_token": "rt-2",
            "expires_in": 3599,
            "api_domain": "https://acme.pipedrive.com",
        },
    )
    tokens = oauth.refresh(oauth.VENDORS["pipedrive"], CLIENT, endpoint(), "rt-1")
    assert tokens.refresh_token == "rt-2" and tokens.api_base_url == "https://acme.pipedrive.com/api"
    request = responses.calls[0].request
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(f"client-id:{SECRET}".encode()).decode()
    )
    assert SECRET not in request.body


@responses.activate
def test_an_api_host_on_a_forbidden_address_is_refused():
    responses.post(
        "https://login.salesforce.com/services/oauth2/token",
        json={"access_token": "at", "instance_url": "https://internal.example"},
    )
    with pytest.raises(PermanentDeliveryError, match="instance_url is refused.*private"):
        oauth.refresh(oauth.VENDORS["salesforce"], CLIENT, endpoint(addresses=("10.0.0.5",)), "rt-1")
    tokens = oauth.refresh(
        oauth.VENDORS["salesforce"], CLIENT, endpoint(allow_private=True, addresses=("10.0.0.5",)), "rt"
    )
    assert tokens.expires_at is None  # Salesforce states no lifetime


@responses.activate
def test_invalid_grant_is_auth_refused_and_no_message_carries_a_credential():
    responses.post(
        "https://api.hubapi.com/oauth/v3/token",
        status=400,
        json={"error": "invalid_grant", "error_description": "refresh token rt-secret-1 is revoked"},
    )
    with pytest.raises(oauth.InvalidGrant) as refused:
        oauth.refresh(oauth.VENDORS["hubspot"], CLIENT, endpoint(), "rt-secret-1")
    assert isinstance(refused.value, AuthRefused)
    assert "invalid_grant" in refused.value.message and "rt-secret-1" not in refused.value.message


@responses.activate
def test_a_token_answer_without_access_token_or_a_5xx_is_refused_readably():
    responses.post(
        "https://api.hubapi.com/oauth/v3/token", json={"token_type": "bearer", "refresh_token": "rt"}
    )
    responses.post("https://api.hubapi.com/oauth/v3/token", status=503, body=f"echo {SECRET}")
    with pytest.raises(PermanentDeliveryError, match="no access_token"):
        oauth.exchange_code(
            oauth.VENDORS["hubspot"],
            CLIENT,
            endpoint(),
            code="code-0123456789",
            redirect_uri="https://l.example/cb",
            code_verifier="verifier-0123456789",
        )
    with pytest.raises(RetryableDeliveryError) as unavailable:
        oauth.refresh(oauth.VENDORS["hubspot"], CLIENT, endpoint(), "rt")
    assert "503" in unavailable.value.message and SECRET not in unavailable.value.message


def test_oauth_settings_are_read_per_kind_and_a_bad_url_refuses_to_start():
    settings = Settings.from_env(
        {
            "PUBLIC_URL": "https://leads.example.com/",
            "SALESFORCE_CLIENT_ID": "id",
            "SALESFORCE_CLIENT_SECRET": "secret",
            "SALESFORCE_OAUTH_BASE_URL": "https://test.salesforce.com",
        }
    )
    assert settings.public_url == "https://leads.example.com"
    assert settings.oauth_client("salesforce") == ("id", "secret", "https://test.salesforce.com")
    assert settings.oauth_client("hubspot") is None
    with pytest.raises(ValueError, match="PIPEDRIVE_OAUTH_BASE_URL"):
        Settings.from_env({"PIPEDRIVE_OAUTH_BASE_URL": "oauth.pipedrive.com"})
