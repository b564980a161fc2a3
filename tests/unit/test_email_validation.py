"""The email-validation port: the offline validator's verdicts and the HTTP adapter's failure modes."""

from __future__ import annotations

import pytest
import requests
import responses
from responses import matchers

from adapters.validation.base import Verdict
from adapters.validation.http import HttpEmailValidator
from adapters.validation.local import LocalEmailValidator

local = LocalEmailValidator()


# --- local validator -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "j+tag@sub.example.co.uk", "o'brien@example.ie", "x_y-z@a-b.io"],
)
def test_well_formed_business_addresses_are_valid(email):
    assert local.validate(email) == Verdict(email, "valid", ())


def test_normalises_by_trimming_and_lowercasing_the_domain_only():
    assert local.validate("  Jane.Doe@Example.COM \n").email == "Jane.Doe@example.com"


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("", "empty"),
        ("jane.example.com", "missing_at"),
        ("@example.com", "empty_local_part"),
        ("jane@", "empty_domain"),
        ("jane..doe@example.com", "consecutive_dots"),
        ("jane@example..com", "consecutive_dots"),
        (".jane@example.com", "local_part_starts_or_ends_with_dot"),
        ("jane doe@example.com", "invalid_character_in_local_part"),
        ("jane@doe@example.com", "invalid_character_in_local_part"),
        ("jane@[192.0.2.1]", "domain_literal_not_accepted"),
        ("jane@example.com.", "domain_starts_or_ends_with_dot"),
        ("jane@localhost", "domain_has_no_tld"),
        ("jane@-example.com", "invalid_domain_label"),
        ("jane@exa_mple.com", "invalid_domain_label"),
        ("jane@192.0.2.1", "invalid_tld"),
        ("jane@example.c", "invalid_tld"),
    ],
)
def test_malformed_addresses_are_invalid_with_the_problem_named(email, reason):
    verdict = local.validate(email)
    assert (verdict.status, verdict.reasons) == ("invalid", (reason,))


def test_length_limits_follow_rfc_5321():
    label63 = "d" * 63
    assert local.validate("a" * 64 + "@example.com").status == "valid"
    assert local.validate("a" * 65 + "@example.com").reasons == ("local_part_too_long",)
    assert local.validate(f"jane@{label63}.com").status == "valid"
    assert local.validate(f"jane@{label63}d.com").reasons == ("domain_label_too_long",)
    domain189 = f"{label63}.{label63}.{'c' * 57}.com"
    assert local.validate("a" * 64 + "@" + domain189).status == "valid"  # 254 octets
    assert local.validate("a" * 64 + "@" + domain189.replace("c", "cc", 1)).reasons == ("address_too_long",)
    assert local.validate("jane@" + f"{label63}." * 4 + "com").reasons == ("domain_too_long",)


def test_idn_domains_are_punycoded_and_bad_ones_rejected():
    assert local.validate("joerg@Müller.de") == Verdict("joerg@xn--mller-kva.de", "valid", ())
    assert local.validate("joerg@xn--mller-kva.de").status == "valid"
    assert local.validate("joerg@" + "ü" * 70 + ".de").reasons == ("invalid_idn_domain",)


@pytest.mark.parametrize("domain", ["mailinator.com", "YOPMAIL.com", "inbox.guerrillamail.com"])
def test_disposable_domains_are_risky(domain):
    verdict = local.validate(f"jane@{domain}")
    assert (verdict.status, verdict.reasons) == ("risky", ("disposable",))


@pytest.mark.parametrize("local_part", ["info", "Sales", "support", "no-reply", "noreply", "billing+eu"])
def test_role_addresses_are_risky(local_part):
    verdict = local.validate(f"{local_part}@example.com")
    assert (verdict.status, verdict.reasons) == ("risky", ("role_address",))


def test_a_role_address_on_a_disposable_domain_gives_both_reasons():
    assert local.validate("admin@mailinator.com").reasons == ("disposable", "role_address")


def test_non_ascii_local_parts_are_not_accepted():
    assert local.validate("jörg@example.de").reasons == ("invalid_character_in_local_part",)


