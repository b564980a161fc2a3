"""OAuth 2 for the CRM vendors: what every vendor shares (authorize URL, PKCE, code exchange, refresh),
and per kind only what differs (endpoints, scopes, client authentication, where the API host comes
back). api.md "CRM connections that keep working".

Docs consulted (December 2026):
- HubSpot: consent page https://app.hubspot.com/oauth/authorize with client_id, scope, redirect_uri,
  state; token endpoint POST https://api.hubapi.com/oauth/v3/token, form-encoded, client_id and
  client_secret in the body (v3 keeps them out of query strings; v1 is deprecated on 2027-02-16),
  `code_verifier` accepted (PKCE); access tokens live 30 minutes (`expires_in` 1800), refresh tokens
  are not rotated by a refresh; a spent or revoked one answers `{"error": "invalid_grant", ...}`.
  https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide
  https://developers.hubspot.com/changelog/new-oauth-v3-api-endpoints-and-standardized-error-responses
  https://developers.hubspot.com/changelog/upcoming-expiration-of-oauth-access-tokens-is-changing
- Salesforce: web server flow on https://login.salesforce.com (a sandbox: https://test.salesforce.com)
  /services/oauth2/authorize and /services/oauth2/token, PKCE S256 recommended; the token answer
  names `instance_url` (the org's API host) and `issued_at` but no `expires_in`: the session timeout
  decides, and an expired token answers 401 INVALID_SESSION_ID. A refresh answers a new refresh token
  only when the app enables refresh token rotation (then the old one is invalidated).
  https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm
  https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_pkce.htm
  https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_refresh_token_flow.htm
- Pipedrive: https://oauth.pipedrive.com/oauth/authorize (client_id, redirect_uri, state; scopes are
  set on the app, not in the URL; no PKCE documented) and POST /oauth/token with HTTP Basic
  `client_id:client_secret`; the answer has `expires_in` (about an hour), a `refresh_token` (use the
  one each answer gives) and `api_domain`, the company's https://<company>.pipedrive.com whose REST API
  is under /api/v1. https://developers.pipedrive.com/docs/api/v1/Oauth
  https://pipedrive.readme.io/docs/marketplace-oauth-authorization
HubSpot's answer names no API host: with `HUBSPOT_OAUTH_BASE_URL` set (a stub or proxy), the API is
taken to be at that base too; otherwise the adapter's default (https://api.hubapi.com).

The token endpoint is the operator's (a real vendor's by default, `<KIND>_OAUTH_BASE_URL` otherwise)
and is trusted; the API host a token answer names is not: it must pass the outbound-target rule
(targets.check_url). Every error is a DeliveryError whose message carries the vendor's `error` code
and description only, with whatever we sent (code, verifier, refresh token, client secret) redacted.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

from adapters.crm.base import (
    AuthRefused,
    DeliveryError,
    PermanentDeliveryError,
    Resolve,
    RetryableDeliveryError,
    describe_body,
    json_message,
    redact,
)
from adapters.crm.targets import check_url, resolve_host


@dataclass(frozen=True)
class Vendor:
    """What one CRM's OAuth differs in."""

    kind: str
    service: str
    authorize_url: str  # the real consent page
    token_url: str  # the real token endpoint
    authorize_path: str  # under <KIND>_OAUTH_BASE_URL when the operator overrides it
    token_path: str
    scopes: tuple[str, ...]
    pkce: bool
    basic_auth: bool  # client credentials as HTTP Basic instead of in the form body
    host_field: str | None  # where the token answer names the API host
    host_suffix: str = ""  # appended to that host to make the adapter's base URL


VENDORS = {
    v.kind: v
    for v in (
        Vendor(
            kind="hubspot",
            service="HubSpot",
            authorize_url="https://app.hubspot.com/oauth/authorize",
            token_url="https://api.hubapi.com/oauth/v3/token",
            authorize_path="/oauth/authorize",
            token_path="/oauth/v3/token",
            scopes=("crm.objects.contacts.read", "crm.objects.contacts.write"),
            pkce=True,
            basic_auth=False,
            host_field=None,
        ),
        Vendor(
            kind="salesforce",
            service="Salesforce",
            authorize_url="https://login.salesforce.com/services/oauth2/authorize",
            token_url="https://login.salesforce.com/services/oauth2/token",
            authorize_path="/services/oauth2/authorize",
            token_path="/services/oauth2/token",
            scopes=("api", "refresh_token"),
            pkce=True,
            basic_auth=False,
            host_field="instance_url",
        ),
        Vendor(
            kind="pipedrive",
            service="Pipedrive",
            authorize_url="https://oauth.pipedrive.com/oauth/authorize",
            token_url="https://oauth.pipedrive.com/oauth/token",
            authorize_path="/oauth/authorize",
            token_path="/oauth/token",
            scopes=(),
            pkce=False,
            basic_auth=True,
            host_field="api_domain",
            host_suffix="/api",
        ),
    )
}


@dataclass(frozen=True)
class Client:
    """The operator's registered app for one vendor (`<KIND>_CLIENT_ID`, `_SECRET`, `_OAUTH_BASE_URL`)."""

    client_id: str
    client_secret: str
    base_url: str | None = None

    def authorize_endpoint(self, vendor: Vendor) -> str:
        return f"{self.base_url}{vendor.authorize_path}" if self.base_url else vendor.authorize_url

    def token_endpoint(self, vendor: Vendor) -> str:
        return f"{self.base_url}{vendor.token_path}" if self.base_url else vendor.token_url


