"""Salesforce adapter: Lead create or upsert by external ID, and the error-array mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
import responses

from adapters.crm.base import (
    ConfigError,
    Lead,
    Outbound,
    PermanentDeliveryError,
    PushResult,
    RetryableDeliveryError,
)
from adapters.crm.salesforce import SalesforceAdapter

TOKEN = "00DE0X0A0M0PeLE!AQcAQH0dMHEXAMPLEzmpkb58urFRkgeBG"
INSTANCE = "https://acme.my.salesforce.com"
LEADS = f"{INSTANCE}/services/data/v60.0/sobjects/Lead"
PROFILE = "https://www.linkedin.com/in/ada-lovelace"
UPSERT = f"{LEADS}/LinkedIn_URL__c/https%3A%2F%2Fwww.linkedin.com%2Fin%2Fada-lovelace"
NOW = 1_700_000_000.0
ADA = Lead("p1", PROFILE, "Ada Lovelace", "Analyst", "Analytical Engines", "ada@example.com", "+44 1")
NAMELESS = Lead("p2", PROFILE, None, None, None, "anon@example.com", None)


def public(host):
    return ["93.184.216.34"]


def make(**extra) -> SalesforceAdapter:
    config = SalesforceAdapter.validate_config(
        {"access_token": TOKEN, "instance_url": INSTANCE, **extra},
        allow_private_networks=False,
        resolve=public,
    )
    return SalesforceAdapter(config, Outbound(session=requests.Session(), resolve=public, clock=lambda: NOW))


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


def sent(call) -> dict:
    return json.loads(call.request.body)


# Configuration


def test_config_defaults_api_version_and_hides_the_token():
    config = SalesforceAdapter.validate_config(
        {"access_token": TOKEN, "instance_url": INSTANCE + "/"}, allow_private_networks=False, resolve=public
    )
    assert config == {"access_token": TOKEN, "instance_url": INSTANCE, "api_version": "v60.0"}
    assert "access_token" not in SalesforceAdapter.public_config(config)


def test_base_url_is_accepted_as_an_alias_of_instance_url():
    config = SalesforceAdapter.validate_config(
        {"access_token": TOKEN, "base_url": INSTANCE}, allow_private_networks=False, resolve=public
    )
    assert config["instance_url"] == INSTANCE and "base_url" not in config


def test_config_errors_name_each_bad_field():
    with pytest.raises(ConfigError) as caught:
        SalesforceAdapter.validate_config(
            {"api_version": "60", "external_id_field": "LinkedIn URL"},
            allow_private_networks=False,
            resolve=public,
        )
    assert set(caught.value.fields) == {"access_token", "instance_url", "api_version", "external_id_field"}


def test_instance_url_on_a_private_address_is_refused_by_default():
    with pytest.raises(ConfigError) as caught:
        SalesforceAdapter.validate_config(
            {"access_token": TOKEN, "instance_url": "http://sf.internal"},
            allow_private_networks=False,
            resolve=lambda h: ["192.168.0.10"],
        )
    assert "private" in caught.value.fields["instance_url"]


# Create (no external ID field)


def test_create_posts_a_lead_with_bearer_token(mock):
    mock.add(responses.POST, LEADS, json={"id": "00Q5e00000AbCdE", "success": True, "errors": []}, status=201)
    assert make().push(ADA, delivery_id="d1") == PushResult("00Q5e00000AbCdE")
    call = mock.calls[0]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent(call) == {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Analytical Engines",
        "Title": "Analyst",
        "Email": "ada@example.com",
        "Phone": "+44 1",
    }


def test_create_fills_required_last_name_and_company_placeholders(mock):
    mock.add(responses.POST, LEADS, json={"id": "00Q1", "success": True, "errors": []}, status=201)
    make().push(NAMELESS, delivery_id="d2")
    assert sent(mock.calls[0]) == {
        "LastName": "[not provided]",
        "Company": "[not provided]",
        "Email": "anon@example.com",
    }


def test_required_field_missing_on_create_is_permanent_with_the_fields_in_the_message(mock):
    errors = [
        {
            "message": "Required fields are missing: [Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["Company"],
        }
    ]
    mock.add(responses.POST, LEADS, json=errors, status=400)
    with pytest.raises(
        PermanentDeliveryError, match=r"REQUIRED_FIELD_MISSING: Required fields are missing: \[Company\]"
    ):
        make().push(ADA, delivery_id="d1")


# Upsert by external ID


def test_upsert_patches_by_external_id_and_201_means_created(mock):
    body = {"id": "00Q9", "success": True, "errors": [], "created": True}
    mock.add(responses.PATCH, UPSERT, json=body, status=201)
    assert make(external_id_field="LinkedIn_URL__c").push(ADA, delivery_id="d1") == PushResult("00Q9")
    assert mock.calls[0].request.url == UPSERT
    assert "LinkedIn_URL__c" not in sent(mock.calls[0])


def test_upsert_update_answers_200_with_id_or_204_without_body(mock):
    adapter = make(external_id_field="LinkedIn_URL__c")
    mock.add(responses.PATCH, UPSERT, json={"id": "00Q9", "success": True, "errors": [], "created": False})
    mock.add(responses.PATCH, UPSERT, status=204)
    assert adapter.push(ADA, delivery_id="d1") == PushResult("00Q9")
    assert adapter.push(ADA, delivery_id="d1") == PushResult(None)


def test_upsert_sends_no_placeholders_unless_salesforce_says_it_is_a_create(mock):
    missing = [
        {
            "message": "Required fields are missing: [LastName, Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName", "Company"],
        }
    ]
    mock.add(responses.PATCH, UPSERT, json=missing, status=400)
    mock.add(
        responses.PATCH,
        UPSERT,
        json={"id": "00Q7", "success": True, "errors": [], "created": True},
        status=201,
    )
    assert make(external_id_field="LinkedIn_URL__c").push(NAMELESS, delivery_id="d2") == PushResult("00Q7")
    assert sent(mock.calls[0]) == {"Email": "anon@example.com"}
    assert sent(mock.calls[1])["LastName"] == "[not provided]"


def test_upsert_without_a_linkedin_url_fails_permanently_without_a_request(mock):
    lead = Lead("p3", None, "Ada Lovelace", None, None, "ada@example.com", None)
    with pytest.raises(PermanentDeliveryError, match="no LinkedIn URL"):
        make(external_id_field="LinkedIn_URL__c").push(lead, delivery_id="d3")
    assert len(mock.calls) == 0


def test_an_external_id_matching_several_leads_is_permanent(mock):
    mock.add(responses.PATCH, UPSERT, json=["/services/data/v60.0/sobjects/Lead/00Q1"], status=300)
    with pytest.raises(PermanentDeliveryError, match="several Leads"):
        make(external_id_field="LinkedIn_URL__c").push(ADA, delivery_id="d1")


# Duplicates


def test_duplicates_detected_with_a_matching_record_counts_as_success_with_that_id(mock):
    errors = [
        {
            "duplicateResult": {
                "allowSave": False,
                "duplicateRule": "Standard_Lead_Duplicate_Rule",
                "matchResults": [
                    {"matchRecords": [{"record": {"attributes": {"type": "Lead"}, "Id": "00Q5e000001xyz"}}]}
                ],
            },
            "errorCode": "DUPLICATES_DETECTED",
            "message": "Use one of these records?",
        }
    ]
    mock.add(responses.POST, LEADS, json=errors, status=400)
    assert make().push(ADA, delivery_id="d1") == PushResult("00Q5e000001xyz")


def test_duplicates_detected_without_a_record_is_permanent(mock):
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "DUPLICATES_DETECTED", "message": "Use one of these records?"}],
        status=400,
    )
    with pytest.raises(PermanentDeliveryError, match="DUPLICATES_DETECTED: Use one of these records"):
        make().push(ADA, delivery_id="d1")


def test_duplicate_value_naming_the_existing_record_counts_as_success(mock):
    message = "duplicate value found: Email__c duplicates value on record with id: 00Q5e00000ABCDE"
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "DUPLICATE_VALUE", "message": message, "fields": []}],
        status=400,
    )
    assert make().push(ADA, delivery_id="d1") == PushResult("00Q5e00000ABCDE")


# Errors


def test_invalid_session_is_permanent_and_never_shows_the_token(mock):
    errors = [{"message": f"Session expired or invalid ({TOKEN})", "errorCode": "INVALID_SESSION_ID"}]
    mock.add(responses.POST, LEADS, json=errors, status=401)
    with pytest.raises(PermanentDeliveryError) as caught:
        make().push(ADA, delivery_id="d1")
    assert "INVALID_SESSION_ID" in str(caught.value) and TOKEN not in str(caught.value)


def test_request_limit_exceeded_403_is_retryable(mock):
    errors = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    mock.add(responses.POST, LEADS, json=errors, status=403)
    with pytest.raises(RetryableDeliveryError, match="REQUEST_LIMIT_EXCEEDED"):
        make().push(ADA, delivery_id="d1")


def test_other_403_is_permanent(mock):
    errors = [{"message": "You do not have access to the Lead object", "errorCode": "INSUFFICIENT_ACCESS"}]
    mock.add(responses.POST, LEADS, json=errors, status=403)
    with pytest.raises(PermanentDeliveryError):
        make().push(ADA, delivery_id="d1")


def test_429_with_retry_after_30_is_retryable_after_30_seconds(mock):
    mock.add(responses.POST, LEADS, body="", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RetryableDeliveryError) as caught:
        make().push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 30


def test_503_with_an_http_date_retry_after_waits_until_that_date(mock):
    later = format_datetime(datetime.fromtimestamp(NOW + 120, UTC), usegmt=True)
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}],
        status=503,
        headers={"Retry-After": later},
    )
    with pytest.raises(RetryableDeliveryError) as caught:
        make().push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 120


def test_500_is_retryable(mock):
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred"}],
        status=500,
    )
    with pytest.raises(RetryableDeliveryError, match="500"):
        make().push(ADA, delivery_id="d1")


def test_timeout_is_retryable(mock):
    mock.add(responses.POST, LEADS, body=requests.exceptions.ReadTimeout())
    with pytest.raises(RetryableDeliveryError, match="acme.my.salesforce.com"):
        make().push(ADA, delivery_id="d1")


def test_html_login_page_on_200_is_retryable_with_a_readable_message(mock):
    mock.add(
        responses.POST,
        LEADS,
        body="<html><body>Login | Salesforce</body></html>",
        status=200,
        content_type="text/html",
    )
    with pytest.raises(RetryableDeliveryError) as caught:
        make().push(ADA, delivery_id="d1")
    assert "Login | Salesforce" in str(caught.value)


def test_truncated_json_on_201_is_retryable(mock):
    mock.add(responses.POST, LEADS, body='{"id": "00Q1", "succ', status=201)
    with pytest.raises(RetryableDeliveryError, match="unreadable"):
        make().push(ADA, delivery_id="d1")
