"""Pipedrive adapter: find the person by email or create one; token in a header, never in messages."""

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
from adapters.crm.pipedrive import PipedriveAdapter

TOKEN = "659c9fddb16335e48cc67114694b52074e812e03"
SEARCH = "https://api.pipedrive.com/v1/persons/search"
PERSONS = "https://api.pipedrive.com/v1/persons"
SEARCH_QUERY = matchers.query_param_matcher(
    {"term": "ada@example.com", "fields": "email", "exact_match": "true"}
)
ADA = Lead(
    "p1", "https://www.linkedin.com/in/ada", "Ada Lovelace", "Analyst", "Engines", "ada@example.com", "+44 1"
)
NO_COMPANY = Lead("p5", None, "Ada Lovelace", None, None, "ada@example.com", "+44 1")
NOT_FOUND = {"success": True, "data": {"items": []}, "additional_data": {"pagination": {"start": 0}}}
ORG_SEARCH = "https://api.pipedrive.com/v1/organizations/search"
ORGS = "https://api.pipedrive.com/v1/organizations"
ORG_QUERY = matchers.query_param_matcher({"term": "Engines", "fields": "name", "exact_match": "true"})


def org_items(*orgs: tuple[int, str]) -> dict:
    items = [
        {"result_score": 1, "item": {"id": i, "type": "organization", "name": n, "address": None}}
        for i, n in orgs
    ]
    return {"success": True, "data": {"items": items}, "additional_data": {"pagination": {"start": 0}}}


def public(host):
    return ["93.184.216.34"]


@pytest.fixture
def adapter():
    config = PipedriveAdapter.validate_config(
        {"api_token": TOKEN}, allow_private_networks=False, resolve=public
    )
    return PipedriveAdapter(config, Outbound(session=requests.Session(), resolve=public))


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


def test_config_requires_the_token_defaults_base_url_and_hides_the_token():
    with pytest.raises(ConfigError) as caught:
        PipedriveAdapter.validate_config({}, allow_private_networks=False, resolve=public)
    assert caught.value.fields == {"api_token": "is required"}
    config = PipedriveAdapter.validate_config(
        {"api_token": TOKEN}, allow_private_networks=False, resolve=public
    )
    field_map = {"full_name": "name", "email": "email", "phone": "phone", "company": "org_id"}
    assert config == {"api_token": TOKEN, "base_url": "https://api.pipedrive.com", "field_map": field_map}
    assert PipedriveAdapter.public_config(config) == {
        "base_url": "https://api.pipedrive.com",
        "field_map": field_map,
    }


def test_an_existing_person_with_an_organization_is_found_by_exact_email_and_left_untouched(adapter, mock):
    person = {"id": 42, "type": "person", "name": "Ada", "organization": {"id": 9, "name": "Other Ltd"}}
    found = {"success": True, "data": {"items": [{"result_score": 1, "item": person}]}}
    mock.add(responses.GET, SEARCH, json=found, match=[SEARCH_QUERY])
    assert adapter.push(ADA, delivery_id="d1") == PushResult("42")
    request = mock.calls[0].request
    assert request.headers["x-api-token"] == TOKEN
    assert TOKEN not in request.url
    assert len(mock.calls) == 1


def test_a_person_not_found_is_created_with_name_email_phone_and_organization(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND, match=[SEARCH_QUERY])
    mock.add(responses.GET, ORG_SEARCH, json=org_items((5, "Engines")), match=[ORG_QUERY])
    mock.add(
        responses.POST,
        PERSONS,
        json={"success": True, "data": {"id": 77, "name": "Ada Lovelace"}},
        status=201,
    )
    assert adapter.push(ADA, delivery_id="d1") == PushResult("77")
    create = mock.calls[2].request
    assert create.headers["x-api-token"] == TOKEN and TOKEN not in create.url
    assert json.loads(create.body) == {
        "name": "Ada Lovelace",
        "email": [{"value": "ada@example.com", "primary": True, "label": "work"}],
        "phone": [{"value": "+44 1", "primary": True, "label": "work"}],
        "org_id": 5,
    }


