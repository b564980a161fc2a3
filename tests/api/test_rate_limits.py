"""api.md "Rate limits", in process on the embedded (memory) count with an injected clock: per API key,
moving window, 429 rate_limited with Retry-After and CORS, the IETF RateLimit fields, bad tokens and
the OAuth callback per address, the bulk bucket, the never-limited paths, and a 429 that claims no
Idempotency-Key. The served cases (gunicorn, Redis) are tests/e2e/test_rate_limits_served.py."""

from __future__ import annotations

import pytest

from backend.api import rate_limits
from backend.app import create_app
from backend.config import Settings
from tests.conftest import ORIGIN, app_settings, make_api

ME = "/v1/me"


class Clock:
    """Stands in for the `time` module where the limiter's memory storage and ours read the time."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    import limits.storage.memory

    c = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", c)
    monkeypatch.setattr(rate_limits, "time", c)
    return c


@pytest.fixture
def limited(db_url, clock):
    """A factory of apps with the given limits (memory storage, this test's clock) and their clients."""
    apps = []

    def make(rate_limit="3/second;100/minute", rate_limit_bulk="1000/second"):
        app = create_app(app_settings(db_url, rate_limit=rate_limit, rate_limit_bulk=rate_limit_bulk))
        apps.append(app)
        return make_api(app)

    yield make
    for app in apps:
        app.extensions["store"].engine.dispose()


def test_a_key_over_its_limit_is_a_429_problem_with_retry_after_cors_and_the_ietf_fields(limited, clock):
    api = limited("3/second;100/minute")
    alice, bob = api.account(), api.account()
    answers = [alice.get(ME, Origin=ORIGIN) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[0].headers["RateLimit-Policy"] == '"default";q=3;w=1, "default-60s";q=100;w=60'
    assert answers[0].headers["RateLimit"] == '"default";r=2;t=1, "default-60s";r=99;t=60'
    assert answers[2].headers["RateLimit"].startswith('"default";r=0;t=1')

    refused = alice.get(ME, Origin=ORIGIN)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "rate_limited" and refused.json["status"] == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = refused.headers["Access-Control-Expose-Headers"]
    assert all(h in exposed for h in ("Retry-After", "RateLimit", "RateLimit-Policy"))
    assert refused.headers["RateLimit"].startswith('"default";r=0;t=1')

    assert bob.get(ME).status_code == 200  # counted per key: another key of the same address is free
    clock.advance(1.001)
    assert alice.get(ME).status_code == 200


def test_the_window_moves_so_no_second_admits_more_than_the_limit(limited, clock):
    """At 0.0 two requests, at 0.9 one: a fixed window would admit three more at 1.05; the moving
    window admits two (the 0.9 one is still within the last second)."""
    alice = limited("3/second").account()
    assert [alice.get(ME).status_code for _ in range(2)] == [200, 200]
    clock.advance(0.9)
    assert alice.get(ME).status_code == 200
    assert alice.get(ME).status_code == 429
    clock.advance(0.15)
    assert [alice.get(ME).status_code for _ in range(3)] == [200, 200, 429]


def test_bad_tokens_and_the_oauth_callback_count_against_the_client_address(limited, clock):
    api = limited("2/second")
    alice = api.account()
    wrong = [api.raw.get(ME, headers={"Authorization": f"Bearer wrong-{i}"}) for i in range(2)]
    assert [r.status_code for r in wrong] == [401, 401]
    assert wrong[0].headers["RateLimit"].startswith('"default";r=1;')
    third = api.raw.get(ME, headers={"Authorization": "Bearer wrong-3"})
    assert third.status_code == 429 and third.json["code"] == "rate_limited"
    assert "client address" in third.json["detail"]
    assert api.raw.get("/v1/crm/oauth/callback?code=c&state=s").status_code == 429
    assert api.raw.get(ME).status_code == 429  # no token at all: the same address
    assert alice.get(ME).status_code == 200  # a valid key counts on its own


def test_preflights_health_docs_and_pages_are_never_limited(limited, clock):
    api = limited("1/second")
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    for _ in range(5):
        r = api.raw.options(ME, headers=preflight)
        assert r.status_code == 200 and "RateLimit" not in r.headers
        r = api.raw.get("/healthz")
        assert r.status_code == 200 and "RateLimit" not in r.headers
        assert api.raw.get("/openapi.json").status_code == 200


def test_bulk_routes_count_against_their_own_tighter_limit_too(limited, clock):
    api = limited("100/second", rate_limit_bulk="1/second")
    people = [
        {"linkedin_url": "https://www.linkedin.com/in/bulk-1", "full_name": "B", "title": "T", "company": "C"}
    ]
    first = api.admin.post("/v1/admin/directory", {"people": people})
    assert first.status_code == 200
    assert first.headers["RateLimit-Policy"] == '"default";q=100;w=1, "bulk";q=1;w=1'
    second = api.admin.post("/v1/admin/directory", {"people": people})
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    api.account()  # the same admin token on another route: the default bucket only (account() asserts 201)
    clock.advance(1.001)
    assert api.admin.post("/v1/admin/directory", {"people": people}).status_code == 200


def test_a_refused_request_claims_no_idempotency_key_and_runs_when_retried(limited, clock):
    api = limited("1/second")
    url = api.directory(1)[0]
    clock.advance(1.001)  # the admin's own count
    alice = api.account(email=5)
    assert alice.get(ME).status_code == 200
    refused = alice.post("/v1/extension/reveal", {"linkedin_url": url}, **{"Idempotency-Key": "k-1"})
    assert refused.status_code == 429
    clock.advance(1.001)
    retried = alice.post("/v1/extension/reveal", {"linkedin_url": url}, **{"Idempotency-Key": "k-1"})
    assert retried.status_code == 200, retried.json
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json["credits"]["charged"]["email"] == 1


def test_the_embedded_count_is_per_process(limited, clock):
    """README: without REDIS_URL each process counts alone, so two processes admit twice the limit."""
    one, two = limited("2/second"), limited("2/second")
    token = one.account().headers
    statuses = [api.raw.get(ME, headers=token).status_code for api in (one, two) for _ in range(3)]
    assert statuses == [200, 200, 429, 200, 200, 429]


@pytest.mark.parametrize("name", ["RATE_LIMIT", "RATE_LIMIT_BULK"])
@pytest.mark.parametrize("value", ["lots", "50/fortnight", "0/second", "50/second;nope"])
def test_a_bad_limit_refuses_to_start_naming_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_limits_are_read_from_the_environment():
    settings = Settings.from_env({"RATE_LIMIT": "20/second", "RATE_LIMIT_BULK": "2 per 10 seconds"})
    assert (settings.rate_limit, settings.rate_limit_bulk) == ("20/second", "2 per 10 seconds")
    assert Settings.from_env({}).rate_limit == "50/second;2000/minute"
