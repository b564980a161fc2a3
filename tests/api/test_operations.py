"""api.md "Request ids" and "Operations", in-process: X-Request-ID, the JSON request log line,
/readyz against a database or queue made unreachable (through a local TCP proxy: the shared services
are never stopped), /metrics and its token, and logs that never hold a token, secret, email or phone."""

import logging
import re
import uuid

import pytest
from prometheus_client import REGISTRY
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from backend.app import create_app
from backend.jobs.deliveries import DeliverySender
from backend.persistence.db import make_engine
from tests.conftest import app_settings, make_api, redis_or_skip
from tests.tcp_proxy import TcpProxy

NEW_ID = re.compile(r"^[0-9a-f]{32}$")


def request_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "leadledger.request"]


def test_a_request_id_sent_in_is_echoed_logged_and_in_the_problem(api, caplog):
    caplog.set_level(logging.INFO)
    sent = "edge-7f3a:" + "x" * 118  # 128 printable characters, the longest kept
    r = api.raw.get("/v1/me", headers={"X-Request-ID": sent})
    assert r.status_code == 401
    assert r.headers["X-Request-ID"] == sent
    assert r.json["request_id"] == sent and r.headers["Content-Type"] == "application/problem+json"
    [line] = request_lines(caplog)
    assert line.request_id == sent and line.status == 401 and line.route == "/v1/me"


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "abc\x01def", "tab\there", "del\x7f", "caf\u00e9"],
    ids=["129", "ctl", "tab", "del", "utf8"],
)
def test_a_request_id_too_long_or_not_printable_ascii_is_replaced_not_echoed(sqlite_url, sent, caplog):
    caplog.set_level(logging.INFO)
    client = create_app(app_settings(sqlite_url)).test_client()
    r = client.get("/v1/me", headers={"X-Request-ID": sent})
    new = r.headers["X-Request-ID"]
    assert NEW_ID.match(new) and r.json["request_id"] == new
    [line] = request_lines(caplog)
    assert line.request_id == new


