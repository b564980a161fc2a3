"""HubSpot adapter: batch upsert by email, per-input outcomes, and error mapping."""

from __future__ import annotations

import json

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
from adapters.crm.hubspot import HubSpotAdapter

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
UPSERT = "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"
ADA = Lead(
    person_id="p1",
    linkedin_url="https://www.linkedin.com/in/ada-lovelace",
    full_name="Ada King Lovelace",
    title="Analyst",
    company="Analytical Engines Ltd",
    email="ada@example.com",
    phone="+44 20 7946 0000",
)
GRACE = Lead("p2", "https://www.linkedin.com/in/grace", "Grace Hopper", None, None, "grace@example.com", None)


def public(host):
    return ["93.184.216.34"]


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def adapter():
    config = HubSpotAdapter.validate_config(
        {"access_token": TOKEN}, allow_private_networks=False, resolve=public
    )
    return HubSpotAdapter(
        config, Outbound(session=requests.Session(), resolve=public, clock=lambda: 1_700_000_000)
    )


def sent(call) -> dict:
    return json.loads(call.request.body)


def result(contact_id: str, email: str, trace: str) -> dict:
    return {"id": contact_id, "objectWriteTraceId": trace, "properties": {"email": email}, "new": True}


# Configuration


def test_config_defaults_and_public_view_without_the_token():
    config = HubSpotAdapter.validate_config(
        {"access_token": TOKEN}, allow_private_networks=False, resolve=public
    )
    field_map = {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "title": "jobtitle",
        "company": "company",
        "phone": "phone",
        "linkedin_url": "hs_linkedin_url",
    }
    assert config == {"access_token": TOKEN, "base_url": "https://api.hubapi.com", "field_map": field_map}
    assert HubSpotAdapter.public_config(config) == {
        "base_url": "https://api.hubapi.com",
        "field_map": field_map,
    }


def test_config_errors_name_each_bad_field_without_echoing_values():
    with pytest.raises(ConfigError) as caught:
        HubSpotAdapter.validate_config(
            {"base_url": "gopher://x", "linkedin_property": "LinkedIn URL", "apikey": TOKEN},
            allow_private_networks=False,
            resolve=public,
        )
    assert set(caught.value.fields) == {"access_token", "base_url", "linkedin_property", "apikey"}
    assert TOKEN not in str(caught.value)


def test_base_url_on_the_metadata_address_is_refused_even_with_private_networks_allowed():
    with pytest.raises(ConfigError) as caught:
        HubSpotAdapter.validate_config(
            {"access_token": TOKEN, "base_url": "http://metadata.example/"},
            allow_private_networks=True,
            resolve=lambda host: ["169.254.169.254"],
        )
    assert "link-local" in caught.value.fields["base_url"]


def test_private_base_url_is_accepted_only_when_private_networks_are_allowed():
    config = {"access_token": TOKEN, "base_url": "http://hubspot-mock.internal:8080/"}
    with pytest.raises(ConfigError):
        HubSpotAdapter.validate_config(config, allow_private_networks=False, resolve=lambda h: ["10.0.0.9"])
    stored = HubSpotAdapter.validate_config(
        config, allow_private_networks=True, resolve=lambda h: ["10.0.0.9"]
    )
    assert stored["base_url"] == "http://hubspot-mock.internal:8080"


# Requests and outcomes


def test_push_upserts_by_email_with_bearer_token_and_documented_properties(adapter, mock):
    mock.add(responses.POST, UPSERT, json={"status": "COMPLETE", "results": [result("501", ADA.email, "d1")]})
    assert adapter.push(ADA, delivery_id="d1") == PushResult(external_id="501")
    call = mock.calls[0]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent(call) == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "ada@example.com",
                "objectWriteTraceId": "d1",
                "properties": {
                    "email": "ada@example.com",
                    "firstname": "Ada",
                    "lastname": "King Lovelace",
                    "jobtitle": "Analyst",
                    "company": "Analytical Engines Ltd",
                    "phone": "+44 20 7946 0000",
                    "hs_linkedin_url": "https://www.linkedin.com/in/ada-lovelace",
                },
            }
        ]
    }


