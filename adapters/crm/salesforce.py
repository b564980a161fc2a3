"""Salesforce: a Lead created through the REST API, or upserted by an external ID field.

Docs consulted:
- Upsert by external ID (PATCH /services/data/vXX.X/sobjects/Lead/<field>/<value>; 201 created,
  200 or 204 updated, 300 when the value matches several records):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
  https://developer.salesforce.com/docs/atlas.en-us.222.0.api_rest.meta/api/resources_sobject_upsert.htm
- Status codes and the error array `[{"message", "errorCode", "fields"}]` (401 INVALID_SESSION_ID,
  403 REQUEST_LIMIT_EXCEEDED): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
- Duplicate rules (DuplicateError.duplicateResult.matchResults[].matchRecords[].record):
  https://developer.salesforce.com/docs/platform/api/guide/sforce-api-objects-duplicateerror.html
- Query, GET /services/data/vXX.X/query?q=<SOQL>, answer `{"totalSize", "done", "records": [{"Id"}]}`:
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm
- SOQL string literals escape quotes and backslashes with a backslash:
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
- Versions, GET /services/data/ (a list of `{"label", "url", "version"}`):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_versions.htm
- Describe, GET /services/data/vXX.X/sobjects/Lead/describe, answer `{"fields": [{"name", ...}]}`:
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_describe.htm
- OAuth: the token answer names the org's `instance_url`; Salesforce states no expiry for an access
  token, so a 401 INVALID_SESSION_ID is how it ends:
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
- Client consulted for the shapes above: simple-salesforce (api.py `query`, `describe`, `versions`).

Config: `access_token` (Bearer; with `refresh_token` and `expires_at`/`expires_in` when it comes from
OAuth), `instance_url` (the org's https://<MyDomain>.my.salesforce.com; it is this kind's base URL, so
`base_url` is accepted as an alias and stored as `instance_url`), `api_version` (default v60.0),
`field_map` (default Email, FirstName, LastName, Title, Company, Phone; Email cannot be moved, Leads are
found by it) and optional `external_id_field`, a Lead field marked External ID that holds the LinkedIn
profile URL (e.g. LinkedIn_URL__c). With it the lead is upserted by its LinkedIn URL, and a lead without
one fails permanently rather than create an unkeyed duplicate. Without it the Lead is looked up by email
(SOQL) and created only when none exists. Salesforce has no standard Lead field for a LinkedIn URL, so it
is sent only as the key unless `field_map.linkedin_url` names a custom field.

Choices:
- A Lead found by email is answered as the external id and NOT updated: it may hold what salespeople
  entered, and a create-only export never overwrites it (the same rule as Pipedrive). A lead without
  email cannot be looked up and is created, as before.
- LastName and Company are required on Lead. When the lead lacks them, "[not provided]" is sent (the
  placeholder Salesforce's own Web-to-Lead uses). An upsert first goes without placeholders so updating an
  existing Lead never overwrites a name or company a salesperson entered; only when Salesforce answers
  REQUIRED_FIELD_MISSING (it is a create) is it sent again with them.
- DUPLICATES_DETECTED (a duplicate rule blocked the save) and DUPLICATE_VALUE (a unique field already
  holds the value) count as success when Salesforce names the existing record: the lead is in the CRM,
  and every retry would be refused the same way. Without a record id they are permanent failures.
- REQUEST_LIMIT_EXCEEDED (403) is RateLimited; a 401 (INVALID_SESSION_ID) is AuthRefused, which the
  service answers with one refresh; UNABLE_TO_LOCK_ROW and SERVER_UNAVAILABLE are retryable; other
  errors follow the HTTP status (field errors are permanent).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

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

DEFAULT_API_VERSION = "v60.0"
NOT_PROVIDED = "[not provided]"
FIELD_NAME = r"[A-Za-z][A-Za-z0-9_]{0,79}"  # a field API name, custom ones ending in __c
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
RATE_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})


class SalesforceAdapter(CrmAdapter):
    kind = "salesforce"
    service = "Salesforce"
    secret_fields = ("access_token", "refresh_token")
    default_field_map = {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "title": "Title",
        "company": "Company",
        "phone": "Phone",
    }

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        instance_url = read.url("instance_url")
        alias = read.url("base_url")
        if instance_url and alias and instance_url != alias:
            read.errors["base_url"] = "is an alias of instance_url; give only one of them"
        instance_url = instance_url or alias
        if not instance_url and not {"instance_url", "base_url"} & read.errors.keys():
            read.errors["instance_url"] = "is required (your org's https://<MyDomain>.my.salesforce.com)"
        api_version = read.text("api_version", default=DEFAULT_API_VERSION)
        if api_version and not re.fullmatch(r"v\d{2,3}\.\d", api_version):
            read.errors["api_version"] = "must look like v60.0"
        external_id_field = read.text("external_id_field")
        if external_id_field and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", external_id_field):
            read.errors["external_id_field"] = "must be a field API name such as LinkedIn_URL__c"
        return {
            **read.tokens(),
            "instance_url": instance_url,
            "api_version": api_version,
            "external_id_field": external_id_field,
            "field_map": read.field_map(cls.default_field_map, name=FIELD_NAME, fixed={"email": "Email"}),
        }

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        url = f"{self._api}/sobjects/Lead"
        field = self.config.get("external_id_field")
        if not field:
            existing = self._find_by_email(lead.email) if lead.email else None
            if existing:
                return PushResult(external_id=existing)
            return self._outcome(self._send("POST", url, self._record(lead, placeholders=True)))
        if not lead.linkedin_url:
            raise PermanentDeliveryError(
                f"this Salesforce connection upserts Leads by {field} and this lead has no LinkedIn URL"
            )
        url = f"{url}/{field}/{quote(lead.linkedin_url, safe='')}"
        response = self._send("PATCH", url, self._record(lead, placeholders=False))
        if response.status_code == 400 and "REQUIRED_FIELD_MISSING" in _codes(response):
            response = self._send("PATCH", url, self._record(lead, placeholders=True))
        return self._outcome(response)

    @property
    def _api(self) -> str:
        return f"{self.config['instance_url']}/services/data/{self.config['api_version']}"

    def _find_by_email(self, email: str) -> str | None:
        soql = f"SELECT Id FROM Lead WHERE Email = '{soql_quote(email)}' LIMIT 1"
        response = self._send("GET", f"{self._api}/query", params={"q": soql})
        if not 200 <= response.status_code < 300:
            raise self._error(response)
        data = self._json(response)
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, list):
            raise self._unexpected(response, "a list of records")
        return next((str(r["Id"]) for r in records if isinstance(r, dict) and r.get("Id")), None)

    def _send(self, method: str, url: str, record: dict | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.config['access_token']}"}
        return self.outbound.request(method, url, json=record, headers=headers, **kwargs)

    def _record(self, lead: Lead, *, placeholders: bool) -> dict:
        """The mapped fields; the required LastName and Company get placeholders when asked (see Choices).
        The external ID field travels in the upsert URL, never in the body."""
        record = mapped_properties(lead, self.field_map)
        record.pop(self.config.get("external_id_field") or "", None)
        if placeholders:
            for required in ("LastName", "Company"):
                record.setdefault(required, NOT_PROVIDED)
        return record

    def _check(self) -> CheckResult:
        versions = self._get(f"{self.config['instance_url']}/services/data/", "a list of API versions")
        offered = {
            f"v{v['version']}" for v in versions if isinstance(v, dict) and isinstance(v.get("version"), str)
        }
        if self.config["api_version"] not in offered:
            return CheckResult(False, f"this Salesforce org does not offer API {self.config['api_version']}")
        describe = self._get(f"{self._api}/sobjects/Lead/describe", "the Lead fields")
        fields = describe.get("fields") if isinstance(describe, dict) else None
        existing = {f["name"] for f in fields or [] if isinstance(f, dict) and isinstance(f.get("name"), str)}
        wanted = mapped_names(self.field_map)
        if self.config.get("external_id_field"):
            wanted[self.config["external_id_field"]] = "external_id_field"
        return properties_check(self.service, "Lead field", wanted, existing)

    def _get(self, url: str, what: str) -> Any:
        response = self._send("GET", url)
        if not 200 <= response.status_code < 300:
            raise self._error(response)
        data = self._json(response)
        if not isinstance(data, list | dict) or not data:
            raise self._unexpected(response, what)
        return data

    def _error(self, response: requests.Response):
        codes = _codes(response)
        retryable = True if RETRYABLE_CODES & codes else None
        return self._failure(response, retryable=retryable, rate_limited=bool(RATE_LIMIT_CODES & codes))

    def _outcome(self, response: requests.Response) -> PushResult:
        status = response.status_code
        if status == 204:
            return PushResult(external_id=None)
        if 200 <= status < 300:
            data = self._json(response)
            if isinstance(data, dict) and data.get("id"):
                return PushResult(external_id=str(data["id"]))
            raise self._unexpected(response, "a record id")
        if status == 300:
            raise PermanentDeliveryError(
                f"Salesforce has several Leads with this {self.config.get('external_id_field')} value; "
                "merge them, then export again"
            )
        existing = _existing_record_id(_errors(response))
        if existing:
            return PushResult(external_id=existing)
        raise self._error(response)


def soql_quote(value: str) -> str:
    """A value for a SOQL string literal: backslashes and single quotes escaped with a backslash."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _errors(response: requests.Response) -> list[dict]:
    try:
        data = response.json()
    except ValueError:
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _codes(response: requests.Response) -> set[Any]:
    return {error.get("errorCode") for error in _errors(response)}


def _existing_record_id(errors: list[dict]) -> str | None:
    """The id of the record a duplicate error points at, when Salesforce names one."""
    for error in errors:
        if error.get("errorCode") == "DUPLICATES_DETECTED":
            result = error.get("duplicateResult")
            for match in (result.get("matchResults") or []) if isinstance(result, dict) else []:
                for candidate in (match.get("matchRecords") or []) if isinstance(match, dict) else []:
                    record = candidate.get("record") if isinstance(candidate, dict) else None
                    if isinstance(record, dict) and record.get("Id"):
                        return str(record["Id"])
        if error.get("errorCode") == "DUPLICATE_VALUE":
            found = re.search(r"\bid: ([A-Za-z0-9]{15,18})\b", str(error.get("message") or ""))
            if found:
                return found.group(1)
    return None
