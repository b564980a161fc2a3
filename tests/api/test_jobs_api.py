"""R14–R16 and R23 through the API with a real worker (huey consumer threads) on the embedded
queue and on Redis, on both database engines."""

import csv
import io
import time
import uuid

import pytest

from backend.app import create_app
from backend.jobs.queue import JobQueue
from backend.services import jobs, post_exports
from tests.conftest import app_settings, make_api, remove_queue_file
from tests.processes import free_port


def wait(client, job_id, limit=60):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        job = client.get(f"/v1/jobs/{job_id}").json
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {limit}s")


def engagers(urls, engagement="like"):
    return [
        {"linkedin_url": u, "full_name": f"Name {i}", "engagement": engagement} for i, u in enumerate(urls)
    ]


@pytest.fixture
def fifty(job_api):
    """45 people with an email, 5 without; an account that already revealed 10 of them."""
    urls = job_api.directory(45) + job_api.directory(5, start=45, email=False, phone=False)
    user = job_api.account(email=100)
    for u in urls[:10]:
        assert user.post("/v1/extension/reveal", {"linkedin_url": u}).status_code == 200
    user.list_id = user.post("/v1/lists", {"name": "post"}).json["id"]
    user.urls = urls
    return user


def export(user, urls, **kw):
    body = {
        "post_url": "https://www.linkedin.com/posts/x-123",
        "engagers": engagers(urls),
        "destination": "list",
        "list_id": user.list_id,
        **kw,
    }
    r = user.post("/v1/extension/post-exports", body)
    assert r.status_code == 202, r.json
    return wait(user, r.json["job"]["id"])


def test_r14_post_export_to_a_list_charges_one_credit_per_lead_pulled(fifty):
    job = export(fifty, fifty.urls)
    assert job["status"] == "succeeded" and job["progress"] == {"done": 50, "total": 50}
    assert job["result"]["counts"] == {"charged": 35, "already_unlocked": 10, "not_found": 5}
    assert job["credits"]["charged"]["email"] == 35
    assert fifty.balance()["email"] == 100 - 10 - 35
    assert len(fifty.get(f"/v1/lists/{fifty.list_id}/leads").json["leads"]) == 50
    statuses = {r["linkedin_url"]: r["status"] for r in job["result"]["results"]}
    assert statuses[fifty.urls[0]] == "already_unlocked" and statuses[fifty.urls[49]] == "not_found"


def test_r14_duplicate_engagers_are_folded_and_charged_once(fifty):
    spelled_twice = fifty.urls[10:12] + [fifty.urls[10].upper() + "/?trk=x"]
    job = export(fifty, spelled_twice)
    assert job["progress"]["total"] == 2 and job["credits"]["charged"]["email"] == 2


def test_r14_post_export_to_csv_is_free_and_holds_no_emails(fifty):
    body = {
        "post_url": "https://www.linkedin.com/posts/x-123",
        "engagers": engagers(fifty.urls[10:20], "comment"),
        "destination": "csv",
        "list_id": None,  # what a client with no list selected sends
    }
    job = wait(fifty, fifty.post("/v1/extension/post-exports", body).json["job"]["id"])
    assert job["status"] == "succeeded" and job["credits"]["charged"]["email"] == 0
    assert fifty.balance()["email"] == 90
    r = fifty.get(f"/v1/jobs/{job['id']}/download")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 10 and set(rows[0]) == {"full_name", "linkedin_url", "engagement", "post_url"}
    assert rows[0]["engagement"] == "comment" and "@" not in r.get_data(as_text=True)


def test_r23_insufficient_credits_fails_the_job_and_charges_nothing(job_api):
    urls = job_api.directory(30)
    poor = job_api.account(email=20)
    poor.list_id = poor.post("/v1/lists", {"name": "L"}).json["id"]
    job = export(poor, urls)
    assert job["status"] == "failed" and job["error"]["code"] == "insufficient_credits"
    assert (job["error"]["required"], job["error"]["available"]) == (30, 20)
    assert poor.balance()["email"] == 20
    assert poor.get(f"/v1/lists/{poor.list_id}/leads").json["leads"] == []


