"""R27 through the API on both engines: an erased person's data leaves every account, answer, CSV and
stored delivery; balances still add up; nothing brings them back or charges for them again."""

import warnings

import pytest
from sqlalchemy import MetaData, select

from backend.jobs.runner import run_job
from tests.api.test_uploads_api import upload
from tests.invariants import assert_ledger_invariants

URL = "https://www.linkedin.com/in/person-0"
EMAIL = "p0@co.example"
TRACES = ("person-0", "p0@co.example", "Person 0", "+15550000000")


def finish_job(app, client, job_id):
    """Run a queued job here (no worker in the `app` fixture), then answer it as its owner sees it."""
    run_job(app.extensions["store"], app.config["SETTINGS"], job_id)
    return client.get(f"/v1/jobs/{job_id}").json


def every_stored_text(store) -> str:
    """Every row of every table, as text: where a value of the person would still be found."""
    meta = MetaData()
    with warnings.catch_warnings():  # an expression index (lower(value)) is not reflected: no matter here
        warnings.simplefilter("ignore")
        meta.reflect(store.engine)
    with store.engine.connect() as conn:
        return "\n".join(str(tuple(row)) for t in meta.sorted_tables for row in conn.execute(select(t)))


@pytest.fixture
def three(api, app):
    """Person 0 in three accounts' lists; account a has a finished list export of it, b a pending CRM
    delivery and an idempotent reveal stored, c tracks them and holds their phone."""
    api.directory(3)
    a, b, c = api.account(), api.account(), api.account()
    for user in (a, b, c):
        user.list_id = user.post("/v1/lists", {"name": "l"}).json["id"]
        r = user.post(f"/v1/extension/lists/{user.list_id}/leads", {"linkedin_url": URL})
        assert r.status_code == 201 and r.json["lead"]["email"] == EMAIL
    job_id = a.post(f"/v1/lists/{a.list_id}/exports", {"include_phone": True}).json["job"]["id"]
    a.job = finish_job(app, a, job_id)
    assert a.job["status"] == "succeeded" and EMAIL in a.get(f"/v1/jobs/{job_id}/download").get_data(
        as_text=True
    )
    hook = b.post(
        "/v1/crm/connections", {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}
    )
    r = b.post("/v1/extension/crm-exports", {"linkedin_url": URL, "connection_id": hook.json["id"]})
    assert r.status_code == 202 and r.json["delivery"]["status"] == "pending"
    b.delivery_id = r.json["delivery"]["id"]
    b.connection_id = hook.json["id"]
    r = b.post(
        "/v1/extension/reveal", {"linkedin_url": URL, "fields": ["email"]}, **{"Idempotency-Key": "k1"}
    )
    assert r.json["person"]["email"] == EMAIL
    assert c.post("/v1/tracking", {"people": [{"linkedin_url": URL}]}).json["tracked"] == 1
    assert c.post("/v1/extension/reveal", {"linkedin_url": URL, "fields": ["phone"]}).status_code == 200
    saved = c.post("/v1/saved-searches", {"name": "s", "query": {"q": "x"}}).json["id"]
    c.post(f"/v1/saved-searches/{saved}/people", {"people": [{"linkedin_url": URL}]})
    return a, b, c


