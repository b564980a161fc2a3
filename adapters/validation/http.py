"""A generic HTTP adapter for a hosted email-verification service.

The wire shape mirrors what the common services share: one GET per address with the address in
the query, and a JSON answer carrying a status word and an optional reason. ZeroBounce answers
`status` in valid / invalid / catch-all / unknown / spamtrap / abuse / do_not_mail
(https://github.com/zerobounce/zerobounce-python-api-v2); Kickbox answers `result` in
deliverable / undeliverable / risky / unknown (https://www.npmjs.com/package/kickbox). We keep one
generic shape, `GET {base_url}/v1/verify?email=...` with `Authorization: Bearer <key>` answering
`{"email", "status", "reason"?}`, and fold the vendor words we know onto our four statuses, so a
thin proxy (or a vendor with this shape) plugs in without code.

A verification is advisory, so an outage must not fail the caller's job: timeouts, connection
errors, 429, 5xx, auth failures and unreadable bodies all answer "unknown" with a reason code.
Reasons never carry exception text or anything the service echoed verbatim beyond a short,
key-scrubbed reason, so the API key cannot leak into stored results or logs.
"""

from __future__ import annotations

import re

import requests

from adapters.validation.base import EmailValidator, Status, Verdict, normalise_email

# Vendor status words (lower-cased, "-" and " " folded to "_") onto ours.
_STATUS_MAP: dict[str, Status] = {
    "valid": "valid",
    "deliverable": "valid",
    "ok": "valid",
    "invalid": "invalid",
    "undeliverable": "invalid",
    "spamtrap": "invalid",  # mailing it damages sender reputation: treat as unusable
    "risky": "risky",
    "catch_all": "risky",
    "accept_all": "risky",
    "disposable": "risky",
    "role": "risky",
    "role_based": "risky",
    "abuse": "risky",
    "do_not_mail": "risky",
    "toxic": "risky",
    "unknown": "unknown",
}
# Words that only name a status; any other mapped word is kept as the reason ("catch_all", ...).
_PLAIN_WORDS = frozenset({"valid", "deliverable", "ok", "invalid", "undeliverable", "risky", "unknown"})
_REASON_CHARS = re.compile(r"[^a-z0-9_.:-]+")
_MAX_REASON = 80


class HttpEmailValidator(EmailValidator):
    """One GET per address; pass a shared `session` to reuse connections across a batch."""

    def __init__(
        self, base_url: str, api_key: str, session: requests.Session | None = None, timeout: float = 10
    ):
        self._url = base_url.rstrip("/") + "/v1/verify"
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = timeout

    def validate(self, email: str) -> Verdict:
        normalised = normalise_email(email)
        try:
            response = self._session.get(
                self._url,
                params={"email": normalised},
                headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.Timeout:
            return Verdict(normalised, "unknown", ("service_timeout",))
        except requests.RequestException:
            return Verdict(normalised, "unknown", ("service_unreachable",))
        if response.status_code in (401, 403):
            return Verdict(normalised, "unknown", ("service_auth_failed",))
        if response.status_code == 429:
            return Verdict(normalised, "unknown", ("service_rate_limited",))
        if response.status_code != 200:
            return Verdict(normalised, "unknown", (f"service_http_{response.status_code}",))
        try:
            body = response.json()
        except ValueError:
            return Verdict(normalised, "unknown", ("service_bad_response",))
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return Verdict(normalised, "unknown", ("service_bad_response",))
        return self._verdict(normalised, body)

    def _verdict(self, normalised: str, body: dict) -> Verdict:
        word = re.sub(r"[-\s]+", "_", body["status"].strip().lower())
        status = _STATUS_MAP.get(word)
        reasons = []
        if status is None:
            status = "unknown"
            reasons.append("unrecognised_status:" + self._clean(word))
        elif word not in _PLAIN_WORDS:
            reasons.append(word)
        if isinstance(body.get("reason"), str) and body["reason"].strip():
            reasons.append(self._clean(body["reason"]))
        return Verdict(normalised, status, tuple(reasons))

    def _clean(self, text: str) -> str:
        """A short code made of safe characters, with the API key scrubbed should a service echo it."""
        text = text.strip().lower()
        if self._api_key:
            text = text.replace(self._api_key.lower(), "")
        code = _REASON_CHARS.sub("_", text).strip("_")
        return code[:_MAX_REASON] or "unspecified"
