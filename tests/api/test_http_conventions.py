"""api.md's Conventions: auth, problem+json, bad input, body limits, CORS, OpenAPI."""

import io
import json

import pytest

from backend.app import create_app
from tests.conftest import ORIGIN, app_settings

REVEAL = "/v1/extension/reveal"


def test_missing_and_wrong_tokens_are_401_problems(api):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = api.raw.get("/v1/credits", headers=headers)
        assert r.status_code == 401 and r.json["code"] == "unauthorized"
        assert r.content_type == "application/problem+json"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")  # RFC 6750 §3: the scheme to use


def test_user_tokens_cannot_use_admin_routes(api):
    user = api.account()
    r = user.post(f"/v1/admin/accounts/{user.account_id}/grants", {"credit_type": "email", "amount": 5})
    assert r.status_code == 401
    assert user.balance()["email"] == 100


def test_admin_routes_without_a_configured_admin_token_say_so(db_url):
    """An operator who forgot CREDITS_ADMIN_TOKEN was told only that the token was wrong."""
    app = create_app(app_settings(db_url, admin_token=None))
    try:
        r = app.test_client().post(
            "/v1/admin/accounts",
            json={"name": "x", "admin_email": "a@x.example"},
            headers={"Authorization": "Bearer anything"},
        )
        assert r.status_code == 401 and r.json["code"] == "unauthorized"
        assert "CREDITS_ADMIN_TOKEN" in r.json["detail"]
    finally:
        app.extensions["store"].engine.dispose()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"linkedin_url": "https://www.linkedin.com/company/acme"}, "linkedin_url"),
        ({"linkedin_url": "https://[www.linkedin.com/in/a"}, "linkedin_url"),  # was a 500 (schemathesis)
        ({"linkedin_url": "https://www.linkedin.com/in/a", "fields": ["fax"]}, "fields"),
        ({"linkedin_url": "https://www.linkedin.com/in/a", "fields": "email"}, "fields"),
        ({"linkedin_url": "https://www.linkedin.com/in/a", "surprise": 1}, "surprise"),
        ({"linkedin_url": 42}, "linkedin_url"),
        ({}, "linkedin_url"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_charges_nothing(api, body, field):
    user = api.account()
    r = user.post(REVEAL, body)
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert field in r.json["errors"]
    assert user.balance()["email"] == 100


def test_malformed_json_is_a_4xx_problem(api):
    user = api.account()
    r = api.raw.post(REVEAL, data="{not json", headers={**user.headers, "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500 and r.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "content_type", [None, "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
def test_a_body_not_sent_as_json_is_415_not_taken_as_empty(api, content_type):
    """fetch() with a string body and no Content-Type sends text/plain: the body was dropped unread, so
    a reveal answered "give linkedin_url" and a list export ran without the phones it asked for."""
    user = api.account()
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    headers = {**user.headers, "Origin": ORIGIN, **({"Content-Type": content_type} if content_type else {})}
    for path, body in [
        (REVEAL, {"linkedin_url": "https://www.linkedin.com/in/a", "fields": ["email"]}),
        (f"/v1/lists/{lid}/exports", {"include_phone": True}),
    ]:
        r = api.raw.post(path, data=json.dumps(body), headers=headers)
        assert r.status_code == 415 and r.json["code"] == "unsupported_media_type", r.json
        assert r.content_type == "application/problem+json"
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert user.post(f"/v1/lists/{lid}/exports").status_code == 202  # no body at all is fine


def test_unknown_credit_type_in_a_grant_is_422(api):
    user = api.account()
    r = api.admin.post(f"/v1/admin/accounts/{user.account_id}/grants", {"credit_type": "gold", "amount": 1})
    assert r.status_code == 422 and "credit_type" in r.json["errors"]
    r = api.admin.post(
        f"/v1/admin/accounts/{user.account_id}/grants", {"credit_type": "email", "amount": 0.3}
    )
    assert r.status_code == 422 and "amount" in r.json["errors"]


def test_an_amount_beyond_any_balance_is_a_422_and_grants_nothing(api):
    """2.3e16 credits overflowed the driver's 64-bit integer: a 500 (found by schemathesis)."""
    user = api.account()
    grants = f"/v1/admin/accounts/{user.account_id}/grants"
    r = api.admin.post(grants, {"credit_type": "phone", "amount": 2.311283650527028e16})
    assert r.status_code == 422 and "amount" in r.json["errors"]
    assert api.admin.post(grants, {"credit_type": "phone", "amount": 1_000_000_000}).status_code == 201
    assert user.balance()["phone"] == 10 + 1_000_000_000


def test_unknown_list_and_sequence_are_404(api):
    user = api.account()
    assert (
        user.post("/v1/extension/lists/nope/leads", {"linkedin_url": "linkedin.com/in/a"}).status_code == 404
    )
    r = user.post("/v1/extension/sequences/nope/enrollments", {"linkedin_url": "linkedin.com/in/a"})
    assert r.status_code == 404 and r.json["code"] == "not_found"


def test_a_huge_body_on_a_single_person_route_is_413_naming_the_limit(api):
    user = api.account()
    r = user.post(REVEAL, {"linkedin_url": "https://www.linkedin.com/in/a", "pad": "x" * 70_000})
    assert r.status_code == 413 and r.json["code"] == "payload_too_large"
    assert r.json["limit"] == 65536
    assert user.balance()["email"] == 100


def chunked(api, client, path, body: bytes):
    """A request as a WSGI server hands on a chunked body: no Content-Length, the stream terminated."""
    return api.raw.post(
        path,
        input_stream=io.BytesIO(body),
        headers={**client.headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_past_the_limit_is_413_naming_it_not_invalid_json(api):
    """werkzeug stops reading a body without Content-Length at the limit and hands on what it read:
    the truncated JSON was a 400 "Invalid JSON body"."""
    user = api.account()
    pad = {"linkedin_url": "https://www.linkedin.com/in/a", "pad": "x" * 70_000}
    r = chunked(api, user, REVEAL, json.dumps(pad).encode())
    assert r.status_code == 413 and r.json["code"] == "payload_too_large" and r.json["limit"] == 65536
    people = {"people": [{"linkedin_url": f"https://www.linkedin.com/in/p-{i}"} for i in range(400_000)]}
    r = chunked(api, user, "/v1/tracking", json.dumps(people).encode())
    assert r.status_code == 413 and r.json["limit"] == 16 * 2**20
    exactly = b'{"name": "L"' + b" " * (65536 - len(b'{"name": "L"}')) + b"}"
    assert len(exactly) == 65536 and chunked(api, user, "/v1/lists", exactly).status_code == 201
    assert user.balance()["email"] == 100 and user.get("/v1/tracking").json["tracked"] == []


class Unreadable(io.BytesIO):
    def read(self, *args):
        raise AssertionError("the request's body was read")

    readline = readinto = read1 = read


def test_a_get_without_a_body_never_reads_the_input(api):
    """Only a chunked body is read up front (to see it past the limit): a GET without Content-Length,
    as gunicorn hands on every GET (the stream terminated), must not pay for reading it — GET /v1/me
    is the benchmarked no-op."""
    user = api.account()
    r = api.raw.get(
        "/v1/me",
        headers=user.headers,
        environ_overrides={"wsgi.input": Unreadable(), "wsgi.input_terminated": True},
    )
    assert r.status_code == 200 and r.json["account_id"] == user.account_id


def test_bulk_routes_accept_more_than_64_kib(api):
    rows = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/bulk-{i}",
            "full_name": "X" * 50,
            "title": "T",
            "company": "C",
        }
        for i in range(1500)
    ]
    r = api.admin.post("/v1/admin/directory", {"people": rows})
    assert r.status_code == 200 and r.json["created"] == 1500


def test_cors_preflight_answers_before_auth_with_exact_origin(api):
    r = api.raw.options(
        REVEAL,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert r.status_code < 300
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "Origin" in r.headers.get("Vary", "")


@pytest.mark.parametrize("path", ["/v1/no-such-route", "/v1/lists/x/leads/y/extra", "/nowhere"])
def test_cors_preflight_on_an_unknown_route_is_2xx_so_the_404_itself_can_be_read(api, path):
    """A preflight answered 404 fails in the browser ("Failed to fetch"); answered 2xx, the extension
    then reads the real request's 404 problem."""
    r = api.raw.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert 200 <= r.status_code < 300
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    user = api.account()
    r = user.post(path, {}, Origin=ORIGIN)
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_headers_ride_on_error_answers_too(api):
    poor = api.account(email=0)
    lid = poor.post("/v1/lists", {"name": "L"}).json["id"]
    api.directory(1)
    answers = [
        api.raw.get("/v1/credits", headers={"Origin": ORIGIN}),
        poor.post(
            f"/v1/extension/lists/{lid}/leads", {"linkedin_url": "linkedin.com/in/person-0"}, Origin=ORIGIN
        ),
        poor.post(REVEAL, {"linkedin_url": "nope"}, Origin=ORIGIN),
        poor.get("/v1/lists/nope/leads", Origin=ORIGIN),
    ]
    assert [a.status_code for a in answers] == [401, 402, 422, 404]
    for a in answers:
        assert a.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "retry-after" in a.headers["Access-Control-Expose-Headers"].lower()


@pytest.mark.parametrize("origin", ["https://evil.example", ORIGIN + ".evil.example", "null"])
def test_cors_refuses_other_origins(api, origin):
    r = api.raw.options(REVEAL, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_openapi_documents_the_routes_and_docs_render(api):
    spec = api.raw.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in ("/v1/extension/reveal", "/v1/extension/list-and-crm", "/v1/credits/ledger", "/v1/estimates"):
        assert path in spec["paths"]
    errors = {name: r["content"] for name, r in spec["components"]["responses"].items() if "content" in r}
    assert errors and all(list(content) == ["application/problem+json"] for content in errors.values())
    ok = spec["paths"]["/v1/extension/reveal"]["post"]["responses"]["200"]["content"]
    assert list(ok) == ["application/json"]
    assert api.raw.get("/docs").status_code == 200
    assert api.raw.get("/healthz").status_code == 200


def test_openapi_documents_the_idempotency_key_on_every_post_and_the_replayed_header(api):
    """Both headers are served (api.md, README) but the served document named neither."""
    spec = api.raw.get("/openapi.json").json
    posts = {path: ops["post"] for path, ops in spec["paths"].items() if "post" in ops}
    assert "/v1/extension/reveal" in posts and "/v1/uploads" in posts
    for path, op in posts.items():
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        for code, answer in op["responses"].items():
            if code.startswith("2"):
                assert "Idempotent-Replayed" in answer.get("headers", {}), (path, code)


def test_api_tokens_are_stored_only_as_hashes(api, app):
    user = api.account()
    token = user.headers["Authorization"].split()[1]
    with app.extensions["store"].engine.connect() as conn:
        hashes = [r[0] for r in conn.exec_driver_sql("SELECT hash FROM api_keys")]
    assert token not in hashes and all(len(h) == 64 for h in hashes)


def test_api_tokens_are_not_kept_for_idempotent_replays_which_answer_without_them(api, app):
    """The stored answer of a retried account or user creation held the token in clear for 24 hours,
    and every replay showed it again."""
    account = {"name": "t", "admin_email": "a@t.example"}
    first = api.admin.post("/v1/admin/accounts", account, **{"Idempotency-Key": "acct-1"})
    path = f"/v1/admin/accounts/{first.json['id']}/users"
    user = api.admin.post(path, {"email": "m@t.example", "role": "member"}, **{"Idempotency-Key": "user-1"})
    tokens = [first.json["users"][0]["api_token"], user.json["api_token"]]
    with app.extensions["store"].engine.connect() as conn:
        stored = " ".join(r[0] for r in conn.exec_driver_sql("SELECT body FROM idempotency_keys"))
    assert not [t for t in tokens if t in stored]
    again = api.admin.post("/v1/admin/accounts", account, **{"Idempotency-Key": "acct-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"] and "api_token" not in again.json["users"][0]
    again = api.admin.post(path, {"email": "m@t.example", "role": "member"}, **{"Idempotency-Key": "user-1"})
    assert again.status_code == 201 and again.json["id"] == user.json["id"] and "api_token" not in again.json


def test_me_names_the_tokens_account_and_user(api):
    user = api.account()
    assert user.get("/v1/me").json["account_id"] == user.account_id
    assert api.raw.get("/v1/me").status_code == 401


def test_a_nul_character_is_a_422_not_a_server_error(api):
    user = api.account()
    r = user.post("/v1/lists", {"name": "a\u0000b"})
    assert r.status_code in (201, 422) and r.status_code != 500  # SQLite stores it; PostgreSQL refuses it
    r = user.post(REVEAL, {"linkedin_url": "https://www.linkedin.com/in/ab%00c"})
    assert r.status_code == 422 and "linkedin_url" in r.json["errors"]


def test_database_contention_that_outlasts_the_retries_is_a_503_to_retry(api, app, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    user = api.account()

    def locked(*args, **kwargs):
        raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr("backend.persistence.unit_of_work.time.sleep", lambda s: None)
    monkeypatch.setattr(app.extensions["store"].engine, "connect", locked)
    r = user.post("/v1/lists", {"name": "L"}, Origin=ORIGIN)
    assert r.status_code == 503 and r.json["code"] == "busy" and r.headers["Retry-After"] == "1"
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("path", ["/v1/uploads", "/v1/tracking/uploads"])
@pytest.mark.parametrize("key", [None, "multipart-1"])
def test_a_multipart_part_whose_name_cannot_be_read_is_a_422_not_a_500(api, path, key):
    """`name="\\"`, or no name, leaves werkzeug a part named None: sorting the parts for the
    Idempotency-Key digest, and the 422 naming the unknown fields, compared None with str (500s found
    by schemathesis)."""
    user = api.account()
    parts = [
        ('name="\\"', "x"),
        ('filename="y.csv"', "y"),  # a file part without a name
        ('name="enrich"', "true"),
        ('name="file"; filename="t.csv"', "linkedin_url\nhttps://www.linkedin.com/in/a\n"),
    ]
    body = (
        "".join(f"--b\r\nContent-Disposition: form-data; {d}\r\n\r\n{v}\r\n" for d, v in parts) + "--b--\r\n"
    )
    headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
    r = api.raw.post(
        path, data=body.encode(), headers=headers, content_type="multipart/form-data; boundary=b"
    )
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert user.balance() == {"email": 100, "phone": 10, "tracking": 5}


def test_openapi_documents_credit_amounts_in_requests_as_numbers_in_steps_of_half(api):
    """api.md: credit amounts are JSON numbers, multiples of 0.5; the served document gave a grant's
    amount no type at all (schemathesis sent strings and objects, nearly all refused)."""
    schemas = api.raw.get("/openapi.json").json["components"]["schemas"]
    for prop in (schemas["GrantRequest"]["properties"]["amount"], schemas["Grants"]["properties"]["email"]):
        assert prop["type"] == "number" and prop["multipleOf"] == 0.5 and prop["minimum"] == 0, prop