def test_r23_a_job_failing_midway_releases_the_rest_and_still_reports_what_it_charged(job_api, monkeypatch):
    urls = job_api.directory(30)  # two chunks of 20 and 10
    user = job_api.account(email=100)
    user.list_id = user.post("/v1/lists", {"name": "L"}).json["id"]
    add_many, calls = post_exports.lists.add_many, []

    def add_then_break(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the second chunk breaks")
        return add_many(*args)

    monkeypatch.setattr(post_exports.lists, "add_many", add_then_break)
    job = export(user, urls)
    assert job["status"] == "failed" and job["error"]["code"] == "internal_error"
    assert job["credits"]["charged"]["email"] == 20 and user.balance()["email"] == 80
    assert job["result"]["counts"] == {"charged": 20}
    assert [r["linkedin_url"] for r in job["result"]["results"]] == urls[:20]


def test_r23_allow_partial_charges_up_to_the_balance_and_skips_the_rest(job_api):
    urls = job_api.directory(30)
    poor = job_api.account(email=20)
    poor.list_id = poor.post("/v1/lists", {"name": "L"}).json["id"]
    job = export(poor, urls, allow_partial=True)
    assert job["status"] == "succeeded"
    assert job["result"]["counts"] == {"charged": 20, "skipped": 10}
    assert [r["status"] for r in job["result"]["results"]][19:21] == ["charged", "skipped"]
    assert poor.balance()["email"] == 0
    assert len(poor.get(f"/v1/lists/{poor.list_id}/leads").json["leads"]) == 20


def test_r23_allow_partial_charges_in_the_posts_order_and_skips_the_last(job_api):
    urls = job_api.directory(12)  # person-0 … person-11: not the order their URLs sort in
    poor = job_api.account(email=10)
    poor.list_id = poor.post("/v1/lists", {"name": "L"}).json["id"]
    job = export(poor, urls, allow_partial=True)
    statuses = {r["linkedin_url"]: r["status"] for r in job["result"]["results"]}
    assert [statuses[u] for u in urls] == ["charged"] * 10 + ["skipped"] * 2


@pytest.fixture(params=["one page", "pages of 7"])
def sizing_pages(request, monkeypatch):
    """R26's sizing reads a job's items a page at a time (jobs.SIZING_PAGE): every page counts."""
    if request.param == "pages of 7":
        monkeypatch.setattr(jobs, "SIZING_PAGE", 7)


def test_r23_r26_ledger_shows_an_exact_reservation_and_its_charges_summing_to_the_balance(
    fifty, sizing_pages
):
    export(fifty, fifty.urls)
    entries = fifty.get("/v1/credits/ledger?credit_type=email&limit=500").json["entries"]
    by_action = {e["action"]: e for e in entries}
    assert {"post_export_reserve", "post_export"} <= by_action.keys()
    assert sum(e["amount"] for e in entries) == fifty.balance()["email"]
    charges = [e for e in entries if e["action"] == "post_export"]
    assert len(charges) == 35 and all(e["person_id"] for e in charges)
    # R26: the lookup came first, so the reservation was what was found: nothing left to release
    assert by_action["post_export_reserve"]["amount"] == -35 and "post_export_release" not in by_action


def test_r15_r16_list_export_charges_per_lead_not_yet_unlocked_and_twice_is_free(job_api, sizing_pages):
    urls = job_api.directory(6) + job_api.directory(2, start=6, email=True, phone=False)
    user = job_api.account(email=100, phone=10)
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    for u in urls:
        user.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": u})  # 8 email credits
    user.post("/v1/extension/reveal", {"linkedin_url": urls[0], "fields": ["phone"]})  # 1 phone
    job = wait(user, user.post(f"/v1/lists/{lid}/exports", {"include_phone": True}).json["job"]["id"])
    assert job["status"] == "succeeded"
    assert job["credits"]["charged"] == {"email": 0, "phone": 5, "tracking": 0}
    assert user.balance() == {"email": 92, "phone": 4, "tracking": 5}
    rows = list(
        csv.DictReader(io.StringIO(user.get(f"/v1/jobs/{job['id']}/download").get_data(as_text=True)))
    )
    assert len(rows) == 8 and all(r["email"] for r in rows)
    assert sum(1 for r in rows if r["phone"]) == 6
    again = wait(user, user.post(f"/v1/lists/{lid}/exports", {"include_phone": True}).json["job"]["id"])
    assert again["credits"]["charged"] == {"email": 0, "phone": 0, "tracking": 0}
    assert user.get(f"/v1/jobs/{job['id']}/download").status_code == 200
    assert user.balance() == {"email": 92, "phone": 4, "tracking": 5}


@pytest.mark.parametrize("phones, outcome", [(10, "succeeded"), (5, "failed")])
def test_r26_a_list_export_is_sized_by_what_it_finds_not_by_every_lead(job_api, phones, outcome):
    """11 leads, 6 with a phone, emails already held: 10 phone credits pay for it (6 charged); 5 do
    not, and the export is refused whole naming the 6 it needs, not the 11 an estimate shows."""
    urls = job_api.directory(6) + job_api.directory(5, start=6, phone=False)
    user = job_api.account(email=100, phone=phones)
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    for u in urls:
        assert user.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": u}).status_code == 201
    people = [{"linkedin_url": u} for u in urls]
    estimate = user.post("/v1/estimates", {"action": "list_export", "include_phone": True, "people": people})
    assert estimate.json["max"]["phone"] == 11  # the estimate stays the maximum
    job = wait(user, user.post(f"/v1/lists/{lid}/exports", {"include_phone": True}).json["job"]["id"])
    assert job["status"] == outcome
    if outcome == "succeeded":
        assert job["credits"]["charged"]["phone"] == 6 and user.balance()["phone"] == 4
        assert job["result"]["counts"] == {"already_unlocked": 11}
    else:
        assert job["error"]["code"] == "insufficient_credits"
        assert (job["error"]["credit_type"], job["error"]["required"]) == ("phone", 6)
        assert user.balance()["phone"] == 5
        ledger = user.get("/v1/credits/ledger?credit_type=phone").json["entries"]
        assert [e["action"] for e in ledger] == ["grant"]


def test_r26_a_post_export_to_a_list_needs_credits_only_for_the_emails_it_finds(job_api):
    urls = job_api.directory(4) + job_api.directory(8, start=4, email=False, phone=False)
    poor = job_api.account(email=4)
    poor.list_id = poor.post("/v1/lists", {"name": "L"}).json["id"]
    job = export(poor, urls)
    assert job["status"] == "succeeded"
    assert job["result"]["counts"] == {"charged": 4, "not_found": 8}
    assert poor.balance()["email"] == 0


def test_r15_list_export_charges_leads_whose_email_was_not_found_when_added(job_api):
    urls = job_api.directory(3, email=False, phone=False)
    user = job_api.account(email=10)
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    for u in urls:
        assert (
            user.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": u}).json["credits"]["charged"][
                "email"
            ]
            == 0
        )
    job_api.directory(2, email=True, phone=False)  # the source now knows two of them
    job = wait(user, user.post(f"/v1/lists/{lid}/exports", {}).json["job"]["id"])
    assert job["credits"]["charged"]["email"] == 2
    assert job["result"]["counts"] == {"charged": 2, "not_found": 1}
    assert user.balance()["email"] == 8