def test_r27_erasure_removes_the_person_everywhere_and_keeps_the_ledger(api, app, three):
    a, b, c = three
    store = app.extensions["store"]
    person_id = a.get(f"/v1/lists/{a.list_id}/leads").json["leads"][0]["person_id"]
    before = {u.account_id: u.balance() for u in three}
    r = api.admin.post("/v1/admin/erasures", {"linkedin_url": "linkedin.com/in/PERSON-0/"})
    assert r.status_code == 200, r.json
    assert r.json["person_ids"] == [person_id] and r.json["already_erased"] is False
    assert (r.json["unlocks_cleared"], r.json["list_leads_removed"], r.json["deliveries_cancelled"]) == (
        5,  # a: email and phone (its export), b: email, c: email and phone
        3,
        1,
    )
    assert r.json["suppressed"] == 2  # the URL and the email

    for user in three:
        after = user.balance()
        for t in ("email", "phone"):
            assert after[t] == before[user.account_id][t]  # nothing refunded
        assert user.get(f"/v1/lists/{user.list_id}/leads").json["leads"] == []
    assert c.balance()["tracking"] == before[c.account_id]["tracking"] + 1  # the hold is released
    assert URL not in str(c.get("/v1/tracking").json)
    assert_ledger_invariants(store)
    csv_text = a.get(f"/v1/jobs/{a.job['id']}/download").get_data(as_text=True)
    deliveries = b.get("/v1/crm/deliveries").json["deliveries"]
    assert [d["status"] for d in deliveries if d["id"] == b.delivery_id] == ["cancelled"]
    answers = [
        csv_text,
        str(a.get(f"/v1/jobs/{a.job['id']}").json),
        str(c.get("/v1/search/people?q=Person").json),
        str(c.get("/v1/notifications").json),
        str(a.get("/v1/credits/ledger").json),
    ]
    stored = every_stored_text(store)
    for trace in TRACES:
        assert not any(trace in text for text in answers), trace
        assert trace not in stored, trace
    assert person_id in str(a.get("/v1/credits/ledger").json)  # the ledger keeps the opaque id only


def test_r27_nothing_brings_an_erased_person_back_or_charges_for_them(api, app, three):
    a, b, c = three
    api.admin.post("/v1/admin/erasures", {"email": EMAIL.upper()})
    before, b_before = a.balance(), b.balance()
    person = {"linkedin_url": URL, "full_name": "Person 0", "title": "T", "company": "Co", "email": EMAIL}
    r = api.admin.post("/v1/admin/directory", {"people": [person, {**person, "linkedin_url": URL + "-x"}]})
    assert r.json == {"created": 0, "updated": 0}  # the URL, and the email under another URL
    up = upload(a, f"linkedin_url,email\n{URL},\n,{EMAIL}\nlinkedin.com/in/someone-else,\n")
    assert up.status_code == 201 and up.json["rows"] == 1
    for path, body in [
        ("/v1/extension/reveal", {"linkedin_url": URL, "fields": ["email", "phone"]}),
        ("/v1/search/reveal", {"linkedin_url": URL, "fields": ["email"]}),
        (f"/v1/extension/lists/{a.list_id}/leads", {"linkedin_url": URL}),
    ]:
        refused = a.post(path, body)
        assert refused.status_code == 404 and refused.json["code"] == "not_found", path
    refused = b.post("/v1/extension/crm-exports", {"linkedin_url": URL, "connection_id": b.connection_id})
    assert (
        refused.status_code == 404
        and b.get("/v1/crm/deliveries").json["deliveries"][0]["status"] == "cancelled"
    )
    assert a.post("/v1/tracking", {"people": [{"linkedin_url": URL}]}).json["tracked"] == 0
    seq = a.post("/v1/sequences", {"name": "s"}).json["id"]
    other = "https://www.linkedin.com/in/person-1"
    r = a.post(f"/v1/extension/sequences/{seq}/enrollments", {"linkedin_url": other, "email": EMAIL})
    assert r.status_code == 404  # an erased email is never stored again, whoever it is given for
    r = a.post(f"/v1/sequences/{seq}/enrollments", {"people": [{"linkedin_url": URL}]})
    assert r.status_code == 201 and URL not in str(r.json)
    body = {
        "post_url": "https://www.linkedin.com/posts/x-1",
        "engagers": [{"linkedin_url": URL, "full_name": "Person 0", "engagement": "like"}],
        "destination": "csv",
    }
    job = a.post("/v1/extension/post-exports", body).json["job"]
    assert job["progress"]["total"] == 0
    assert a.balance() == before and b.balance()["email"] == b_before["email"]
    stored = every_stored_text(app.extensions["store"])
    assert "person-0" not in stored.replace("person-0-", "") and EMAIL not in stored