def test_empty_fields_are_not_sent_so_existing_crm_values_are_not_blanked(adapter, mock):
    mock.add(responses.POST, UPSERT, json={"results": [result("7", GRACE.email, "d2")]})
    adapter.push(GRACE, delivery_id="d2")
    assert set(sent(mock.calls[0])["inputs"][0]["properties"]) == {
        "email",
        "firstname",
        "lastname",
        "hs_linkedin_url",
    }


def test_batch_sends_one_request_and_matches_results_by_trace_id_or_email(adapter, mock):
    body = {
        "results": [{"id": "8", "properties": {"email": "GRACE@example.com"}}, result("501", ADA.email, "d1")]
    }
    mock.add(responses.POST, UPSERT, json=body)
    assert adapter.push_batch([("d1", ADA), ("d2", GRACE)]) == [PushResult("501"), PushResult("8")]
    assert len(mock.calls) == 1


def test_207_multi_status_fails_only_the_input_hubspot_names(adapter, mock):
    body = {
        "status": "COMPLETE",
        "results": [result("501", ADA.email, "d1")],
        "numErrors": 1,
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Property values were not valid: phone",
                "context": {"objectWriteTraceId": ["d2"]},
            }
        ],
    }
    mock.add(responses.POST, UPSERT, json=body, status=207)
    ok, failed = adapter.push_batch([("d1", ADA), ("d2", GRACE)])
    assert ok == PushResult("501")
    assert isinstance(failed, PermanentDeliveryError)
    assert "Property values were not valid" in str(failed)


def test_an_input_hubspot_says_nothing_about_is_retryable(adapter, mock):
    mock.add(responses.POST, UPSERT, json={"results": [result("501", ADA.email, "d1")]}, status=207)
    outcomes = adapter.push_batch([("d1", ADA), ("d2", GRACE)])
    assert isinstance(outcomes[1], RetryableDeliveryError)


def test_lead_without_email_fails_permanently_without_a_request(adapter, mock):
    no_email = Lead("p3", "https://www.linkedin.com/in/x", "X Y", None, None, None, None)
    mock.add(responses.POST, UPSERT, json={"results": [result("501", ADA.email, "d1")]})
    outcomes = adapter.push_batch([("d3", no_email), ("d1", ADA)])
    assert isinstance(outcomes[0], PermanentDeliveryError) and "no email" in str(outcomes[0])
    assert outcomes[1] == PushResult("501")
    assert [i["id"] for i in sent(mock.calls[0])["inputs"]] == ["ada@example.com"]


def test_the_same_email_twice_goes_in_separate_requests(adapter, mock):
    mock.add(responses.POST, UPSERT, json={"results": [result("501", ADA.email, "d1")]})
    mock.add(responses.POST, UPSERT, json={"results": [result("501", ADA.email, "d9")]})
    assert adapter.push_batch([("d1", ADA), ("d9", ADA)]) == [PushResult("501"), PushResult("501")]
    assert len(mock.calls) == 2


def test_a_400_for_a_batch_is_retried_one_contact_at_a_time_so_only_the_bad_one_fails(adapter, mock):
    invalid = {"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"}
    mock.add(responses.POST, UPSERT, json=invalid, status=400)
    mock.add(responses.POST, UPSERT, json={"results": [result("501", ADA.email, "d1")]})
    mock.add(responses.POST, UPSERT, json=invalid, status=400)
    ok, bad = adapter.push_batch([("d1", ADA), ("d2", GRACE)])
    assert ok == PushResult("501")
    assert isinstance(bad, PermanentDeliveryError)
    assert "400" in str(bad) and "VALIDATION_ERROR: Property values were not valid" in str(bad)
    assert len(mock.calls) == 3


def test_401_is_auth_refused_and_the_message_never_contains_the_token(adapter, mock):
    body = {
        "status": "error",
        "message": f"Authentication credentials not found: {TOKEN}",
        "category": "INVALID_AUTHENTICATION",
    }
    mock.add(responses.POST, UPSERT, json=body, status=401)
    with pytest.raises(AuthRefused) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert "401" in str(caught.value) and "INVALID_AUTHENTICATION" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_409_conflict_is_permanent(adapter, mock):
    mock.add(
        responses.POST, UPSERT, json={"status": "error", "message": "Contact already exists"}, status=409
    )
    with pytest.raises(PermanentDeliveryError, match="Contact already exists"):
        adapter.push(ADA, delivery_id="d1")


