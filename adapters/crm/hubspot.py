"""HubSpot: contacts created or updated by email through the batch upsert endpoint.

Docs consulted:
- Batch upsert: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
  (POST /crm/v3/objects/contacts/batch/upsert, `Authorization: Bearer <token>`, inputs of
  `{"idProperty", "id", "properties", "objectWriteTraceId"}`, answer `{"results": [...], "errors": [...]}`)
- Errors and 207 multi-status: https://developers.hubspot.com/docs/api-reference/error-handling
- Contacts guide (email is the unique identifier that prevents duplicates):
  https://developers.hubspot.com/docs-beta/crm/contacts

Choices:
- Properties sent: email, firstname/lastname (full_name split at the first space), jobtitle, company,
  phone, and the LinkedIn URL in `hs_linkedin_url`, the internal name of the default "LinkedIn URL"
  contact property as read and written by public HubSpot integrations (HubSpot's reference pages
  available to us do not list it by internal name, so `linkedin_property` in the config can name another
  property). Empty values are not sent, so an upsert never blanks what the CRM already holds.
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

from adapters.crm.base import (
    ConfigReader,
    CrmAdapter,
    DeliveryError,
    Lead,
    PermanentDeliveryError,
    PushResult,
    RetryableDeliveryError,
    json_message,
    redact,
    split_name,
)

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_LINKEDIN_PROPERTY = "hs_linkedin_url"
BATCH_LIMIT = 100  # documented maximum number of inputs per batch request
Outcome = PushResult | DeliveryError


class HubSpotAdapter(CrmAdapter):
    kind = "hubspot"
    service = "HubSpot"
    secret_fields = ("access_token",)

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        prop = read.text("linkedin_property", default=DEFAULT_LINKEDIN_PROPERTY)
        if prop and not re.fullmatch(r"[a-z][a-z0-9_]*", prop):
            read.errors["linkedin_property"] = "must be a HubSpot internal property name (a-z, 0-9, _)"
        return {
            "access_token": read.text("access_token", required=True),
            "base_url": read.url("base_url", default=DEFAULT_BASE_URL),
            "linkedin_property": prop,
        }

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
        for chunk in _chunks(with_email, leads):
            for index, outcome in zip(chunk, self._upsert([leads[i] for i in chunk]), strict=True):
                outcomes[index] = outcome
        return outcomes  # every slot is filled by now

    def _upsert(self, items: list[tuple[str, Lead]]) -> list[Outcome]:
        base_url = self.config.get("base_url", DEFAULT_BASE_URL)
        body = {"inputs": [self._input(delivery_id, lead) for delivery_id, lead in items]}
        try:
            response = self.outbound.request(
                "POST",
                f"{base_url}/crm/v3/objects/contacts/batch/upsert",
                json=body,
                headers={"Authorization": f"Bearer {self.config['access_token']}"},
            )
            if response.status_code in (400, 409) and len(items) > 1:
                return [self._upsert([item])[0] for item in items]
            data = self._json(response)
        except DeliveryError as exc:
            return [exc] * len(items)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            return [self._unexpected(response, "a results list")] * len(items)
        return self._match(items, data)

    def _input(self, delivery_id: str, lead: Lead) -> dict:
        first, last = split_name(lead.full_name)
        properties = {
            "email": lead.email,
            "firstname": first,
            "lastname": last,
            "jobtitle": lead.title,
            "company": lead.company,
            "phone": lead.phone,
            self.config.get("linkedin_property", DEFAULT_LINKEDIN_PROPERTY): lead.linkedin_url,
        }
        return {
            "idProperty": "email",
            "id": lead.email,
            "objectWriteTraceId": delivery_id,
            "properties": {name: value for name, value in properties.items() if value},
        }

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