def test_without_a_request_id_every_answer_gets_its_own(api):
    ids = {api.raw.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(NEW_ID.match(i) for i in ids)


def test_the_request_line_names_the_route_template_status_duration_and_caller(api, caplog):
    user = api.account()
    list_id = user.post("/v1/lists", {"name": "L"}).json["id"]
    caplog.set_level(logging.INFO)
    assert user.get(f"/v1/lists/{list_id}/leads?limit=5").status_code == 200
    [line] = request_lines(caplog)
    assert line.route == "/v1/lists/<list_id>/leads" and line.method == "GET" and line.status == 200
    assert line.account_id == user.account_id and line.user_id
    assert line.duration_ms >= 0 and list_id not in line.getMessage()


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_credits_charged_and_402s(api):
    user = api.account(email=1, phone=0)
    urls = api.directory(2)
    reveals = dict(route="/v1/extension/reveal", method="POST", status="200")
    before = (
        sample("leadledger_http_requests_total", **reveals),
        sample("leadledger_credits_charged_total", credit_type="email", action="reveal"),
        sample("leadledger_insufficient_credits_total", route="/v1/extension/reveal", credit_type="email"),
    )
    assert user.post("/v1/extension/reveal", {"linkedin_url": urls[0]}).status_code == 200
    assert user.post("/v1/extension/reveal", {"linkedin_url": urls[0]}).status_code == 200  # held: free
    assert user.post("/v1/extension/reveal", {"linkedin_url": urls[1]}).status_code == 402
    after = (
        sample("leadledger_http_requests_total", **reveals),
        sample("leadledger_credits_charged_total", credit_type="email", action="reveal"),
        sample("leadledger_insufficient_credits_total", route="/v1/extension/reveal", credit_type="email"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]
    assert "leadledger_http_request_duration_seconds_bucket{" in api.raw.get("/metrics").text


def test_metrics_want_the_metrics_token_when_one_is_set_and_report_the_queue_depth(sqlite_url):
    app = create_app(app_settings(sqlite_url, metrics_token="m-token"))
    client, token = app.test_client(), {"Authorization": "Bearer m-token"}
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "leadledger_queue_depth 0.0" in client.get("/metrics", headers=token).text
    app.extensions["queue"].enqueue("a-job-nobody-runs")  # no consumer here: it waits
    assert "leadledger_queue_depth 1.0" in client.get("/metrics", headers=token).text
    assert client.get("/readyz").status_code == 200 and client.get("/healthz").status_code == 200


@pytest.fixture
def proxy():
    made = []

    def start(port):
        made.append(TcpProxy(port).start())
        return made[-1]

    yield start
    for p in made:
        if p.listener:
            p.cut()


def readiness(client):
    r = client.get("/readyz")
    return r.status_code, r.json["checks"]


def test_readyz_is_503_naming_the_database_while_postgresql_is_unreachable(pg_database, proxy):
    url = make_url(pg_database)
    through = proxy(url.port or 5432)
    app = create_app(app_settings(url.set(port=through.port).render_as_string(hide_password=False)))
    client = app.test_client()
    try:
        assert readiness(client) == (200, {"database": "ok", "queue": "ok"})
        through.cut()
        status, checks = readiness(client)
        assert status == 503 and checks["database"] != "ok" and checks["queue"] == "ok"
        assert client.get("/readyz").json["code"] == "not_ready"
        assert client.get("/healthz").status_code == 200  # alive all the same
        through.resume()
        assert readiness(client) == (200, {"database": "ok", "queue": "ok"})
    finally:
        app.extensions["store"].engine.dispose()


def test_readyz_is_503_naming_the_queue_while_redis_is_unreachable(sqlite_url, proxy):
    redis_port = make_url(redis_or_skip()).port or 6379
    through = proxy(redis_port)
    name = "ll-test-" + uuid.uuid4().hex[:8]
    settings = app_settings(sqlite_url, redis_url=f"redis://127.0.0.1:{through.port}/0", queue_name=name)
    client = create_app(settings).test_client()
    assert readiness(client) == (200, {"database": "ok", "queue": "ok"})
    through.cut()
    status, checks = readiness(client)
    assert status == 503 and checks["queue"] != "ok" and checks["database"] == "ok"
    assert "queue" in client.get("/readyz").json["detail"]
    through.resume()
    assert readiness(client) == (200, {"database": "ok", "queue": "ok"})


def test_a_failed_statement_never_shows_its_bound_values(db_url):
    engine = make_engine(db_url)
    try:
        with pytest.raises(DBAPIError) as failed, engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE email = :e"), {"e": "jane@secret.example"})
        assert "jane@secret.example" not in str(failed.value)
    finally:
        engine.dispose()


def test_logs_of_reveals_crm_connections_and_failures_hold_no_token_secret_email_or_phone(app, caplog):
    caplog.set_level(logging.DEBUG)
    api = make_api(app)
    user = api.account()
    token = user.headers["Authorization"].split()[1]
    body = {"linkedin_url": api.directory(1)[0], "fields": ["email", "phone"]}
    revealed = user.post("/v1/extension/reveal", body).json["person"]
    made = user.post(
        "/v1/crm/connections", {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}
    ).json
    user.post("/v1/crm/connections", {"kind": "hubspot", "name": "v", "config": {"access_token": "pat-xyz"}})
    user.post(
        "/v1/extension/crm-exports", {"linkedin_url": body["linkedin_url"], "connection_id": made["id"]}
    )
    assert DeliverySender(app.extensions["store"], app.config["SETTINGS"]).run_once() == 1  # refused: a retry
    api.raw.get("/v1/me?code=oauth-code-123", headers={"Authorization": "Bearer not-a-valid-token"})
    user.post("/v1/extension/reveal", {"linkedin_url": "https://example.com/jane@x.example"})
    user.post("/v1/lists", {"name": "\x00"})  # a value the database refuses
    secrets = [
        token,
        made["secret"],
        "pat-xyz",
        "not-a-valid-token",
        "oauth-code-123",
        revealed["email"],
        revealed["phone"],
        "jane@x.example",
        "a@t.example",
    ]
    formatter = JsonFormatter("%(levelname)s %(name)s %(message)s")
    logged = "\n".join(formatter.format(r) for r in caplog.records)
    assert len(request_lines(caplog)) >= 8 and "delivery attempt" in logged
    assert not [s for s in secrets if s in logged]


def test_a_job_run_and_a_delivery_attempt_each_log_one_line_and_count_their_outcome(sqlite_url, caplog):
    """api.md "Operations": per job and per CRM delivery attempt (the job runs inline here)."""
    app = create_app(app_settings(sqlite_url, queue_immediate=True))
    api = make_api(app)
    user = api.account()
    body = {
        "post_url": "https://www.linkedin.com/posts/x-1",
        "engagers": [{"linkedin_url": u, "full_name": "N", "engagement": "like"} for u in api.directory(3)],
        "destination": "csv",
    }
    hook = {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}  # nobody listens
    connection = user.post("/v1/crm/connections", hook).json["id"]
    jobs_before = sample("leadledger_jobs_total", kind="post_export", outcome="finished")
    retries_before = sample("leadledger_crm_delivery_attempts_total", kind="webhook", outcome="retry")
    caplog.set_level(logging.INFO)
    job_id = user.post("/v1/extension/post-exports", body).json["job"]["id"]
    export = {"linkedin_url": api.directory(1, start=3)[0], "connection_id": connection}
    delivery_id = user.post("/v1/extension/crm-exports", export).json["delivery"]["id"]
    assert DeliverySender(app.extensions["store"], app.config["SETTINGS"]).run_once() == 1
    [job] = [r for r in caplog.records if r.getMessage() == "job"]
    assert (job.job_id, job.kind, job.outcome) == (job_id, "post_export", "finished")
    [attempt] = [r for r in caplog.records if r.getMessage() == "delivery attempt"]
    assert (attempt.delivery_id, attempt.kind, attempt.attempt, attempt.outcome) == (
        delivery_id,
        "webhook",
        1,
        "retry",
    )
    assert sample("leadledger_jobs_total", kind="post_export", outcome="finished") == jobs_before + 1
    assert (
        sample("leadledger_crm_delivery_attempts_total", kind="webhook", outcome="retry")
        == retries_before + 1
    )
