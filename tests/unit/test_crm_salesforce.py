"""Salesforce adapter: Lead create or upsert by external ID, and the error-array mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
import responses
from responses import matchers

from adapters.crm.base import (
    AuthRefused,
    CheckResult,
    ConfigError,
    Lead,
    Outbound,
    PermanentDeliveryError,
    PushResult,
    RateLimited,
    RetryableDeliveryError,
)
from adapters.crm.salesforce import SalesforceAdapter, soql_quote

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


QUERY = f"{INSTANCE}/services/data/v60.0/query"
NO_RECORDS = {"totalSize": 0, "done": True, "records": []}


@pytest.fixture
def no_lead_with_that_email(mock):
    """Before creating, the adapter looks the Lead up by email; here Salesforce has none."""
    mock.add(responses.GET, QUERY, json=NO_RECORDS)


def sent(call) -> dict:
    return json.loads(call.request.body)


def posted(mock) -> dict:
    """The body of the Lead create (after the email lookup)."""
    return sent(next(c for c in mock.calls if c.request.method == "POST"))


# Configuration


def test_config_defaults_api_version_and_hides_the_token():
    config = SalesforceAdapter.validate_config(
        {"access_token": TOKEN, "instance_url": INSTANCE + "/"}, allow_private_networks=False, resolve=public
    )
    assert config == {
        "access_token": TOKEN,
        "instance_url": INSTANCE,
        "api_version": "v60.0",
        "field_map": {
            "email": "Email",
            "first_name": "FirstName",
            "last_name": "LastName",
            "title": "Title",
            "company": "Company",
            "phone": "Phone",
        },
    }
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


def test_create_posts_a_lead_with_bearer_token(mock, no_lead_with_that_email):
    mock.add(responses.POST, LEADS, json={"id": "00Q5e00000AbCdE", "success": True, "errors": []}, status=201)
    assert make().push(ADA, delivery_id="d1") == PushResult("00Q5e00000AbCdE")
    call = mock.calls[1]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent(call) == {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Analytical Engines",
        "Title": "Analyst",
        "Email": "ada@example.com",
        "Phone": "+44 1",
    }


def test_create_fills_required_last_name_and_company_placeholders(mock, no_lead_with_that_email):
    mock.add(responses.POST, LEADS, json={"id": "00Q1", "success": True, "errors": []}, status=201)
    make().push(NAMELESS, delivery_id="d2")
    assert posted(mock) == {
        "LastName": "[not provided]",
        "Company": "[not provided]",
        "Email": "anon@example.com",
    }


def test_required_field_missing_on_create_is_permanent_with_the_fields_in_the_message(
    mock, no_lead_with_that_email
):
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


def test_duplicates_detected_with_a_matching_record_counts_as_success_with_that_id(
    mock, no_lead_with_that_email
):
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


def test_duplicates_detected_without_a_record_is_permanent(mock, no_lead_with_that_email):
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "DUPLICATES_DETECTED", "message": "Use one of these records?"}],
        status=400,
    )
    with pytest.raises(PermanentDeliveryError, match="DUPLICATES_DETECTED: Use one of these records"):
        make().push(ADA, delivery_id="d1")


def test_duplicate_value_naming_the_existing_record_counts_as_success(mock, no_lead_with_that_email):
    message = "duplicate value found: Email__c duplicates value on record with id: 00Q5e00000ABCDE"
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "DUPLICATE_VALUE", "message": message, "fields": []}],
        status=400,
    )
    assert make().push(ADA, delivery_id="d1") == PushResult("00Q5e00000ABCDE")


# Errors


def test_invalid_session_is_auth_refused_and_never_shows_the_token(mock, no_lead_with_that_email):
    errors = [{"message": f"Session expired or invalid ({TOKEN})", "errorCode": "INVALID_SESSION_ID"}]
    mock.add(responses.POST, LEADS, json=errors, status=401)
    with pytest.raises(AuthRefused) as caught:
        make().push(ADA, delivery_id="d1")
    assert "INVALID_SESSION_ID" in str(caught.value) and TOKEN not in str(caught.value)


def test_request_limit_exceeded_403_is_rate_limited_without_a_stated_time(mock, no_lead_with_that_email):
    errors = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    mock.add(responses.POST, LEADS, json=errors, status=403)
    with pytest.raises(RateLimited, match="REQUEST_LIMIT_EXCEEDED") as caught:
        make().push(ADA, delivery_id="d1")
    assert caught.value.retryable and caught.value.retry_after is None


def test_other_403_is_permanent(mock, no_lead_with_that_email):
    errors = [{"message": "You do not have access to the Lead object", "errorCode": "INSUFFICIENT_ACCESS"}]
    mock.add(responses.POST, LEADS, json=errors, status=403)
    with pytest.raises(PermanentDeliveryError) as caught:
        make().push(ADA, delivery_id="d1")
    assert not isinstance(caught.value, AuthRefused)


def test_429_with_retry_after_30_is_rate_limited_for_30_seconds(mock, no_lead_with_that_email):
    mock.add(responses.POST, LEADS, body="", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        make().push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 30


def test_503_with_an_http_date_retry_after_waits_until_that_date(mock, no_lead_with_that_email):
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


def test_500_is_retryable(mock, no_lead_with_that_email):
    mock.add(
        responses.POST,
        LEADS,
        json=[{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred"}],
        status=500,
    )
    with pytest.raises(RetryableDeliveryError, match="500"):
        make().push(ADA, delivery_id="d1")


def test_timeout_is_retryable(mock, no_lead_with_that_email):
    mock.add(responses.POST, LEADS, body=requests.exceptions.ReadTimeout())
    with pytest.raises(RetryableDeliveryError, match="acme.my.salesforce.com"):
        make().push(ADA, delivery_id="d1")


def test_html_login_page_on_200_is_retryable_with_a_readable_message(mock, no_lead_with_that_email):
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


def test_truncated_json_on_201_is_retryable(mock, no_lead_with_that_email):
    mock.add(responses.POST, LEADS, body='{"id": "00Q1", "succ', status=201)
    with pytest.raises(RetryableDeliveryError, match="unreadable"):
        make().push(ADA, delivery_id="d1")


# Lookup by email before a create (no external ID field)

REFRESH = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJo7Xr34yOQ7GrecY.EXAMPLE"


def soql(email_literal: str) -> dict:
    return {"q": f"SELECT Id FROM Lead WHERE Email = '{email_literal}' LIMIT 1"}


def test_a_lead_found_by_email_is_answered_and_not_updated(mock):
    found = {
        "totalSize": 1,
        "done": True,
        "records": [
            {"attributes": {"type": "Lead", "url": "/services/data/v60.0/sobjects/Lead/00Q1"}, "Id": "00Q1"}
        ],
    }
    mock.add(responses.GET, QUERY, json=found, match=[matchers.query_param_matcher(soql("ada@example.com"))])
    assert make().push(ADA, delivery_id="d1") == PushResult("00Q1")
    assert [c.request.method for c in mock.calls] == ["GET"]
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_email_is_escaped_inside_the_soql_string_literal(mock):
    tricky = Lead("p9", None, "O Brien", None, None, "o'brien\\x@example.com", None)
    mock.add(
        responses.GET,
        QUERY,
        json=NO_RECORDS,
        match=[matchers.query_param_matcher(soql(r"o\'brien\\x@example.com"))],
    )
    mock.add(responses.POST, LEADS, json={"id": "00Q2", "success": True, "errors": []}, status=201)
    assert make().push(tricky, delivery_id="d9") == PushResult("00Q2")
    assert soql_quote("' OR Email != '") == r"\' OR Email != \'"


def test_a_lead_without_email_is_created_without_a_lookup(mock):
    lead = Lead("p4", PROFILE, "Ada Lovelace", None, "Engines", None, None)
    mock.add(responses.POST, LEADS, json={"id": "00Q3", "success": True, "errors": []}, status=201)
    assert make().push(lead, delivery_id="d4") == PushResult("00Q3")
    assert len(mock.calls) == 1


def test_an_expired_session_on_the_lookup_is_auth_refused(mock):
    errors = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    mock.add(responses.GET, QUERY, json=errors, status=401)
    with pytest.raises(AuthRefused, match="INVALID_SESSION_ID"):
        make().push(ADA, delivery_id="d1")
    assert len(mock.calls) == 1


def test_the_request_limit_on_the_lookup_is_rate_limited(mock):
    errors = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    mock.add(responses.GET, QUERY, json=errors, status=403)
    with pytest.raises(RateLimited):
        make().push(ADA, delivery_id="d1")


# Field map


def test_the_field_map_moves_and_drops_fields(mock, no_lead_with_that_email):
    adapter = make(field_map={"title": "Job_Title__c", "phone": None, "linkedin_url": "LinkedIn__c"})
    mock.add(responses.POST, LEADS, json={"id": "00Q5", "success": True, "errors": []}, status=201)
    adapter.push(ADA, delivery_id="d1")
    assert posted(mock) == {
        "Email": "ada@example.com",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Analytical Engines",
        "Job_Title__c": "Analyst",
        "LinkedIn__c": PROFILE,
    }


def test_an_upsert_never_sends_the_external_id_field_in_the_body(mock):
    adapter = make(external_id_field="LinkedIn_URL__c", field_map={"linkedin_url": "LinkedIn_URL__c"})
    mock.add(
        responses.PATCH,
        UPSERT,
        json={"id": "00Q9", "success": True, "errors": [], "created": True},
        status=201,
    )
    adapter.push(ADA, delivery_id="d1")
    assert "LinkedIn_URL__c" not in sent(mock.calls[0])


def test_a_bad_field_map_names_each_problem():
    with pytest.raises(ConfigError) as caught:
        SalesforceAdapter.validate_config(
            {
                "access_token": TOKEN,
                "instance_url": INSTANCE,
                "field_map": {
                    "nickname": "Nick__c",
                    "title": "Job Title",
                    "email": "Email__c",
                    "phone": "Title",
                },
            },
            allow_private_networks=False,
            resolve=public,
        )
    problem = caught.value.fields["field_map"]
    assert "'nickname' is not a lead field" in problem
    assert "'Job Title' is not a valid property name" in problem
    assert "email always goes to 'Email'" in problem
    assert "'Title' is the target of two lead fields" in problem
    assert set(caught.value.fields) == {"field_map"}


# Tokens


def test_oauth_tokens_are_stored_with_expires_in_turned_into_expires_at_and_hidden():
    config = SalesforceAdapter.validate_config(
        {"access_token": TOKEN, "refresh_token": REFRESH, "expires_in": 7200, "instance_url": INSTANCE},
        allow_private_networks=False,
        resolve=public,
        now=NOW,
    )
    assert config["refresh_token"] == REFRESH and config["expires_at"] == NOW + 7200
    public_view = SalesforceAdapter.public_config(config)
    assert "refresh_token" not in public_view and "access_token" not in public_view
    assert public_view["expires_at"] == NOW + 7200


def test_a_refresh_token_is_redacted_from_error_messages(mock, no_lead_with_that_email):
    adapter = make(refresh_token=REFRESH)
    errors = [{"message": f"bad refresh {REFRESH} for {TOKEN}", "errorCode": "INVALID_FIELD"}]
    mock.add(responses.POST, LEADS, json=errors, status=400)
    with pytest.raises(PermanentDeliveryError) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert REFRESH not in str(caught.value) and TOKEN not in str(caught.value)


# Connection test

VERSIONS = f"{INSTANCE}/services/data/"
DESCRIBE = f"{INSTANCE}/services/data/v60.0/sobjects/Lead/describe"
LEAD_FIELDS = ["Id", "Email", "FirstName", "LastName", "Title", "Company", "Phone", "LinkedIn_URL__c"]


def describe(*names: str) -> dict:
    return {"name": "Lead", "fields": [{"name": n, "type": "string", "createable": True} for n in names]}


def versions(*numbers: str) -> list:
    return [{"label": "Spring", "url": f"/services/data/v{n}", "version": n} for n in numbers]


def test_check_connection_reads_versions_and_the_lead_description(mock):
    mock.add(responses.GET, VERSIONS, json=versions("59.0", "60.0"))
    mock.add(responses.GET, DESCRIBE, json=describe(*LEAD_FIELDS))
    result = make(external_id_field="LinkedIn_URL__c").check_connection()
    assert result.ok, result.detail
    assert mock.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_check_connection_names_a_missing_mapped_field_and_external_id_field(mock):
    mock.add(responses.GET, VERSIONS, json=versions("60.0"))
    mock.add(responses.GET, DESCRIBE, json=describe("Email", "FirstName", "LastName", "Company", "Phone"))
    result = make(external_id_field="LinkedIn_URL__c").check_connection()
    assert result == CheckResult(
        False,
        "Salesforce has no Lead field named 'Title' (field_map.title), 'LinkedIn_URL__c' (external_id_field)",
    )


def test_check_connection_reports_an_api_version_the_org_does_not_offer(mock):
    mock.add(responses.GET, VERSIONS, json=versions("58.0", "59.0"))
    result = make().check_connection()
    assert not result.ok and "v60.0" in result.detail


def test_check_connection_raises_auth_refused_on_an_invalid_session(mock):
    mock.add(responses.GET, VERSIONS, json=versions("60.0"))
    errors = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    mock.add(responses.GET, DESCRIBE, json=errors, status=401)
    with pytest.raises(AuthRefused):
        make().check_connection()


def test_check_connection_reports_a_missing_permission_as_not_ok(mock):
    mock.add(responses.GET, VERSIONS, json=versions("60.0"))
    errors = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    mock.add(responses.GET, DESCRIBE, json=errors, status=404)
    result = make().check_connection()
    assert not result.ok and "NOT_FOUND" in result.detail