def test_csv_cells_that_look_like_formulas_are_neutralised(job_api):
    job_api.admin.post(
        "/v1/admin/directory",
        {
            "people": [
                {
                    "linkedin_url": "https://www.linkedin.com/in/evil",
                    "full_name": '=HYPERLINK("http://x")',
                    "title": "+cmd",
                    "company": "@SUM(A1)",
                    "email": "evil@x.example",
                }
            ]
        },
    )
    user = job_api.account()
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    user.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": "linkedin.com/in/evil"})
    job = wait(user, user.post(f"/v1/lists/{lid}/exports", {}).json["job"]["id"])
    row = next(csv.DictReader(io.StringIO(user.get(f"/v1/jobs/{job['id']}/download").get_data(as_text=True))))
    assert row["full_name"].startswith("'=") and row["title"] == "'+cmd" and row["company"] == "'@SUM(A1)"


def test_bad_post_exports_are_refused_up_front_and_create_no_job(job_api):
    user = job_api.account()
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    base = {"post_url": "https://www.linkedin.com/posts/x", "destination": "list", "list_id": lid}
    bad_url = engagers(["https://www.linkedin.com/in/ok", "https://www.linkedin.com/company/nope"])
    r = user.post("/v1/extension/post-exports", {**base, "engagers": bad_url})
    assert r.status_code == 422 and "1" in r.json["errors"]["engagers"]
    too_many = engagers([f"https://www.linkedin.com/in/p{i}" for i in range(10_001)])
    r = user.post("/v1/extension/post-exports", {**base, "engagers": too_many})
    assert r.status_code == 422 and "10000" in str(r.json["errors"]["engagers"])
    r = user.post(
        "/v1/extension/post-exports", {**base, "list_id": "nope", "engagers": engagers(["linkedin.com/in/a"])}
    )
    assert r.status_code == 404
    r = user.post(
        "/v1/extension/post-exports", {**base, "list_id": None, "engagers": engagers(["linkedin.com/in/a"])}
    )
    assert r.status_code == 422
    assert job_api.account().post(f"/v1/lists/{lid}/exports", {}).status_code == 404


