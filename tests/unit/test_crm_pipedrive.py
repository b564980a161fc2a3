"""Pipedrive adapter: find the person by email or create one; token in a header, never in messages."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from responses import matchers

from adapters.crm.base import (
    ConfigError,
    Lead,
    Outbound,
    PermanentDeliveryError,
    PushResult,
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
NOT_FOUND = {"success": True, "data": {"items": []}, "additional_data": {"pagination": {"start": 0}}}


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
    assert config == {"api_token": TOKEN, "base_url": "https://api.pipedrive.com"}
    assert PipedriveAdapter.public_config(config) == {"base_url": "https://api.pipedrive.com"}


def test_an_existing_person_is_found_by_exact_email_and_left_untouched(adapter, mock):
    found = {"success": True, "data": {"items": [{"result_score": 1, "item": {"id": 42, "type": "person"}}]}}
    mock.add(responses.GET, SEARCH, json=found, match=[SEARCH_QUERY])
    assert adapter.push(ADA, delivery_id="d1") == PushResult("42")
    request = mock.calls[0].request
    assert request.headers["x-api-token"] == TOKEN
    assert TOKEN not in request.url
    assert len(mock.calls) == 1


def test_a_person_not_found_is_created_with_name_email_and_phone(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND, match=[SEARCH_QUERY])
    mock.add(
        responses.POST,
        PERSONS,
        json={"success": True, "data": {"id": 77, "name": "Ada Lovelace"}},
        status=201,
    )
    assert adapter.push(ADA, delivery_id="d1") == PushResult("77")
    create = mock.calls[1].request
    assert create.headers["x-api-token"] == TOKEN and TOKEN not in create.url
    assert json.loads(create.body) == {
        "name": "Ada Lovelace",
        "email": [{"value": "ada@example.com", "primary": True, "label": "work"}],
        "phone": [{"value": "+44 1", "primary": True, "label": "work"}],
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


def test_401_is_permanent_with_pipedrive_error_text_and_without_the_token(adapter, mock):
    body = {
        "success": False,
        "error": f"unauthorized access for token {TOKEN}",
        "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com",
    }
    mock.add(responses.GET, SEARCH, json=body, status=401)
    with pytest.raises(PermanentDeliveryError) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert "401" in str(caught.value) and "unauthorized access" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_400_on_create_is_permanent(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json={"success": False, "error": "Name must be given."}, status=400)
    with pytest.raises(PermanentDeliveryError, match="Name must be given"):
        adapter.push(ADA, delivery_id="d1")


def test_429_with_retry_after_2_is_retryable_after_2_seconds(adapter, mock):
    mock.add(
        responses.GET,
        SEARCH,
        json={"success": False, "error": "Rate limit exceeded"},
        status=429,
        headers={"Retry-After": "2"},
    )
    with pytest.raises(RetryableDeliveryError) as caught:
        adapter.push(ADA, delivery_id="d1")
    assert caught.value.retry_after == 2


def test_500_is_retryable(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json={"success": False, "error": "Internal server error"}, status=500)
    with pytest.raises(RetryableDeliveryError, match="Internal server error"):
        adapter.push(ADA, delivery_id="d1")


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
        adapter.push(ADA, delivery_id="d1")


def test_created_answer_without_an_id_is_retryable(adapter, mock):
    mock.add(responses.GET, SEARCH, json=NOT_FOUND)
    mock.add(responses.POST, PERSONS, json={"success": True, "data": None}, status=201)
    with pytest.raises(RetryableDeliveryError, match="id"):
        adapter.push(ADA, delivery_id="d1")


def test_a_company_domain_base_url_is_used(mock):
    config = PipedriveAdapter.validate_config(
        {"api_token": TOKEN, "base_url": "https://acme.pipedrive.com"},
        allow_private_networks=False,
        resolve=public,
    )
    adapter = PipedriveAdapter(config, Outbound(session=requests.Session(), resolve=public))
    found = {"success": True, "data": {"items": [{"item": {"id": 5}}]}}
    mock.add(responses.GET, "https://acme.pipedrive.com/v1/persons/search", json=found)
    assert adapter.push(ADA, delivery_id="d1") == PushResult("5")