def test_a_nameless_lead_is_named_after_its_email(adapter, mock):
    lead = Lead("p2", None, None, None, None, "ada@example.com", None)
    mock.add(responses.GET, SEARCH, json={"success": True, "data": None}, match=[SEARCH_QUERY])
    mock.add(responses.POST, PERSONS, json={"success": True, "data": {"id": 78}}, status=201)
    assert adapter.push(lead, delivery_id="d2") == PushResult("78")
    assert json.loads(mock.calls[1].request.body)["name"] == "ada@example.com"


def test_lead_without_email_fails_permanently_without_a_request(adapter, mock):
    lead = Lead("p3", "https://www.linkedin.com/in/x", "X Y", None, None, None, "+1 555")
    with pytest.raises(PermanentDeliveryError, match="no email"):
        adapter.push(lead, delivery_id="d3")
    assert len(mock.calls) == 0


def test_401_is_auth_refused_with_pipedrive_error_text_and_without_the_token(adapter, mock):
    body = {
        "success": False,
        "error": f"unauthorized access for token {TOKEN}",
        "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com",
    }
    mock.add(responses.GET, SEARCH, json=body, status=401)
    with pytest.raises(AuthRefused) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert "401" in str(caught.value) and "unauthorized access" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_400_on_create_is_permanent(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json={"success": False, "error": "Name must be given."}, status=400)
    with pytest.raises(PermanentDeliveryError, match="Name must be given"):
        adapter.push(NO_COMPANY, delivery_id="d1")


def test_429_with_retry_after_2_is_rate_limited_for_2_seconds(adapter, mock):
    mock.add(
        responses.GET,
        SEARCH,
        json={"success": False, "error": "Rate limit exceeded"},
        status=429,
        headers={"Retry-After": "2"},
    )
    with pytest.raises(RateLimited) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 2


def test_500_is_retryable(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json={"success": False, "error": "Internal server error"}, status=500)
    with pytest.raises(RetryableDeliveryError, match="Internal server error"):
        adapter.push(NO_COMPANY, delivery_id="d1")


def test_timeout_is_retryable(adapter, mock):
    mock.add(responses.GET, SEARCH, body=requests.exceptions.ConnectTimeout())
    with pytest.raises(RetryableDeliveryError, match="api.pipedrive.com"):
        adapter.push(ADA, delivery_id="d1")


def test_html_error_page_on_200_is_retryable_with_a_readable_message(adapter, mock):
    page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>"
    mock.add(responses.GET, SEARCH, body=page, status=200, content_type="text/html")
    with pytest.raises(RetryableDeliveryError) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert "502 Bad Gateway cloudflare" in str(caught.value)


def test_truncated_json_on_create_is_retryable_so_the_retry_finds_the_person_by_email(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, body='{"success": true, "data": {"id": 7', status=201)
    with pytest.raises(RetryableDeliveryError, match="unreadable"):
        adapter.push(NO_COMPANY, delivery_id="d1")


def test_created_answer_without_an_id_is_retryable(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json={"success": True, "data": None}, status=201)
    with pytest.raises(RetryableDeliveryError, match="id"):
        adapter.push(NO_COMPANY, delivery_id="d1")


def test_a_company_domain_base_url_is_used(mock):
    config = PipedriveAdapter.validate_config(
        {"api_token": TOKEN, "base_url": "https://acme.pipedrive.com"},
        allow_private_networks=False,
        resolve=public,
    )
    adapter = PipedriveAdapter(config, Outbound(session=requests.Session(), resolve=public))
    found = {
        "success": True,
        "data": {"items": [{"item": {"id": 5, "organization": {"id": 1, "name": "E"}}}]},
    }
    mock.add(responses.GET, "https://acme.pipedrive.com/v1/persons/search", json=found)
    assert adapter.push(ADA, delivery_id="d1") == PushResult("5")