def test_validate_many_answers_in_order():
    verdicts = local.validate_many(["jane@example.com", "bad", "info@example.com"])
    assert [v.status for v in verdicts] == ["valid", "invalid", "risky"]


# --- HTTP adapter --------------------------------------------------------------------------------

BASE = "https://verify.example.test"
URL = BASE + "/v1/verify"
KEY = "sk_live_secret123"


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock, HttpEmailValidator(BASE + "/", KEY, timeout=3)


def _answer(mock, **kwargs):
    mock.add(responses.GET, URL, **kwargs)


def test_sends_the_email_in_the_query_and_the_key_as_a_bearer_token(http):
    mock, validator = http
    mock.add(
        responses.GET,
        URL,
        json={"email": "jane@example.com", "status": "valid"},
        match=[
            matchers.query_param_matcher({"email": "Jane@example.com"}),
            matchers.header_matcher({"Authorization": f"Bearer {KEY}"}),
        ],
    )
    assert validator.validate(" Jane@EXAMPLE.com ") == Verdict("Jane@example.com", "valid", ())
    assert mock.calls[0].request.url == URL + "?email=Jane%40example.com"


@pytest.mark.parametrize(
    ("body", "status", "reasons"),
    [
        ({"status": "valid"}, "valid", ()),
        ({"status": "invalid", "reason": "mailbox_not_found"}, "invalid", ("mailbox_not_found",)),
        ({"status": "catch_all"}, "risky", ("catch_all",)),
        ({"status": "Catch-All"}, "risky", ("catch_all",)),
        ({"status": "accept_all"}, "risky", ("accept_all",)),
        ({"status": "disposable"}, "risky", ("disposable",)),
        ({"status": "deliverable"}, "valid", ()),
        ({"status": "undeliverable"}, "invalid", ()),
        ({"status": "unknown", "reason": "Greylisted!"}, "unknown", ("greylisted",)),
        ({"status": "quantum"}, "unknown", ("unrecognised_status:quantum",)),
    ],
)
def test_maps_vendor_statuses_onto_ours(http, body, status, reasons):
    mock, validator = http
    _answer(mock, json={"email": "jane@example.com", **body})
    verdict = validator.validate("jane@example.com")
    assert (verdict.status, verdict.reasons) == (status, reasons)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"status": 401, "json": {"error": "bad key"}}, "service_auth_failed"),
        ({"status": 403}, "service_auth_failed"),
        ({"status": 429, "headers": {"Retry-After": "30"}}, "service_rate_limited"),
        ({"status": 500}, "service_http_500"),
        ({"status": 503, "body": "<html>down</html>"}, "service_http_503"),
        ({"status": 200, "body": "<html><body>Login</body></html>"}, "service_bad_response"),
        ({"status": 200, "json": ["valid"]}, "service_bad_response"),
        ({"status": 200, "json": {"email": "jane@example.com"}}, "service_bad_response"),
        ({"body": requests.ConnectTimeout()}, "service_timeout"),
        ({"body": requests.ReadTimeout()}, "service_timeout"),
        ({"body": requests.ConnectionError("connection refused")}, "service_unreachable"),
    ],
)
def test_outages_and_garbage_answer_unknown_instead_of_raising(http, kwargs, reason):
    mock, validator = http
    _answer(mock, **kwargs)
    assert validator.validate("jane@example.com") == Verdict("jane@example.com", "unknown", (reason,))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"status": "unknown", "reason": f"key {KEY} is over quota"}},
        {"json": {"status": f"weird-{KEY}"}},
        {"status": 401, "json": {"error": f"invalid key {KEY}"}},
        {"body": requests.ConnectionError(f"https://x/?key={KEY}")},
    ],
)
def test_the_api_key_never_appears_in_a_verdict(http, kwargs):
    mock, validator = http
    _answer(mock, **kwargs)
    verdict = validator.validate("jane@example.com")
    assert verdict.status == "unknown"
    assert KEY.lower() not in repr(verdict).lower()
