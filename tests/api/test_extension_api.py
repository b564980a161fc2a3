"""The extension's contract through the Flask test client (R1–R6, R10–R13)."""

import pytest

from backend.persistence import unit_of_work


def person(url):
    return {"linkedin_url": url}


def charged(r, kind="email"):
    return r.json["credits"]["charged"][kind]


@pytest.fixture
def ext(api):
    urls = api.directory(5) + api.directory(1, start=5, email=False, phone=False)
    client = api.account()
    client.list_id = client.post("/v1/lists", {"name": "L"}).json["id"]
    client.connection_id = client.post(
        "/v1/crm/connections",
        {"kind": "webhook", "name": "hook", "config": {"url": "http://127.0.0.1:9/hook"}},
    ).json["id"]
    client.urls = urls
    return client


def test_r10_reveal_answers_data_and_why_it_cost_what_it_cost(ext):
    r = ext.post("/v1/extension/reveal", {**person(ext.urls[0]), "fields": ["email", "phone"]})
    assert r.status_code == 200
    assert r.json["person"]["email"] == "p0@co.example"
    assert r.json["credits"]["charged"] == {"email": 1, "phone": 1, "tracking": 0}
    assert r.json["credits"]["balance"] == {"email": 99, "phone": 9, "tracking": 5}
    assert r.json["credits"]["reasons"] == {"email": {"code": "charged"}, "phone": {"code": "charged"}}
    again = ext.post("/v1/extension/reveal", {**person(ext.urls[0]), "fields": ["email"]})
    assert again.json["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert "unlocked_at" in again.json["credits"]["reasons"]["email"]


def test_r4_no_phone_found_costs_no_phone_credit(ext):
    r = ext.post("/v1/extension/reveal", {**person(ext.urls[5]), "fields": ["phone"]})
    assert r.status_code == 200 and charged(r, "phone") == 0
    assert r.json["credits"]["reasons"]["phone"] == {"code": "not_found"}
    assert r.json["person"]["phone"] is None


def test_r4_a_blank_phone_in_the_directory_is_no_phone_found(api, ext):
    url = "https://www.linkedin.com/in/blank-phone"
    row = {"linkedin_url": url, "full_name": "  Blank  ", "title": " ", "company": None, "phone": "  "}
    assert api.admin.post("/v1/admin/directory", {"people": [row]}).status_code == 200
    r = ext.post("/v1/extension/reveal", {**person(url), "fields": ["phone"]})
    assert charged(r, "phone") == 0 and r.json["credits"]["reasons"]["phone"] == {"code": "not_found"}
    assert r.json["person"]["full_name"] == "Blank" and ext.balance()["phone"] == 10


def test_a_directory_re_import_leaving_out_email_and_phone_keeps_them(api, ext):
    """An operator refreshing names and titles must not erase the contact data reveals are paid for;
    an explicit null still clears a field."""
    url = ext.urls[2]
    refresh = {"linkedin_url": url, "full_name": "Person 2", "title": "CTO", "company": "Co"}
    assert api.admin.post("/v1/admin/directory", {"people": [refresh]}).json == {"created": 0, "updated": 1}
    r = ext.post("/v1/extension/reveal", {**person(url), "fields": ["email", "phone"]})
    assert (r.json["person"]["email"], r.json["person"]["phone"]) == ("p2@co.example", "+15550000002")
    api.admin.post(
        "/v1/admin/directory", {"people": [{**refresh, "linkedin_url": ext.urls[3], "phone": None}]}
    )
    r = ext.post("/v1/extension/reveal", {**person(ext.urls[3]), "fields": ["phone"]})
    assert r.json["credits"]["reasons"]["phone"] == {"code": "not_found"}


def test_r1_four_spellings_one_person_one_credit(ext):
    url = ext.urls[1]
    forms = [
        url,
        url.upper() + "/?trk=public_profile",
        url.replace("https://www.", "") + "/",
        url.replace("www.", "de.") + "/details/experience/",
    ]
    answers = [ext.post("/v1/extension/reveal", {**person(f), "fields": ["email"]}) for f in forms]
    assert [charged(a) for a in answers] == [1, 0, 0, 0]
    assert len({a.json["person"]["id"] for a in answers}) == 1
    assert ext.balance()["email"] == 99


def test_r2_teammate_sees_the_unlock_for_free(api, ext):
    ext.post("/v1/extension/reveal", person(ext.urls[0]))
    mate = api.teammate(ext)
    r = mate.post("/v1/extension/reveal", person(ext.urls[0]))
    assert charged(r) == 0 and r.json["person"]["email"] == "p0@co.example"
    assert "unlocked_by" in r.json["credits"]["reasons"]["email"]


def test_r12_list_then_crm_and_crm_then_list_cost_one_each(ext):
    a = ext.post(f"/v1/extension/lists/{ext.list_id}/leads", person(ext.urls[0]))
    b = ext.post("/v1/extension/crm-exports", {**person(ext.urls[0]), "connection_id": ext.connection_id})
    c = ext.post("/v1/extension/crm-exports", {**person(ext.urls[1]), "connection_id": ext.connection_id})
    d = ext.post(f"/v1/extension/lists/{ext.list_id}/leads", person(ext.urls[1]))
    assert [x.status_code for x in (a, b, c, d)] == [201, 202, 202, 201]
    assert [charged(x) for x in (a, b, c, d)] == [1, 0, 1, 0]
    assert b.json["delivery"]["status"] == "pending"
    again = ext.post(f"/v1/extension/lists/{ext.list_id}/leads", person(ext.urls[0]))
    assert again.status_code == 200 and charged(again) == 0
    assert ext.balance()["email"] == 98


def test_r12_list_and_crm_in_one_call_costs_one(ext):
    r = ext.post(
        "/v1/extension/list-and-crm",
        {**person(ext.urls[2]), "list_id": ext.list_id, "connection_id": ext.connection_id},
    )
    assert r.status_code == 202 and charged(r) == 1
    assert r.json["lead"]["email"] == "p2@co.example"
    assert len(ext.get(f"/v1/lists/{ext.list_id}/leads").json["leads"]) == 1
    assert len(ext.get("/v1/crm/deliveries").json["deliveries"]) == 1


def test_r12_a_lead_added_is_answered_as_its_list_shows_it(ext):
    added = ext.post(f"/v1/extension/lists/{ext.list_id}/leads", person(ext.urls[3]))
    [listed] = ext.get(f"/v1/lists/{ext.list_id}/leads").json["leads"]
    assert listed["full_name"] == "Person 3"
    assert added.json["lead"] == listed
    ext.post("/v1/extension/reveal", {**person(ext.urls[4]), "fields": ["phone"]})
    with_phone = ext.post(f"/v1/extension/lists/{ext.list_id}/leads", person(ext.urls[4]))
    assert with_phone.json["lead"]["phone"] == "+15550000004"  # held: the list shows it, so does the answer
    assert with_phone.json["lead"] in ext.get(f"/v1/lists/{ext.list_id}/leads").json["leads"]


def test_r13_enrollment_with_and_without_supplied_email(ext):
    seq = ext.post("/v1/sequences", {"name": "S"}).json["id"]
    a = ext.post(
        f"/v1/extension/sequences/{seq}/enrollments", {**person(ext.urls[0]), "email": "j@x.example"}
    )
    b = ext.post(f"/v1/extension/sequences/{seq}/enrollments", person(ext.urls[1]))
    assert (a.status_code, charged(a), a.json["credits"]["reasons"]["email"]["code"]) == (201, 0, "supplied")
    assert (b.status_code, charged(b), b.json["enrollment"]["email"]) == (201, 1, "p1@co.example")


def test_r13_an_empty_or_null_email_is_no_email_supplied(ext):
    seq = ext.post("/v1/sequences", {"name": "S"}).json["id"]
    path = f"/v1/extension/sequences/{seq}/enrollments"
    rs = [ext.post(path, {**person(ext.urls[i]), "email": e}) for i, e in ((0, None), (1, " "))]
    assert [(r.status_code, charged(r), r.json["enrollment"]["email"]) for r in rs] == [
        (201, 1, "p0@co.example"),
        (201, 1, "p1@co.example"),
    ]
    bad = ext.post(path, {**person(ext.urls[2]), "email": "not-an-email"})
    assert (bad.status_code, bad.json["code"]) == (422, "validation_error")


def test_r13_enrolling_someone_already_in_the_sequence_charges_nothing(ext):
    seq = ext.post("/v1/sequences", {"name": "S"}).json["id"]
    path = f"/v1/extension/sequences/{seq}/enrollments"
    first = ext.post(path, {**person(ext.urls[0]), "email": "j@x.example"})
    again = ext.post(path, person(ext.urls[0]))  # no email this time: the person is in the sequence already
    assert (again.status_code, charged(again)) == (200, 0)
    assert again.json["credits"]["reasons"]["email"] == {"code": "supplied"}
    assert again.json["enrollment"] == first.json["enrollment"]
    ext.post(path, person(ext.urls[1]))
    held = ext.post(path, person(ext.urls[1]))
    assert (held.status_code, charged(held)) == (200, 0)
    assert held.json["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert ext.balance()["email"] == 99  # the one enrollment that unlocked an email


def test_r5_insufficient_credits_is_402_naming_type_required_available(api):
    api.directory(1)
    poor = api.account(email=0)
    lid = poor.post("/v1/lists", {"name": "L"}).json["id"]
    r = poor.post(f"/v1/extension/lists/{lid}/leads", person("https://www.linkedin.com/in/person-0"))
    assert r.status_code == 402
    assert r.content_type.startswith("application/problem+json")
    assert {k: r.json[k] for k in ("code", "credit_type", "required", "available", "status")} == {
        "code": "insufficient_credits",
        "credit_type": "email",
        "required": 1,
        "available": 0,
        "status": 402,
    }
    assert poor.get(f"/v1/lists/{lid}/leads").json["leads"] == []


def test_r6_idempotency_key_replays_the_first_answer_and_charges_nothing(ext):
    body = {**person(ext.urls[3]), "list_id": ext.list_id, "connection_id": ext.connection_id}
    first = ext.post("/v1/extension/list-and-crm", body, **{"Idempotency-Key": "k-1"})
    replay = ext.post("/v1/extension/list-and-crm", body, **{"Idempotency-Key": "k-1"})
    assert (first.status_code, replay.status_code) == (202, 202)
    assert replay.json == first.json
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(ext.get("/v1/crm/deliveries").json["deliveries"]) == 1
    assert ext.balance()["email"] == 99
    other = ext.post(
        "/v1/extension/list-and-crm", {**body, "linkedin_url": ext.urls[4]}, **{"Idempotency-Key": "k-1"}
    )
    assert (other.status_code, other.json["code"]) == (422, "idempotency_conflict")


def test_r6_an_idempotency_key_past_200_characters_is_refused_not_cut(ext):
    """Cut to 200, two long keys sharing their first 200 characters would replay each other's answer."""
    long_a, long_b = "k" * 200 + "-a", "k" * 200 + "-b"
    a = ext.post("/v1/extension/reveal", person(ext.urls[0]), **{"Idempotency-Key": long_a})
    b = ext.post("/v1/extension/reveal", person(ext.urls[1]), **{"Idempotency-Key": long_b})
    assert [(r.status_code, r.json["code"]) for r in (a, b)] == [(422, "validation_error")] * 2
    assert "Idempotency-Key" in a.json["errors"] and ext.balance()["email"] == 100
    route = ext.post("/v1/extension/crm-exports", person(ext.urls[0]), **{"Idempotency-Key": "k-2"})
    other_route = ext.post("/v1/extension/reveal", person(ext.urls[0]), **{"Idempotency-Key": "k-2"})
    assert other_route.json["code"] == "idempotency_conflict" and "route" in other_route.json["detail"]
    assert route.status_code == 422


def test_r6_idempotency_keys_are_scoped_to_the_account(api, ext):
    other = api.account()
    a = ext.post("/v1/extension/reveal", person(ext.urls[0]), **{"Idempotency-Key": "same"})
    b = other.post("/v1/extension/reveal", person(ext.urls[0]), **{"Idempotency-Key": "same"})
    assert charged(a) == 1 and charged(b) == 1


def test_another_accounts_list_and_connection_are_404_and_charge_nothing(api, ext):
    intruder = api.account()
    rs = [
        intruder.get(f"/v1/lists/{ext.list_id}/leads"),
        intruder.post(f"/v1/extension/lists/{ext.list_id}/leads", person(ext.urls[0])),
        intruder.post(
            "/v1/extension/crm-exports", {**person(ext.urls[0]), "connection_id": ext.connection_id}
        ),
    ]
    assert [(r.status_code, r.json["code"]) for r in rs] == [(404, "not_found")] * 3
    assert intruder.balance()["email"] == 100


def test_r3_revealing_someone_the_team_holds_is_answered_without_a_write(app, ext, monkeypatch):
    ext.post("/v1/extension/reveal", {**person(ext.urls[0]), "fields": ["email", "phone"]})
    writes, real_run = [], unit_of_work.run

    def recording(store, fn, attempts=5, write=True, autocommit=False):
        writes.append(write)
        return real_run(store, fn, attempts, write, autocommit)

    monkeypatch.setattr(unit_of_work, "run", recording)  # every unit of work, Store.run's and Store.read's
    again = ext.post("/v1/extension/reveal", {**person(ext.urls[0]), "fields": ["email", "phone"]})
    assert again.json["credits"]["charged"] == {"email": 0, "phone": 0, "tracking": 0}
    assert again.json["person"]["phone"] == "+15550000000"
    if app.extensions["store"].writer is not None:  # SQLite: reads only, the write lock is never taken
        assert writes and not any(writes)