def make(**config) -> PipedriveAdapter:
    stored = PipedriveAdapter.validate_config(config, allow_private_networks=False, resolve=public, now=NOW)
    return PipedriveAdapter(stored, Outbound(session=requests.Session(), resolve=public))


NOW = 1_700_000_000
OAUTH = "v1u:AQIBAHj+LzTNK2yuuuaLqifzhWb9crUNKTpk4FlQ9rjnXqp/6AAAAEW=EXAMPLE"
REFRESH = "12345:678910:fe1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a"
CREATED = {"success": True, "data": {"id": 77, "name": "Ada Lovelace"}}


# Organizations


def test_a_company_without_an_organization_of_that_name_gets_one_created(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.GET, ORG_SEARCH, json=org_items((3, "Engines International")), match=[ORG_QUERY])
    mock.add(responses.POST, ORGS, json={"success": True, "data": {"id": 11, "name": "Engines"}}, status=201)
    mock.add(responses.POST, PERSONS, json=CREATED, status=201)
    assert adapter.push(ADA, delivery_id="d1") == PushResult("77")
    assert json.loads(mock.calls[2].request.body) == {"name": "Engines"}
    assert json.loads(mock.calls[3].request.body)["org_id"] == 11


def test_the_organization_name_matches_ignoring_case(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.GET, ORG_SEARCH, json=org_items((4, "ENGINES")))
    mock.add(responses.POST, PERSONS, json=CREATED, status=201)
    adapter.push(ADA, delivery_id="d1")
    assert json.loads(mock.calls[2].request.body)["org_id"] == 4


def test_a_lead_without_company_links_no_organization(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json=CREATED, status=201)
    adapter.push(NO_COMPANY, delivery_id="d1")
    assert len(mock.calls) == 2 and "org_id" not in json.loads(mock.calls[1].request.body)


def test_a_found_person_without_organization_is_linked_and_nothing_else_changes(adapter, mock):
    person = {"id": 42, "type": "person", "name": "Ada", "organization": None}
    mock.add(responses.GET, SEARCH, json={"success": True, "data": {"items": [{"item": person}]}})
    mock.add(responses.GET, ORG_SEARCH, json=org_items((5, "Engines")))
    mock.add(responses.PUT, f"{PERSONS}/42", json={"success": True, "data": {"id": 42, "org_id": 5}})
    assert adapter.push(ADA, delivery_id="d1") == PushResult("42")
    assert json.loads(mock.calls[2].request.body) == {"org_id": 5}


# Field map and job title


def test_the_title_goes_to_the_person_field_the_field_map_names(mock):
    key = "4f9ab8fd2b4e3c1d0a9b8c7d6e5f4a3b2c1d0e9f"
    adapter = make(api_token=TOKEN, field_map={"title": key, "company": None, "phone": None})
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json=CREATED, status=201)
    adapter.push(ADA, delivery_id="d1")
    assert json.loads(mock.calls[1].request.body) == {
        "name": "Ada Lovelace",
        "email": [{"value": "ada@example.com", "primary": True, "label": "work"}],
        key: "Analyst",
    }


def test_by_default_no_title_is_sent_since_v1_persons_have_no_job_title_field(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json=CREATED, status=201)
    adapter.push(NO_COMPANY, delivery_id="d1")
    assert "Analyst" not in mock.calls[1].request.body.decode()


def test_email_and_name_cannot_be_moved():
    with pytest.raises(ConfigError) as caught:
        make(api_token=TOKEN, field_map={"email": "work_email", "full_name": "nickname"})
    assert "email always goes to 'email'" in caught.value.fields["field_map"]
    assert "full_name always goes to 'name'" in caught.value.fields["field_map"]


# OAuth tokens