@dataclass(frozen=True)
class TokenSet:
    """A token answer: the refresh token is the rotated one, or the one we had when none came back;
    `expires_at` is epoch seconds, None when the vendor states no lifetime (Salesforce)."""

    access_token: str
    refresh_token: str | None
    expires_at: float | None
    api_base_url: str | None  # the adapter's base URL from the answer's API host, checked

    def config(self, vendor: Vendor) -> dict:
        """The connection config keys these tokens set (the adapter reads them)."""
        out = {"access_token": self.access_token, "refresh_token": self.refresh_token}
        out["expires_at"] = self.expires_at
        if self.api_base_url:
            out["instance_url" if vendor.kind == "salesforce" else "base_url"] = self.api_base_url
        return {key: value for key, value in out.items() if value is not None}


class InvalidGrant(AuthRefused):
    """The vendor refused the refresh token (spent, revoked, expired): only a new consent helps."""


@dataclass(frozen=True)
class TokenEndpoint:
    """How tokens are fetched: the HTTP session, the network rule for API hosts, the clock."""

    session: requests.Session
    allow_private_networks: bool
    timeout: float
    clock: Callable[[], float]
    resolve: Resolve = resolve_host


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a random verifier and its S256 challenge (base64url, no padding)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    vendor: Vendor, client: Client, *, redirect_uri: str, state: str, code_challenge: str | None
) -> str:
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri}
    if vendor.scopes:
        params["scope"] = " ".join(vendor.scopes)
    params["state"] = state
    if vendor.pkce and code_challenge:
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    return f"{client.authorize_endpoint(vendor)}?{urlencode(params)}"


def exchange_code(
    vendor: Vendor,
    client: Client,
    endpoint: TokenEndpoint,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> TokenSet:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if vendor.pkce and code_verifier:
        form["code_verifier"] = code_verifier
    return _token_request(vendor, client, endpoint, form, kept_refresh_token=None)


def refresh(vendor: Vendor, client: Client, endpoint: TokenEndpoint, refresh_token: str) -> TokenSet:
    """A new access token; the refresh token is the rotated one when the answer has one, else kept."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return _token_request(vendor, client, endpoint, form, kept_refresh_token=refresh_token)


def _token_request(
    vendor: Vendor, client: Client, endpoint: TokenEndpoint, form: dict, kept_refresh_token: str | None
) -> TokenSet:
    # what must never reach a message: the client secret and the code, verifier or refresh token sent
    sent = [client.client_secret, *(form[k] for k in ("code", "code_verifier", "refresh_token") if k in form)]
    auth = None
    if vendor.basic_auth:
        auth = (client.client_id, client.client_secret)
    else:
        form = {**form, "client_id": client.client_id, "client_secret": client.client_secret}
    url = client.token_endpoint(vendor)
    host = urlsplit(url).hostname
    try:
        response = endpoint.session.post(
            url,
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=endpoint.timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise RetryableDeliveryError(f"{vendor.service}'s token endpoint did not answer in time") from None
    except requests.RequestException:
        raise RetryableDeliveryError(f"could not reach {vendor.service}'s token endpoint at {host}") from None
    if response.status_code != 200:
        raise _refusal(vendor, response, sent)
    return _token_set(vendor, client, endpoint, response, sent, kept_refresh_token)


def _refusal(vendor: Vendor, response: requests.Response, sent: list[str]) -> DeliveryError:
    """RFC 6749 §5.2: `invalid_grant` means the code or refresh token is no longer good."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    detail = json_message(data) if data is not None else describe_body(response)
    message = redact(f"{vendor.service}'s token endpoint answered {response.status_code}: {detail}", sent)
    if error == "invalid_grant":
        return InvalidGrant(message)
    if response.status_code >= 500 or response.status_code == 429:
        return RetryableDeliveryError(message)
    return PermanentDeliveryError(message)


def _token_set(
    vendor: Vendor,
    client: Client,
    endpoint: TokenEndpoint,
    response: requests.Response,
    sent: list[str],
    kept_refresh_token: str | None,
) -> TokenSet:
    try:
        data = response.json()
    except ValueError:
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("access_token"), str)
        or not data["access_token"]
    ):
        fields = ", ".join(sorted(data)) if isinstance(data, dict) else "no JSON object"
        raise PermanentDeliveryError(
            redact(f"{vendor.service}'s token answer has no access_token (it had: {fields})", sent)
        )
    refresh_token = data.get("refresh_token") if isinstance(data.get("refresh_token"), str) else None
    return TokenSet(
        access_token=data["access_token"],
        refresh_token=refresh_token or kept_refresh_token,
        expires_at=_expires_at(data.get("expires_in"), endpoint.clock()),
        api_base_url=_api_base_url(vendor, client, endpoint, data),
    )


def _expires_at(expires_in, now: float) -> float | None:
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return None
    return now + seconds if seconds > 0 else None


def _api_base_url(vendor: Vendor, client: Client, endpoint: TokenEndpoint, data: dict) -> str | None:
    """The API host the answer names, as the adapter's base URL; refused when the rule forbids it."""
    if not vendor.host_field:
        return client.base_url
    host = data.get(vendor.host_field)
    if not isinstance(host, str) or not host.strip():
        if vendor.kind == "salesforce":
            raise PermanentDeliveryError("Salesforce's token answer has no instance_url")
        return None
    host = host.strip().rstrip("/")
    try:
        check_url(host, allow_private_networks=endpoint.allow_private_networks, resolve=endpoint.resolve)
    except ValueError as exc:
        raise PermanentDeliveryError(f"{vendor.service}'s {vendor.host_field} is refused: {exc}") from None
    except OSError:
        raise RetryableDeliveryError(
            f"{vendor.service}'s {vendor.host_field} host {urlsplit(host).hostname!r} does not resolve"
        ) from None
    return host + vendor.host_suffix
