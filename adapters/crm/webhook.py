"""Webhook: the lead posted as JSON to the customer's URL, signed per Standard Webhooks.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
- Payload `{"type", "timestamp", "data"}`; headers `webhook-id`, `webhook-timestamp` (unix seconds) and
  `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the bytes of a
  `whsec_<base64>` secret of 24 to 64 random bytes.
- `webhook-id` is the delivery_id so it stays the same across retries (receivers use it to deduplicate);
  the timestamp is that of the attempt, as the spec asks. The message id must not contain ".".

Choices:
- Signing is a few lines of hmac here, so the tests' verification with the standardwebhooks package
  is an independent check of this code rather than the package checking itself.
- A connection created without a secret gets a generated one (32 random bytes). It is a secret field,
  absent from public_config, so the receiver can only learn it from the creation response.
- Any 2xx is success; the receiver's JSON "id", if any, becomes the external id. The spec treats every
  other answer as a failed attempt to retry on a schedule of days, so they are retryable (a 401 too:
  a receiver has no credentials of ours to refuse but the signing secret, which we never rotate on
  our own), except 3xx (the URL must be updated; redirects are not followed), 429 (RateLimited: the
  connection waits for Retry-After) and 410 Gone: the spec says the receiver asks us to stop sending,
  so it is ConnectionGone and the connection is paused with that reason.
- The connection test posts a signed `ping` event (data `{}`) with a fresh message id: a receiver
  that verifies signatures proves it holds the secret by answering 2xx.
- `base_url` is refused rather than ignored: the target of this kind is `url`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict
from datetime import UTC, datetime

import requests

from adapters.crm.base import CheckResult, ConfigReader, ConnectionGone, CrmAdapter, Lead, PushResult, redact

SECRET_PREFIX = "whsec_"
LEAD_EXPORTED = "lead.exported"
PING = "ping"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookAdapter(CrmAdapter):
    kind = "webhook"
    service = "The webhook receiver"
    secret_fields = ("secret",)

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        secret = read.text("secret")
        if secret is not None and not _valid_secret(secret):
            read.errors["secret"] = "must be whsec_ followed by the base64 of 24 to 64 random bytes"
        read.reject("base_url", "is not used by the webhook kind; put the target in url")
        return {"url": read.url("url", required=True), "secret": secret or generate_secret()}

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        return self.send_event(LEAD_EXPORTED, asdict(lead), message_id=delivery_id)

    def send_event(self, event_type: str, data: dict, *, message_id: str) -> PushResult:
        """Post one signed event; `message_id` must be the same for every retry of the same event."""
        if not message_id or "." in message_id:
            raise ValueError("a webhook message id must be non-empty and contain no '.'")
        now = self.outbound.clock()
        timestamp = int(now)
        event = {
            "type": event_type,
            "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.config["secret"], message_id, timestamp, body),
        }
        response = self.outbound.request("POST", self.config["url"], data=body, headers=headers)
        status = response.status_code
        if status == 410:
            raise ConnectionGone(self._gone(response))
        if not 200 <= status < 300:
            raise self._failure(response, retryable=not 300 <= status < 400)
        return PushResult(external_id=_receiver_id(response))

    def _check(self) -> CheckResult:
        self.send_event(PING, {}, message_id=f"ping_{secrets.token_hex(12)}")
        return CheckResult(True, "the receiver accepted a signed ping event")

    def _gone(self, response: requests.Response) -> str:
        reason = self._failure(response, retryable=False).message
        return redact(f"{reason}; the receiver asked to stop receiving events (410 Gone)", self._secrets)


def _valid_secret(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64


def _receiver_id(response: requests.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    identifier = data.get("id") if isinstance(data, dict) else None
    return str(identifier) if isinstance(identifier, str | int) and not isinstance(identifier, bool) else None