def test_jobs_of_another_account_are_404(fifty, job_api):
    job = export(fifty, fifty.urls[:2])
    other = job_api.account()
    assert other.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_r23_a_partial_list_export_keeps_or_skips_each_lead_whole(job_api):
    urls = job_api.directory(3, email=False, phone=True)  # added to the list free (no email found)
    user = job_api.account(email=1, phone=10)
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    for u in urls:
        user.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": u})
    job_api.directory(3, email=True, phone=True)  # now the source has their emails too
    job = wait(
        user,
        user.post(f"/v1/lists/{lid}/exports", {"include_phone": True, "allow_partial": True}).json["job"][
            "id"
        ],
    )
    assert job["status"] == "succeeded"
    assert job["result"]["counts"] == {"charged": 1, "skipped": 2}
    assert job["credits"]["charged"] == {"email": 1, "phone": 1, "tracking": 0}
    assert user.balance() == {"email": 0, "phone": 9, "tracking": 5}
    rows = list(
        csv.DictReader(io.StringIO(user.get(f"/v1/jobs/{job['id']}/download").get_data(as_text=True)))
    )
    assert sum(1 for r in rows if r["email"]) == 1 and sum(1 for r in rows if r["phone"]) == 1


def test_a_name_one_account_sends_is_never_shown_to_another(job_api):
    a, b = job_api.account(), job_api.account()
    a.list_id = a.post("/v1/lists", {"name": "L"}).json["id"]
    url = "https://www.linkedin.com/in/stranger-x"  # unknown to the directory: only the caller names it
    body = {
        "post_url": "https://www.linkedin.com/posts/x",
        "destination": "list",
        "list_id": a.list_id,
        "engagers": [{"linkedin_url": url, "full_name": "A's private note", "engagement": "like"}],
    }
    wait(a, a.post("/v1/extension/post-exports", body).json["job"]["id"])
    b_list = b.post("/v1/lists", {"name": "L"}).json["id"]
    lead = b.post(f"/v1/extension/lists/{b_list}/leads", {"linkedin_url": url}).json["lead"]
    reveal = b.post("/v1/extension/reveal", {"linkedin_url": url}).json["person"]
    assert "A's private note" not in str(lead) + str(reveal)


def test_a_job_whose_enqueue_fails_is_accepted_and_run_by_the_next_recovery(db_url):
    """Redis down when the job is queued: the row is committed, so the answer is 202 (a 500 would free
    the Idempotency-Key and the client's retry would make a second job); the worker's recovery runs it."""
    name = "ll-test-" + uuid.uuid4().hex[:8]
    down = app_settings(db_url, redis_url=f"redis://127.0.0.1:{free_port()}/0", queue_name=name)
    app = create_app(down)
    try:
        api = make_api(app)
        user = api.account()
        body = {
            "post_url": "https://www.linkedin.com/posts/x-1",
            "engagers": engagers(api.directory(3)),
            "destination": "csv",
        }
        r = user.post("/v1/extension/post-exports", body, **{"Idempotency-Key": "once"})
        assert r.status_code == 202, r.json
        again = user.post("/v1/extension/post-exports", body, **{"Idempotency-Key": "once"})
        assert again.json["job"]["id"] == r.json["job"]["id"]
        job_id = r.json["job"]["id"]
        assert user.get(f"/v1/jobs/{job_id}").json["status"] == "queued"
        up = app_settings(db_url, queue_name=name, queue_immediate=True)
        assert JobQueue(app.extensions["store"], up).recover() == 1
        assert user.get(f"/v1/jobs/{job_id}").json["status"] == "succeeded"
    finally:
        remove_queue_file(app_settings(db_url, queue_name=name))
        app.extensions["store"].engine.dispose()
