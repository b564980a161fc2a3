"""Pipedrive: a person found by email, else created, linked to its company's organization.

Docs consulted:
- Authentication: a static API token goes in the `x-api-token` header
  (https://pipedrive.readme.io/docs/core-api-concepts-authentication). The older `api_token` query
  parameter is not used, so the token is never part of a URL that could reach a log or a message.
- OAuth: requests carry `Authorization: Bearer <access_token>` and go to the company's `api_domain`
  from the token answer (stored as `base_url`): https://pipedrive.readme.io/docs/marketplace-oauth-authorization
- Response envelope `{"success", "data", ...}` and errors `{"success": false, "error", "error_info"}`:
  https://pipedrive.readme.io/docs/core-api-concepts-responses
- Search persons, GET /v1/persons/search?term=&fields=email&exact_match=true, answer
  `data.items[].item` with `id` and `organization` (null when none): https://developers.pipedrive.com/docs/api/v1/Persons#searchPersons
- Add a person, POST /v1/persons with `name` (required), `org_id`, `email` and `phone` as arrays of
  `{"value", "primary", "label"}`: https://developers.pipedrive.com/docs/api/v1/Persons#addPerson
  (the official client's v1 model, pipedrive/client-nodejs src/versions/v1/models/basic-person-request.ts,
  lists owner_id, org_id, email, phone, label(s), visible_to, marketing_status, add_time: no job title).
- Update a person, PUT /v1/persons/{id}: https://developers.pipedrive.com/docs/api/v1/Persons#updatePerson
- Custom fields are referenced by 40-character keys and set like any other field in the body:
  https://pipedrive.readme.io/docs/core-api-concepts-custom-fields
- Search organizations, GET /v1/organizations/search?term=&fields=name&exact_match=true, and add one,
  POST /v1/organizations {"name"}: https://developers.pipedrive.com/docs/api/v1/Organizations
- Connection test: GET /v1/users/me (https://developers.pipedrive.com/docs/api/v1/Users#getCurrentUser)
  and GET /v1/personFields, whose `data[].key` are the person fields
  (https://developers.pipedrive.com/docs/api/v1/PersonFields#getPersonFields).
- Rate limiting answers 429 with Retry-After (seconds): RateLimited, from the shared mapping in base.

Config: exactly one of `api_token` (static) or `access_token` (OAuth, with `refresh_token` and
`expires_at`/`expires_in`); `base_url`; `field_map` over person field keys, by default full_name -> name,
email -> email, phone -> phone and company -> org_id (email and name cannot be moved).

Choices:
- The company becomes an organization: the lead field mapped to `org_id` (company, by default) is looked
  up by exact name and the first organization whose name matches (ignoring case) is linked; none is
  created only when none matches. A retry after a failed person create finds the organization made the
  first time instead of adding a second.
- The job title: Pipedrive's v1 persons have no standard job title field (see the client model above),
  so `title` is sent only when `field_map.title` names a person field, e.g. the key of the account's
  "Job title" custom field; check_connection reports a key the account does not have.
- A person already found by email is left as it is, since the CRM's copy may hold edits made by
  salespeople, with one exception that overwrites nothing: a found person whose search result says
  `"organization": null` is linked to the lead's (one PUT of `org_id`); a result that does not say is
  left alone.
- A lead without email fails permanently: email is the only key that lets a retry or re-export find the
  person created before instead of adding a duplicate. The name falls back to the email, since Pipedrive
  requires one.
"""

from __future__ import annotations

from typing import Any

import requests

from adapters.crm.base import (
    CheckResult,
    ConfigReader,
    CrmAdapter,
    Lead,
    PermanentDeliveryError,
    PushResult,
    mapped_names,
    mapped_properties,
    properties_check,
)

DEFAULT_BASE_URL = "https://api.pipedrive.com"
FIELD_KEY = r"[a-z0-9_]{1,64}"  # standard keys (name, phone) and 40-character custom field keys
ORG_FIELD = "org_id"
MULTI_VALUE_FIELDS = ("email", "phone")  # sent as [{"value", "primary", "label"}]
FIELDS_PAGE = 500  # the largest page GET /v1/personFields serves