def test_an_oauth_access_token_goes_in_a_bearer_header_to_the_api_domain(mock):
    adapter = make(
        access_token=OAUTH, refresh_token=REFRESH, expires_in=3599, base_url="https://acme.pipedrive.com"
    )
    assert adapter.config["expires_at"] == NOW + 3599
    found = {
        "success": True,
        "data": {"items": [{"item": {"id": 5, "organization": {"id": 1, "name": "E"}}}]},
    }
    mock.add(responses.GET, "https://acme.pipedrive.com/v1/persons/search", json=found)
    adapter.push(ADA, delivery_id="d1")
    headers = mock.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {OAUTH}" and "x-api-token" not in headers


@pytest.mark.parametrize(
    ("config", "bad"),
    [
        ({"api_token": TOKEN, "access_token": OAUTH}, {"access_token"}),
        ({"api_token": TOKEN, "refresh_token": REFRESH}, {"refresh_token"}),
        ({"refresh_token": REFRESH}, {"api_token", "refresh_token"}),
    ],
)
def test_exactly_one_kind_of_token_is_accepted(config, bad):
    with pytest.raises(ConfigError) as caught:
        make(**config)
    assert set(caught.value.fields) == bad
    assert (
        TOKEN not in str(caught.value) and OAUTH not in str(caught.value) and REFRESH not in str(caught.value)
    )


def test_every_token_is_a_secret_field():
    config = make(access_token=OAUTH, refresh_token=REFRESH).config
    assert set(PipedriveAdapter.secret_fields) == {"api_token", "access_token", "refresh_token"}
    assert OAUTH not in str(PipedriveAdapter.public_config(config))
    assert REFRESH not in str(PipedriveAdapter.public_config(config))


def test_an_expired_oauth_token_is_auth_refused_without_the_token_in_the_message(mock):
    body = {"success": False, "error": f"Unauthorized: token {OAUTH} expired", "errorCode": 401}
    mock.add(responses.GET, SEARCH, json=body, status=401)
    with pytest.raises(AuthRefused) as caught:
        make(access_token=OAUTH, refresh_token=REFRESH).push(ADA, delivery_id="d1")
    assert OAUTH not in caught.value.message and "[redacted]" in caught.value.message


# Connection test

ME = "https://api.pipedrive.com/v1/users/me"
PERSON_FIELDS = "https://api.pipedrive.com/v1/personFields"


def person_fields(*keys: str) -> dict:
    data = [{"id": n, "key": k, "name": k.title(), "field_type": "varchar"} for n, k in enumerate(keys)]
    return {
        "success": True,
        "data": data,
        "additional_data": {"pagination": {"more_items_in_collection": False}},
    }


def test_check_connection_reads_the_user_and_the_person_fields(adapter, mock):
    mock.add(responses.GET, ME, json={"success": True, "data": {"id": 1, "name": "Owner", "company_id": 7}})
    mock.add(responses.GET, PERSON_FIELDS, json=person_fields("name", "email", "phone", "org_id", "owner_id"))
    result = adapter.check_connection()
    assert result.ok, result.detail
    assert all(c.request.headers["x-api-token"] == TOKEN for c in mock.calls)


def test_check_connection_names_a_mapped_person_field_the_account_lacks(mock):
    adapter = make(api_token=TOKEN, field_map={"title": "job_title"})
    mock.add(responses.GET, ME, json={"success": True, "data": {"id": 1}})
    mock.add(responses.GET, PERSON_FIELDS, json=person_fields("name", "email", "phone", "org_id"))
    assert adapter.check_connection() == CheckResult(
        False, "Pipedrive has no person field named 'job_title' (field_map.title)"
    )


def test_check_connection_raises_auth_refused_for_a_bad_token(adapter, mock):
    mock.add(
        responses.GET,
        ME,
        json={"success": False, "error": "unauthorized access", "errorCode": 401},
        status=401,
    )
    with pytest.raises(AuthRefused):
        adapter.check_connection()


def test_a_found_person_whose_organization_is_not_stated_is_left_alone(adapter, mock):
    mock.add(responses.GET, SEARCH, json={"success": True, "data": {"items": [{"item": {"id": 42}}]}})
    assert adapter.push(ADA, delivery_id="d1") == PushResult("42")
    assert len(mock.calls) == 1
