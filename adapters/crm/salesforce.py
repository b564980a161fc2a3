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

Config: `access_token` (Bearer), `instance_url` (the org's https://<MyDomain>.my.salesforce.com; it is
this kind's base URL, so `base_url` is accepted as an alias and stored as `instance_url`), `api_version`
(default v60.0) and optional `external_id_field`, a Lead field marked External ID that holds the
LinkedIn profile URL (e.g. LinkedIn_URL__c). Without it every export creates a Lead (POST); with it the
lead is upserted by its LinkedIn URL, and a lead without one fails permanently rather than create an
unkeyed duplicate. Salesforce has no standard Lead field for a LinkedIn URL, so it is sent only as the key.

Choices:
- LastName and Company are required on Lead. When the lead lacks them, "[not provided]" is sent (the
  placeholder Salesforce's own Web-to-Lead uses). An upsert first goes without placeholders so updating an
  existing Lead never overwrites a name or company a salesperson entered; only when Salesforce answers
  REQUIRED_FIELD_MISSING (it is a create) is it sent again with them.
- DUPLICATES_DETECTED (a duplicate rule blocked the save) and DUPLICATE_VALUE (a unique field already
  holds the value) count as success when Salesforce names the existing record: the lead is in the CRM,
  and every retry would be refused the same way. Without a record id they are permanent failures.
- REQUEST_LIMIT_EXCEEDED (403), UNABLE_TO_LOCK_ROW and SERVER_UNAVAILABLE are retryable; other
  errors follow the HTTP status (INVALID_SESSION_ID and field errors are permanent).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import requests

from adapters.crm.base import ConfigReader, CrmAdapter, Lead, PermanentDeliveryError, PushResult, split_name

DEFAULT_API_VERSION = "v60.0"
NOT_PROVIDED = "[not provided]"
RETRYABLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


class SalesforceAdapter(CrmAdapter):
    kind = "salesforce"
    service = "Salesforce"
    secret_fields = ("access_token",)

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
            "access_token": read.text("access_token", required=True),
            "instance_url": instance_url,
            "api_version": api_version,
            "external_id_field": external_id_field,
        }

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        url = f"{self.config['instance_url']}/services/data/{self.config['api_version']}/sobjects/Lead"
        field = self.config.get("external_id_field")
        if not field:
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

    def _send(self, method: str, url: str, record: dict) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.config['access_token']}"}
        return self.outbound.request(method, url, json=record, headers=headers)

    @staticmethod
    def _record(lead: Lead, *, placeholders: bool) -> dict:
        first, last = split_name(lead.full_name)
        fallback = NOT_PROVIDED if placeholders else None
        record = {
            "FirstName": first,
            "LastName": last or fallback,
            "Company": lead.company or fallback,
            "Title": lead.title,
            "Email": lead.email,
            "Phone": lead.phone,
        }
        return {name: value for name, value in record.items() if value}

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
        errors = _errors(response)
        existing = _existing_record_id(errors)
        if existing:
            return PushResult(external_id=existing)
        retryable = True if RETRYABLE_CODES & {e.get("errorCode") for e in errors} else None
        raise self._failure(response, retryable=retryable)


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