class PipedriveAdapter(CrmAdapter):
    kind = "pipedrive"
    service = "Pipedrive"
    secret_fields = ("api_token", "access_token", "refresh_token")
    default_field_map = {"full_name": "name", "email": "email", "phone": "phone", "company": ORG_FIELD}

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        api_token = read.text("api_token")
        tokens = read.tokens(required=False)
        if api_token and tokens["access_token"]:
            read.errors["access_token"] = "give either api_token or access_token (OAuth), not both"
        elif not api_token and not tokens["access_token"] and "access_token" not in read.errors:
            read.errors["api_token"] = "is required"
        return {
            "api_token": api_token,
            **tokens,
            "base_url": read.url("base_url", default=DEFAULT_BASE_URL),
            "field_map": read.field_map(
                cls.default_field_map, name=FIELD_KEY, fixed={"email": "email", "full_name": "name"}
            ),
        }

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        if not lead.email:
            raise PermanentDeliveryError(
                "Pipedrive persons are matched by email and this lead has no email; "
                "reveal it, then export again"
            )
        fields = mapped_properties(lead, self.field_map)
        org_name = fields.pop(ORG_FIELD, None)
        existing = self._find_person(lead.email)
        if existing is not None:
            if org_name and "organization" in existing and existing["organization"] is None:
                self._link(existing["id"], self._organization(org_name))
            return PushResult(external_id=str(existing["id"]))
        org_id = self._organization(org_name) if org_name else None
        return self._create(lead, fields, org_id)

    def _find_person(self, email: str) -> dict | None:
        return self._search("/v1/persons/search", email, "email", "a list of search results")

    def _organization(self, name: str) -> int:
        """The id of the organization named `name`, created when none has that name."""
        found = self._search("/v1/organizations/search", name, "name", "a list of organizations", exact=name)
        if found is not None:
            return found["id"]
        response = self._call("POST", "/v1/organizations", json={"name": name})
        return self._id(response, "the new organization's id")

    def _search(
        self, path: str, term: str, field: str, what: str, *, exact: str | None = None
    ) -> dict | None:
        """The first item of an exact-match search (whose name equals `exact`, ignoring case, if given)."""
        params = {"term": term, "fields": field, "exact_match": "true"}
        response = self._call("GET", path, params=params)
        data = self._json(response)
        payload = (data.get("data") or {}) if isinstance(data, dict) else None
        items = (payload.get("items") or []) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise self._unexpected(response, what)
        for entry in items:
            item = entry.get("item") if isinstance(entry, dict) else None
            if not isinstance(item, dict) or item.get("id") is None:
                continue
            if exact is None or str(item.get("name") or "").casefold() == exact.casefold():
                return item
        return None

    def _link(self, person_id: Any, org_id: int) -> None:
        self._json(self._call("PUT", f"/v1/persons/{person_id}", json={ORG_FIELD: org_id}))

    def _create(self, lead: Lead, fields: dict[str, str], org_id: int | None) -> PushResult:
        body: dict[str, Any] = {
            key: [{"value": value, "primary": True, "label": "work"}] if key in MULTI_VALUE_FIELDS else value
            for key, value in fields.items()
        }
        body["name"] = lead.full_name or lead.email
        if org_id is not None:
            body[ORG_FIELD] = org_id
        response = self._call("POST", "/v1/persons", json=body)
        return PushResult(external_id=str(self._id(response, "the new person's id")))

    def _id(self, response: requests.Response, what: str) -> Any:
        data = self._json(response)
        item = data.get("data") if isinstance(data, dict) else None
        if not isinstance(item, dict) or item.get("id") is None:
            raise self._unexpected(response, what)
        return item["id"]

    def _check(self) -> CheckResult:
        self._id(self._call("GET", "/v1/users/me"), "the user's id")
        response = self._call("GET", "/v1/personFields", params={"start": "0", "limit": str(FIELDS_PAGE)})
        data = self._json(response)
        fields = data.get("data") if isinstance(data, dict) else None
        if not isinstance(fields, list):
            raise self._unexpected(response, "a list of person fields")
        existing = {f["key"] for f in fields if isinstance(f, dict) and isinstance(f.get("key"), str)}
        return properties_check(self.service, "person field", mapped_names(self.field_map), existing)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        base_url = self.config.get("base_url", DEFAULT_BASE_URL)
        if self.config.get("api_token"):
            headers = {"x-api-token": self.config["api_token"]}
        else:
            headers = {"Authorization": f"Bearer {self.config['access_token']}"}
        return self.outbound.request(method, f"{base_url}{path}", headers=headers, **kwargs)
