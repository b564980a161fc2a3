"""HubSpot: contacts created or updated by email through the batch upsert endpoint.

Docs consulted:
- Batch upsert: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
  (POST /crm/v3/objects/contacts/batch/upsert, `Authorization: Bearer <token>`, inputs of
  `{"idProperty", "id", "properties", "objectWriteTraceId"}`, answer `{"results": [...], "errors": [...]}`)
- Errors and 207 multi-status: https://developers.hubspot.com/docs/api-reference/error-handling
- Contacts guide (email is the unique identifier that prevents duplicates):
  https://developers.hubspot.com/docs-beta/crm/contacts
- Rate limits: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details (a 429 body
  `{"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
  "policyName": "DAILY", ...}`; "the daily limit resets at midnight based on your time zone setting")
- The account's time zone (`timeZone`, e.g. "US/Eastern"), which `time_zone` can be filled from:
  https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
- Read all properties, GET /crm/v3/properties/contacts, answer `{"results": [{"name", ...}]}`:
  https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties
- List contacts, GET /crm/v3/objects/contacts?limit=1 (the connection test's harmless read):
  https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/get-contacts
- Tokens: private-app and OAuth access tokens alike go in `Authorization: Bearer`; a 401 is an
  expired or revoked token: https://developers.hubspot.com/apps/api_guidelines

Config: `access_token` (a private-app token or an OAuth access token), with `refresh_token` and
`expires_at`/`expires_in` for OAuth (base.ConfigReader.tokens); `base_url`; `field_map`; `time_zone`,
the portal's IANA time zone (UTC when unknown), used only to know when the daily limit resets.

Choices:
- Properties sent, by default: email, firstname/lastname (full_name split at the first space), jobtitle,
  company, phone, and the LinkedIn URL in `hs_linkedin_url`, the internal name of the default "LinkedIn
  URL" contact property as read and written by public HubSpot integrations (HubSpot's reference pages
  available to us do not list it by internal name). `field_map` moves any lead field to another
  property or (null) drops it; `linkedin_property`, the older way to name the LinkedIn property, is
  still accepted and stored as `field_map.linkedin_url`. Email always goes to `email`: contacts are
  upserted by it. Empty values are not sent, so an upsert never blanks what the CRM already holds.
- A 401 is AuthRefused and any 429 is RateLimited; a 429 of the DAILY policy waits until the next
  midnight in `time_zone`, since HubSpot sends no Retry-After for it. A batch that is refused or rate
  limited gives every lead of it that error, and the batches after it are not sent.
- A lead without email cannot be upserted by email and is a permanent failure with a clear message.
  Creating it through POST /crm/v3/objects/contacts instead would make a new contact on every retry or
  re-export, since nothing else identifies it.
- Each input carries the delivery_id as objectWriteTraceId, which is how multi-status answers say
  which input failed; results are also matched by email.
- A 400 or 409 for a batch rejects every input because of one bad contact, so the batch is then sent
  one contact at a time and only the bad one fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from adapters.crm.base import (
    AuthRefused,
    CheckResult,
    ConfigReader,
    CrmAdapter,
    DeliveryError,
    Lead,
    PermanentDeliveryError,
    PushResult,
    RateLimited,
    RetryableDeliveryError,
    json_message,
    mapped_names,
    mapped_properties,
    properties_check,
    redact,
)

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_LINKEDIN_PROPERTY = "hs_linkedin_url"
PROPERTY_NAME = r"[a-z][a-z0-9_]{0,99}"  # HubSpot internal property names
BATCH_LIMIT = 100  # documented maximum number of inputs per batch request
Outcome = PushResult | DeliveryError


class HubSpotAdapter(CrmAdapter):
    kind = "hubspot"
    service = "HubSpot"
    secret_fields = ("access_token", "refresh_token")
    default_field_map = {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "title": "jobtitle",
        "company": "company",
        "phone": "phone",
        "linkedin_url": DEFAULT_LINKEDIN_PROPERTY,
    }

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        defaults = dict(cls.default_field_map)
        legacy = read.text("linkedin_property")
        if legacy and not re.fullmatch(PROPERTY_NAME, legacy):
            read.errors["linkedin_property"] = "must be a HubSpot internal property name (a-z, 0-9, _)"
        elif legacy:
            defaults["linkedin_url"] = legacy
        field_map = read.field_map(defaults, name=PROPERTY_NAME, fixed={"email": "email"})
        if legacy and field_map["linkedin_url"] != legacy:
            read.errors["linkedin_property"] = "names another property than field_map.linkedin_url"
        return {
            **read.tokens(),
            "base_url": read.url("base_url", default=DEFAULT_BASE_URL),
            "field_map": field_map,
            "time_zone": _time_zone(read),
        }

    @property
    def field_map(self) -> dict[str, str | None]:
        """A config stored before field maps may name its LinkedIn property in `linkedin_property`."""
        legacy = (
            {"linkedin_url": self.config["linkedin_property"]} if "linkedin_property" in self.config else {}
        )
        return {**self.default_field_map, **legacy, **(self.config.get("field_map") or {})}

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        outcome = self.push_batch([(delivery_id, lead)])[0]
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def push_batch(self, leads: list[tuple[str, Lead]]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(leads)
        with_email = []
        for index, (_, lead) in enumerate(leads):
            if lead.email:
                with_email.append(index)
            else:
                outcomes[index] = PermanentDeliveryError(
                    "HubSpot identifies contacts by email and this lead has no email; "
                    "reveal it, then export again"
                )
        halted: DeliveryError | None = None  # a refusal or rate limit: nothing more goes out now
        for chunk in _chunks(with_email, leads):
            results = [halted] * len(chunk) if halted else self._upsert([leads[i] for i in chunk])
            for index, outcome in zip(chunk, results, strict=True):
                outcomes[index] = outcome
            halted = halted or _halting(results)
        return outcomes  # every slot is filled by now

    def _upsert(self, items: list[tuple[str, Lead]]) -> list[Outcome]:
        body = {"inputs": [self._input(delivery_id, lead) for delivery_id, lead in items]}
        try:
            response = self._call("POST", "/crm/v3/objects/contacts/batch/upsert", json=body)
            if response.status_code in (400, 409) and len(items) > 1:
                return self._one_at_a_time(items)
            data = self._json(response)
        except DeliveryError as exc:
            return [exc] * len(items)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            return [self._unexpected(response, "a results list")] * len(items)
        return self._match(items, data)

    def _one_at_a_time(self, items: list[tuple[str, Lead]]) -> list[Outcome]:
        """After a 400/409 for a whole batch; a refusal or rate limit on the way stops the sending."""
        outcomes: list[Outcome] = []
        for item in items:
            halted = _halting(outcomes)
            outcomes.append(halted or self._upsert([item])[0])
        return outcomes

    def _input(self, delivery_id: str, lead: Lead) -> dict:
        return {
            "idProperty": "email",
            "id": lead.email,
            "objectWriteTraceId": delivery_id,
            "properties": mapped_properties(lead, self.field_map),
        }

    def _check(self) -> CheckResult:
        self._json(self._call("GET", "/crm/v3/objects/contacts", params={"limit": "1"}))
        response = self._call("GET", "/crm/v3/properties/contacts")
        data = self._json(response)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise self._unexpected(response, "a list of contact properties")
        existing = {
            item["name"] for item in results if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
        return properties_check(self.service, "contact property", mapped_names(self.field_map), existing)

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        base_url = self.config.get("base_url", DEFAULT_BASE_URL)
        headers = {"Authorization": f"Bearer {self.config['access_token']}"}
        return self.outbound.request(method, f"{base_url}{path}", headers=headers, **kwargs)

    def _failure(self, response: requests.Response, **kwargs) -> DeliveryError:
        """HubSpot's daily limit names no Retry-After: it lasts until midnight in the portal's time zone."""
        error = super()._failure(response, **kwargs)
        if isinstance(error, RateLimited) and _daily_policy(response):
            zone = ZoneInfo(self.config.get("time_zone") or "UTC")
            return RateLimited(error.message, retry_after=seconds_to_midnight(self.outbound.clock(), zone))
        return error

    def _match(self, items: list[tuple[str, Lead]], data: dict) -> list[Outcome]:
        """Pair each input with its result or error (by trace id, else email) from a 200 or 207 answer."""
        found: dict[str, Outcome] = {}
        for result in data["results"]:
            if isinstance(result, dict) and result.get("id") is not None:
                keys = (result.get("objectWriteTraceId"), (result.get("properties") or {}).get("email"))
                for key in keys:
                    if isinstance(key, str):
                        found[key.lower()] = PushResult(external_id=str(result["id"]))
        for error in data.get("errors") or []:
            if isinstance(error, dict):
                failure = PermanentDeliveryError(
                    redact(f"HubSpot refused the contact: {json_message(error)}", self._secrets)
                )
                for key in _context_keys(error):
                    found.setdefault(key.lower(), failure)
        return [
            found.get(delivery_id.lower())
            or found.get((lead.email or "").lower())
            or RetryableDeliveryError("HubSpot reported no outcome for this contact")
            for delivery_id, lead in items
        ]


def seconds_to_midnight(now: float, zone: ZoneInfo) -> float:
    """Seconds from `now` until the next midnight in `zone` (a 23- or 25-hour day on a DST change)."""
    tomorrow = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).timestamp() - now


def _time_zone(read: ConfigReader) -> str | None:
    name = read.text("time_zone")
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        read.errors["time_zone"] = "must be an IANA time zone such as Europe/Paris or US/Eastern"
    return name


def _daily_policy(response: requests.Response) -> bool:
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("policyName") == "DAILY"


def _halting(outcomes: list[Outcome]) -> DeliveryError | None:
    """A refusal of the credentials or a rate limit stops every further request of this batch."""
    return next((o for o in outcomes if isinstance(o, AuthRefused | RateLimited)), None)


def _context_keys(error: dict) -> Iterator[str]:
    """Identifiers a batch error names: its context values (trace ids, emails) and its id."""
    if isinstance(error.get("id"), str):
        yield error["id"]
    context = error.get("context")
    if isinstance(context, dict):
        for value in context.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    yield item


def _chunks(indices: list[int], leads: list[tuple[str, Lead]]) -> list[list[int]]:
    """Batches of at most BATCH_LIMIT inputs in which no email appears twice (HubSpot refuses that)."""
    chunks: list[tuple[list[int], set[str]]] = []
    for index in indices:
        email = (leads[index][1].email or "").lower()
        chunk = next((c for c in chunks if len(c[0]) < BATCH_LIMIT and email not in c[1]), None)
        if chunk is None:
            chunk = ([], set())
            chunks.append(chunk)
        chunk[0].append(index)
        chunk[1].add(email)
    return [members for members, _ in chunks]
