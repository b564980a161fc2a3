"""Pipedrive: a person found by email, else created.

Docs consulted:
- Authentication: the API token goes in the `x-api-token` header
  (https://pipedrive.readme.io/docs/core-api-concepts-authentication). The older `api_token` query
  parameter is not used, so the token is never part of a URL that could reach a log or a message.
- Response envelope `{"success", "data", ...}` and errors `{"success": false, "error", "error_info"}`:
  https://pipedrive.readme.io/docs/core-api-concepts-responses
- Search persons, GET /v1/persons/search?term=&fields=email&exact_match=true, answer
  `data.items[].item.id`: https://developers.pipedrive.com/docs/api/v1/Persons#searchPersons
- Add a person, POST /v1/persons with `name` (required), `email` and `phone` as arrays of
  `{"value", "primary", "label"}`: https://developers.pipedrive.com/docs/api/v1/Persons#addPerson
- Rate limiting answers 429 with Retry-After (seconds), handled by the shared mapping in base.

Choices:
- A person already found by email is left untouched: the CRM's copy may hold edits made by salespeople.
- A lead without email fails permanently: email is the only key that lets a retry or re-export find the
  person created before instead of adding a duplicate.
- The company is not sent: v1 persons take only an `org_id`, and finding or creating organizations by
  name would add requests and risks duplicate organizations. The name falls back to the email, since
  Pipedrive requires one.
"""

from __future__ import annotations

from typing import Any

import requests

from adapters.crm.base import ConfigReader, CrmAdapter, Lead, PermanentDeliveryError, PushResult

DEFAULT_BASE_URL = "https://api.pipedrive.com"


class PipedriveAdapter(CrmAdapter):
    kind = "pipedrive"
    service = "Pipedrive"
    secret_fields = ("api_token",)

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        return {
            "api_token": read.text("api_token", required=True),
            "base_url": read.url("base_url", default=DEFAULT_BASE_URL),
        }

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        if not lead.email:
            raise PermanentDeliveryError(
                "Pipedrive persons are matched by email and this lead has no email; "
                "reveal it, then export again"
            )
        existing = self._find_by_email(lead.email)
        if existing is not None:
            return PushResult(external_id=existing)
        return self._create(lead)

    def _find_by_email(self, email: str) -> str | None:
        params = {"term": email, "fields": "email", "exact_match": "true"}
        response = self._call("GET", "/v1/persons/search", params=params)
        data = self._json(response)
        payload = (data.get("data") or {}) if isinstance(data, dict) else None
        items = (payload.get("items") or []) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise self._unexpected(response, "a list of search results")
        for entry in items:
            item = entry.get("item") if isinstance(entry, dict) else None
            if isinstance(item, dict) and item.get("id") is not None:
                return str(item["id"])
        return None

    def _create(self, lead: Lead) -> PushResult:
        body: dict = {
            "name": lead.full_name or lead.email,
            "email": [{"value": lead.email, "primary": True, "label": "work"}],
        }
        if lead.phone:
            body["phone"] = [{"value": lead.phone, "primary": True, "label": "work"}]
        response = self._call("POST", "/v1/persons", json=body)
        data = self._json(response)
        person = data.get("data") if isinstance(data, dict) else None
        if not isinstance(person, dict) or person.get("id") is None:
            raise self._unexpected(response, "the new person's id")
        return PushResult(external_id=str(person["id"]))

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        base_url = self.config.get("base_url", DEFAULT_BASE_URL)
        headers = {"x-api-token": self.config["api_token"]}
        return self.outbound.request(method, f"{base_url}{path}", headers=headers, **kwargs)