def test_429_with_retry_after_30_is_rate_limited_for_30_seconds(adapter, mock):
    body = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    mock.add(responses.POST, UPSERT, json=body, status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 30
    assert caught.value.retryable is True


def test_500_is_retryable_for_every_lead_of_the_batch(adapter, mock):
    mock.add(responses.POST, UPSERT, body="internal error", status=500)
    outcomes = adapter.push_batch([("d1", ADA), ("d2", GRACE)])
    assert all(isinstance(o, RetryableDeliveryError) for o in outcomes)
    assert len(mock.calls) == 1


def test_timeout_is_retryable(adapter, mock):
    mock.add(responses.POST, UPSERT, body=requests.exceptions.ConnectTimeout())
    with pytest.raises(RetryableDeliveryError, match="api.hubapi.com"):
        adapter.push(ADA, delivery_id="d1")


def test_an_html_page_on_200_is_a_retryable_attempt_with_a_readable_message(adapter, mock):
    html = "<html><head><title>Maintenance</title></head><body><h1>Back soon</h1></body></html>"
    mock.add(responses.POST, UPSERT, body=html, status=200, content_type="text/html")
    with pytest.raises(RetryableDeliveryError) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert "Maintenance" in str(caught.value) and "<h1>" not in str(caught.value)


def test_truncated_json_on_200_is_retryable(adapter, mock):
    mock.add(responses.POST, UPSERT, body='{"status": "COMPLETE", "results": [{"id": "5', status=200)
    with pytest.raises(RetryableDeliveryError, match="unreadable"):
        adapter.push(ADA, delivery_id="d1")


def test_json_without_results_on_200_is_retryable(adapter, mock):
    mock.add(responses.POST, UPSERT, json={"status": "PENDING"})
    with pytest.raises(RetryableDeliveryError, match="results"):
        adapter.push(ADA, delivery_id="d1")


def test_a_custom_linkedin_property_and_base_url_are_used(mock):
    config = HubSpotAdapter.validate_config(
        {
            "access_token": TOKEN,
            "linkedin_property": "linkedin_profile",
            "base_url": "https://eu.hubapi.example/",
        },
        allow_private_networks=False,
        resolve=public,
    )
    adapter = HubSpotAdapter(config, Outbound(session=requests.Session(), resolve=public))
    url = "https://eu.hubapi.example/crm/v3/objects/contacts/batch/upsert"
    mock.add(responses.POST, url, json={"results": [result("1", ADA.email, "d1")]})
    adapter.push(ADA, delivery_id="d1")
    properties = sent(mock.calls[0])["inputs"][0]["properties"]
    assert properties["linkedin_profile"] == ADA.linkedin_url and "hs_linkedin_url" not in properties
    assert HubSpotAdapter.public_config(config)["field_map"]["linkedin_url"] == "linkedin_profile"


def make(mock_config: dict | None = None, **extra) -> HubSpotAdapter:
    config = HubSpotAdapter.validate_config(
        {"access_token": TOKEN, **extra}, allow_private_networks=False, resolve=public, now=NOW
    )
    return HubSpotAdapter(
        mock_config or config, Outbound(session=requests.Session(), resolve=public, clock=lambda: NOW)
    )


NOW = 1_700_000_000  # 2023-11-14 22:13:20 UTC, 17:13:20 in New York (EST, UTC-5)
DAILY = {
    "status": "error",
    "message": "You have reached your daily limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
    "policyName": "DAILY",
    "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd",
}


def test_a_config_stored_before_field_maps_keeps_its_linkedin_property(mock):
    stored = {"access_token": TOKEN, "base_url": "https://api.hubapi.com", "linkedin_property": "li_url"}
    mock.add(responses.POST, UPSERT, json={"results": [result("1", ADA.email, "d1")]})
    make(stored).push(ADA, delivery_id="d1")
    properties = sent(mock.calls[0])["inputs"][0]["properties"]
    assert properties["li_url"] == ADA.linkedin_url and properties["jobtitle"] == "Analyst"


def test_the_field_map_moves_and_drops_properties(mock):
    adapter = make(field_map={"title": "job_function", "phone": None, "full_name": "full_name_text"})
    mock.add(responses.POST, UPSERT, json={"results": [result("1", ADA.email, "d1")]})
    adapter.push(ADA, delivery_id="d1")
    assert sent(mock.calls[0])["inputs"][0]["properties"] == {
        "email": "ada@example.com",
        "firstname": "Ada",
        "lastname": "King Lovelace",
        "job_function": "Analyst",
        "company": "Analytical Engines Ltd",
        "hs_linkedin_url": "https://www.linkedin.com/in/ada-lovelace",
        "full_name_text": "Ada King Lovelace",
    }


@pytest.mark.parametrize(
    ("field_map", "problem"),
    [
        ({"email": "work_email"}, "email always goes to 'email'"),
        ({"twitter": "twitter_handle"}, "'twitter' is not a lead field"),
        ({"title": "Job Title"}, "'Job Title' is not a valid property name"),
        ({"title": "company"}, "'company' is the target of two lead fields"),
        ("jobtitle", "must be an object"),
    ],
)
def test_a_bad_field_map_is_refused_naming_the_problem(field_map, problem):
    with pytest.raises(ConfigError) as caught:
        make(field_map=field_map)
    assert problem in caught.value.fields["field_map"]


def test_linkedin_property_and_field_map_must_agree():
    with pytest.raises(ConfigError) as caught:
        make(linkedin_property="li_url", field_map={"linkedin_url": "other_url"})
    assert set(caught.value.fields) == {"linkedin_property"}


# Tokens

REFRESH = "de3ae5a9-1b2c-4d5e-8f90-123456789abc"


def test_oauth_tokens_are_accepted_and_the_refresh_token_is_a_secret():
    config = make(refresh_token=REFRESH, expires_in=1800).config
    assert config["refresh_token"] == REFRESH and config["expires_at"] == NOW + 1800
    assert HubSpotAdapter.secret_fields == ("access_token", "refresh_token")
    public_view = HubSpotAdapter.public_config(config)
    assert REFRESH not in str(public_view) and TOKEN not in str(public_view)


def test_expires_at_is_kept_as_given():
    assert make(expires_at=NOW + 60).config["expires_at"] == NOW + 60


@pytest.mark.parametrize(
    ("extra", "bad"),
    [
        ({"expires_at": NOW, "expires_in": 60}, "expires_in"),
        ({"expires_in": "1800"}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_at": -5}, "expires_at"),
    ],
)
def test_bad_expiries_are_refused(extra, bad):
    with pytest.raises(ConfigError) as caught:
        make(**extra)
    assert set(caught.value.fields) == {bad}


def test_a_refresh_token_without_an_access_token_is_refused_without_being_echoed():
    with pytest.raises(ConfigError) as caught:
        HubSpotAdapter.validate_config(
            {"refresh_token": REFRESH}, allow_private_networks=False, resolve=public
        )
    assert set(caught.value.fields) == {"access_token", "refresh_token"}
    assert REFRESH not in str(caught.value)


# Rate limits and refusals


def test_the_daily_limit_waits_until_midnight_in_the_portals_time_zone(mock):
    mock.add(responses.POST, UPSERT, json=DAILY, status=429)
    with pytest.raises(RateLimited) as caught:
        make(time_zone="America/New_York").push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 24_400  # until 2023-11-15 00:00 EST = 05:00 UTC
    assert "daily limit" in caught.value.message


def test_the_daily_limit_waits_until_midnight_utc_when_the_time_zone_is_unknown(mock):
    mock.add(responses.POST, UPSERT, json=DAILY, status=429)
    with pytest.raises(RateLimited) as caught:
        make().push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 6_400  # until 2023-11-15 00:00 UTC


def test_midnight_on_a_daylight_saving_day_is_found_in_local_time():
    from zoneinfo import ZoneInfo

    from adapters.crm.hubspot import seconds_to_midnight

    fall_back_day = 1_699_158_600  # 2023-11-05 00:30 EDT; clocks go back an hour at 02:00
    assert seconds_to_midnight(fall_back_day, ZoneInfo("America/New_York")) == 24.5 * 3600


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ConfigError) as caught:
        make(time_zone="Mars/Olympus_Mons")
    assert set(caught.value.fields) == {"time_zone"}


def test_a_rate_limited_batch_gives_every_lead_the_error_and_sends_nothing_more(mock):
    mock.add(responses.POST, UPSERT, json=DAILY, status=429)
    ada_again = Lead("p9", None, None, None, None, ADA.email, None)  # same email: a second batch
    outcomes = make().push_batch([("d1", ADA), ("d2", GRACE), ("d3", ada_again)])
    assert all(isinstance(o, RateLimited) and o.retry_after == 6_400 for o in outcomes)
    assert len(mock.calls) == 1


def test_a_refused_token_gives_every_lead_of_the_batch_auth_refused(mock):
    body = {
        "status": "error",
        "message": "The OAuth token used to make this call expired 1 hour ago.",
        "category": "EXPIRED_AUTHENTICATION",
    }
    mock.add(responses.POST, UPSERT, json=body, status=401)
    outcomes = make().push_batch([("d1", ADA), ("d2", GRACE)])
    assert all(isinstance(o, AuthRefused) for o in outcomes)
    assert len(mock.calls) == 1


def test_a_rate_limit_while_sending_one_at_a_time_stops_the_rest(mock):
    invalid = {"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"}
    mock.add(responses.POST, UPSERT, json=invalid, status=400)
    mock.add(
        responses.POST,
        UPSERT,
        json={"status": "error", "policyName": "TEN_SECONDLY_ROLLING"},
        status=429,
        headers={"Retry-After": "10"},
    )
    outcomes = make().push_batch([("d1", ADA), ("d2", GRACE)])
    assert all(isinstance(o, RateLimited) and o.retry_after == 10 for o in outcomes)
    assert len(mock.calls) == 2


# Connection test

CONTACTS = "https://api.hubapi.com/crm/v3/objects/contacts"
PROPERTIES = "https://api.hubapi.com/crm/v3/properties/contacts"
DEFAULT_PROPERTIES = ["email", "firstname", "lastname", "jobtitle", "company", "phone", "hs_linkedin_url"]


def properties(*names: str) -> dict:
    return {
        "results": [{"name": n, "label": n.title(), "type": "string", "fieldType": "text"} for n in names]
    }


def test_check_connection_reads_one_contact_and_the_contact_properties(mock):
    mock.add(
        responses.GET, CONTACTS, json={"results": []}, match=[matchers.query_param_matcher({"limit": "1"})]
    )
    mock.add(responses.GET, PROPERTIES, json=properties(*DEFAULT_PROPERTIES, "hs_object_id"))
    result = make().check_connection()
    assert result.ok, result.detail
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in mock.calls)


def test_check_connection_names_a_mapped_property_the_portal_lacks(mock):
    mock.add(responses.GET, CONTACTS, json={"results": []})
    mock.add(responses.GET, PROPERTIES, json=properties(*DEFAULT_PROPERTIES))
    result = make(field_map={"title": "job_function"}).check_connection()
    assert result == CheckResult(
        False, "HubSpot has no contact property named 'job_function' (field_map.title)"
    )


def test_check_connection_raises_auth_refused_for_a_revoked_token(mock):
    body = {
        "status": "error",
        "message": f"Authentication credentials not found ({TOKEN})",
        "category": "INVALID_AUTHENTICATION",
    }
    mock.add(responses.GET, CONTACTS, json=body, status=401)
    with pytest.raises(AuthRefused) as caught:
        make().check_connection()
    assert TOKEN not in caught.value.message


def test_check_connection_reports_a_missing_scope_as_not_ok(mock):
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes",
        "category": "MISSING_SCOPES",
    }
    mock.add(responses.GET, CONTACTS, json=body, status=403)
    result = make().check_connection()
    assert not result.ok and "MISSING_SCOPES" in result.detail