def test_r27_the_same_erasure_again_answers_already_erased_with_zero_counts(api, three):
    first = api.admin.post("/v1/admin/erasures", {"linkedin_url": URL, "email": EMAIL}).json
    again = api.admin.post("/v1/admin/erasures", {"linkedin_url": URL, "email": EMAIL})
    assert again.status_code == 200
    assert again.json == {
        "person_ids": first["person_ids"],
        "unlocks_cleared": 0,
        "list_leads_removed": 0,
        "deliveries_cancelled": 0,
        "suppressed": 0,
        "already_erased": True,
    }


def test_r27_erasures_are_listed_newest_first_by_cursor_without_the_values(api):
    api.directory(3)
    ids = [
        api.admin.post("/v1/admin/erasures", {"email": f"p{i}@co.example"}).json["person_ids"]
        for i in range(3)
    ]
    seen, cursor = [], None
    for _ in range(5):
        page = api.admin.get("/v1/admin/erasures?limit=2" + (f"&cursor={cursor}" if cursor else "")).json
        seen += page["erasures"]
        assert "co.example" not in str(page) and "linkedin" not in str(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["person_ids"] for e in seen] == ids[::-1] and len({e["id"] for e in seen}) == 3
    assert api.admin.get("/v1/admin/erasures?cursor=Zm9yZ2Vk").status_code == 422
    assert api.admin.get("/v1/admin/erasures?limit=0").status_code == 422
    assert api.account().get("/v1/admin/erasures").status_code == 401


@pytest.mark.parametrize(
    "body", [{}, {"email": "not-an-email"}, {"linkedin_url": "https://example.com/x"}, {"email": None}]
)
def test_r27_an_erasure_naming_nobody_properly_is_422(api, body):
    r = api.admin.post("/v1/admin/erasures", body)
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert api.admin.get("/v1/admin/erasures").json["erasures"] == []


def test_r27_an_upload_waiting_for_confirmation_loses_the_erased_rows(api, app):
    api.directory(2)
    user = api.account()
    up = upload(user, f"linkedin_url\n{URL}\nhttps://www.linkedin.com/in/person-1\n", enrich=True)
    assert up.json["rows"] == 2
    api.admin.post("/v1/admin/erasures", {"linkedin_url": URL})
    job = user.post(f"/v1/uploads/{up.json['id']}/confirm").json["job"]
    assert job["progress"]["total"] == 1
    done = finish_job(app, user, job["id"])
    assert "person-0" not in user.get(f"/v1/jobs/{job['id']}/download").get_data(as_text=True)
    assert done["credits"]["charged"]["email"] == 0.5  # person 1's enrichment only
    assert done["progress"] == {"done": 1, "total": 1}


def test_r27_only_records_naming_the_person_go_not_ones_naming_a_longer_address(api):
    api.directory(1)
    other = {"linkedin_url": "linkedin.com/in/other", "full_name": "O", "title": None, "company": None}
    api.admin.post("/v1/admin/directory", {"people": [{**other, "email": "x" + EMAIL}]})
    user = api.account()
    body = {"linkedin_url": "linkedin.com/in/other", "fields": ["email"]}
    assert (
        user.post("/v1/extension/reveal", body, **{"Idempotency-Key": "kept"}).json["person"]["email"]
        == "x" + EMAIL
    )
    user.post(
        "/v1/extension/reveal", {"linkedin_url": URL, "fields": ["email"]}, **{"Idempotency-Key": "gone"}
    )
    api.admin.post("/v1/admin/erasures", {"email": EMAIL})
    kept = user.post("/v1/extension/reveal", body, **{"Idempotency-Key": "kept"})
    assert kept.headers.get("Idempotent-Replayed") == "true" and kept.json["person"]["email"] == "x" + EMAIL
    gone = user.post(
        "/v1/extension/reveal", {"linkedin_url": URL, "fields": ["email"]}, **{"Idempotency-Key": "gone"}
    )
    assert gone.status_code == 404 and "Idempotent-Replayed" not in gone.headers
