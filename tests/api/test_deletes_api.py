"""api.md "Updating and deleting": lists, list leads, enrollments and saved searches are deleted with a
204, a second time 404, another account's 404; nothing is refunded and nothing is charged again (R3)."""

from backend.jobs.runner import run_job
from tests.api.test_uploads_api import upload
from tests.invariants import assert_ledger_invariants


def lead(user, list_id, url):
    return user.post(f"/v1/extension/lists/{list_id}/leads", {"linkedin_url": url})


def test_deleting_a_list_keeps_its_unlocks_and_a_second_delete_is_404(api, app):
    urls = api.directory(2)
    user, other = api.account(email=10), api.account()
    lid = user.post("/v1/lists", {"name": "l"}).json["id"]
    person_ids = [lead(user, lid, u).json["lead"]["person_id"] for u in urls]
    assert user.balance()["email"] == 8
    assert other.c.delete(f"/v1/lists/{lid}", headers=other.headers).status_code == 404
    r = user.c.delete(f"/v1/lists/{lid}", headers=user.headers)
    assert r.status_code == 204 and r.get_data() == b""
    again = user.c.delete(f"/v1/lists/{lid}", headers=user.headers)
    assert again.status_code == 404 and again.json["code"] == "not_found"
    assert user.get(f"/v1/lists/{lid}/leads").status_code == 404
    assert lid not in str(user.get("/v1/lists").json)
    assert user.balance()["email"] == 8  # nothing refunded
    lid2 = user.post("/v1/lists", {"name": "m"}).json["id"]
    for u in urls:
        r = lead(user, lid2, u)
        assert r.json["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert user.balance()["email"] == 8 and len(person_ids) == 2  # nothing charged again (R3)
    assert_ledger_invariants(app.extensions["store"])


def test_a_list_a_queued_job_writes_into_is_409_until_the_job_finished(api, app):
    urls = api.directory(2)
    user = api.account()
    lid = user.post("/v1/lists", {"name": "l"}).json["id"]
    body = {
        "post_url": "https://www.linkedin.com/posts/x-1",
        "engagers": [{"linkedin_url": u, "full_name": "N", "engagement": "like"} for u in urls],
        "destination": "list",
        "list_id": lid,
    }
    job = user.post("/v1/extension/post-exports", body).json["job"]  # queued: no worker in this app
    busy = user.c.delete(f"/v1/lists/{lid}", headers=user.headers)
    assert busy.status_code == 409 and busy.json["code"] == "list_in_use"
    assert len(user.get(f"/v1/lists/{lid}/leads").json["leads"]) == 0
    run_job(app.extensions["store"], app.config["SETTINGS"], job["id"])
    assert len(user.get(f"/v1/lists/{lid}/leads").json["leads"]) == 2
    assert user.c.delete(f"/v1/lists/{lid}", headers=user.headers).status_code == 204


def test_an_upload_into_a_list_holds_it_while_queued_and_cannot_be_confirmed_once_it_is_gone(api):
    user = api.account()
    lid = user.post("/v1/lists", {"name": "l"}).json["id"]
    first = upload(user, "email\na@x.example\n", enrich=True, list_id=lid)
    assert user.post(f"/v1/uploads/{first.json['id']}/confirm").status_code == 202
    assert user.c.delete(f"/v1/lists/{lid}", headers=user.headers).json["code"] == "list_in_use"
    other_list = user.post("/v1/lists", {"name": "m"}).json["id"]
    waiting = upload(user, "email\nb@x.example\n", enrich=True, list_id=other_list)
    assert user.c.delete(f"/v1/lists/{other_list}", headers=user.headers).status_code == 204
    before = user.balance()
    r = user.post(f"/v1/uploads/{waiting.json['id']}/confirm")
    assert r.status_code == 404 and user.balance() == before


def test_a_lead_an_enrollment_and_a_saved_search_are_deleted_once(api):
    url = api.directory(1)[0]
    user, other = api.account(), api.account()
    lid = user.post("/v1/lists", {"name": "l"}).json["id"]
    pid = lead(user, lid, url).json["lead"]["person_id"]
    seq = user.post("/v1/sequences", {"name": "s"}).json["id"]
    assert user.post(f"/v1/extension/sequences/{seq}/enrollments", {"person_id": pid}).status_code == 201
    saved = user.post("/v1/saved-searches", {"name": "s", "query": {"q": "x"}}).json["id"]
    user.post(f"/v1/saved-searches/{saved}/people", {"people": [{"person_id": pid}]})
    balance = user.balance()
    for path in (
        f"/v1/lists/{lid}/leads/{pid}",
        f"/v1/sequences/{seq}/enrollments/{pid}",
        f"/v1/saved-searches/{saved}",
    ):
        assert other.c.delete(path, headers=other.headers).status_code == 404, path
        assert user.c.delete(path, headers=user.headers).status_code == 204, path
        again = user.c.delete(path, headers=user.headers)
        assert again.status_code == 404 and again.json["code"] == "not_found", path
    assert user.get(f"/v1/lists/{lid}/leads").json["leads"] == []
    assert saved not in str(user.get("/v1/saved-searches").json)
    r = user.post(f"/v1/extension/sequences/{seq}/enrollments", {"person_id": pid})
    assert r.status_code == 201 and r.json["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert user.balance() == balance  # nothing refunded, nothing charged again
