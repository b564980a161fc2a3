"""The searcher's contract through the Flask test client (R7–R9, with R1–R6 where the searcher meets them)."""

import pytest

URL = "https://www.linkedin.com/in/person-{}"
NOBODY = "https://www.linkedin.com/in/not-in-the-directory"


def people(*urls):
    return {"people": [{"linkedin_url": u} for u in urls]}


def search(client, **args):
    r = client.c.get("/v1/search/people", query_string=args, headers=client.headers)
    assert r.status_code == 200, r.json
    return r.json


def by_url(page):
    return {p["linkedin_url"]: p for p in page["people"]}


def ledger_actions(client):
    return [e["action"] for e in client.get("/v1/credits/ledger").json["entries"] if e["amount"] < 0]


@pytest.fixture
def searcher(api):
    """An account with 100 email / 10 phone credits; the directory has person-0..4 with email and
    phone and person-5 with neither."""
    client = api.account()
    client.urls = api.directory(5) + api.directory(1, start=5, email=False, phone=False)
    client.seq = client.post("/v1/sequences", {"name": "S"}).json["id"]
    return client


def test_r7_search_never_shows_unrevealed_contact_data(searcher):
    found = by_url(search(searcher))
    assert len(found) == 6
    for url in searcher.urls:
        assert found[url]["email"] is None and found[url]["phone"] is None
    assert (found[URL.format(0)]["has_email"], found[URL.format(0)]["has_phone"]) == (True, True)
    assert (found[URL.format(5)]["has_email"], found[URL.format(5)]["has_phone"]) == (False, False)
    assert found[URL.format(0)]["person_id"] is None  # nobody acted on this person yet
    assert searcher.balance() == {"email": 100, "phone": 10, "tracking": 5}


def test_r2_r7_search_shows_what_the_account_revealed_to_teammates_and_no_other_account(api, searcher):
    r = searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(0), "fields": ["email", "phone"]})
    searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(1), "fields": ["email"]})
    mine, mate, other = (by_url(search(c)) for c in (searcher, api.teammate(searcher), api.account()))
    for seen in (mine, mate):
        assert seen[URL.format(0)]["person_id"] == r.json["person"]["id"]
        assert (seen[URL.format(0)]["email"], seen[URL.format(0)]["phone"]) == (
            "p0@co.example",
            "+15550000000",
        )
        assert (seen[URL.format(1)]["email"], seen[URL.format(1)]["phone"]) == ("p1@co.example", None)
    assert all(p["email"] is None and p["phone"] is None for p in other.values())
    assert (
        other[URL.format(0)]["person_id"] == r.json["person"]["id"]
    )  # the person is shared, the unlock is not


def test_r8_adding_to_a_saved_search_reveals_nothing_to_the_search(searcher):
    sid = searcher.post("/v1/saved-searches", {"name": "N", "query": {}}).json["id"]
    searcher.post(f"/v1/saved-searches/{sid}/people", people(URL.format(2)))
    row = by_url(search(searcher))[URL.format(2)]
    assert row["person_id"] and row["email"] is None and row["phone"] is None


def test_search_free_text_and_filters_are_case_insensitive_and_wildcards_literal(api):
    rows = [
        ("ada", "Ada Lovelace", "CTO", "Analytical Engines"),
        ("grace", "Grace Hopper", "Rear Admiral", "US Navy"),
        ("alan", "Alan Turing", "Researcher", "Bletchley Park"),
        ("pct", "Percent Person", "100% Growth", "Under_Score Ltd"),
        ("plain", "Plain Person", "1000 Growth", "UnderXScore Ltd"),
    ]
    directory = [
        {
            "linkedin_url": URL.format(k),
            "full_name": n,
            "title": t,
            "company": c,
            "email": None,
            "phone": None,
        }
        for k, n, t, c in rows
    ]
    assert api.admin.post("/v1/admin/directory", {"people": directory}).status_code == 200
    client = api.account()

    def names(**args):
        return sorted(p["full_name"] for p in search(client, **args)["people"])

    assert names(q="ADA") == ["Ada Lovelace"]  # name, any case
    assert names(q="engines") == ["Ada Lovelace"]  # company
    assert names(q="research") == ["Alan Turing"]  # title
    assert names(title="cto") == ["Ada Lovelace"]
    assert names(company="navy") == ["Grace Hopper"]
    assert names(q="person", company="ltd", title="growth") == ["Percent Person", "Plain Person"]
    assert names(q="person", title="100%") == ["Percent Person"]  # % is literal, not "anything"
    assert names(company="under_score") == ["Percent Person"]  # _ is literal, not "any one character"
    assert names(q="nobody here") == []


def test_search_is_case_insensitive_beyond_ascii(api):
    person = {"linkedin_url": URL.format("e"), "full_name": "Élodie Ångström", "title": "CTO"}
    assert (
        api.admin.post("/v1/admin/directory", {"people": [{**person, "company": "ÉCOLE"}]}).status_code == 200
    )
    client = api.account()
    for args in ({"q": "ÉCOLE"}, {"company": "école"}, {"q": "élodie ångström"}, {"q": "ÅNGSTRÖM"}):
        assert [p["full_name"] for p in search(client, **args)["people"]] == ["Élodie Ångström"], args


def test_search_cursor_pages_have_no_duplicates_and_no_gaps(api):
    urls = api.directory(23)
    client = api.account()
    seen, cursor, pages = [], None, 0
    while True:
        page = search(client, limit=5, **({"cursor": cursor} if cursor else {}))
        seen += [p["linkedin_url"] for p in page["people"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 23
    assert seen == sorted(urls)
    filtered = search(client, q="person 1", limit=100)  # person 1, 10..19
    assert len(filtered["people"]) == 11 and filtered["next_cursor"] is None


def test_search_default_limit_is_25_and_the_limit_is_bounded(api):
    api.directory(30)
    client = api.account()
    page = search(client)
    assert len(page["people"]) == 25 and page["next_cursor"]
    for args in ({"limit": 101}, {"limit": 0}, {"cursor": "not base64!"}, {"q": "x" * 201}, {"sort": "name"}):
        r = client.c.get("/v1/search/people", query_string=args, headers=client.headers)
        assert (r.status_code, r.json["code"]) == (422, "validation_error"), args


def test_r7_search_reveal_charges_one_email_and_one_phone(searcher):
    r = searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(0), "fields": ["email", "phone"]})
    assert r.status_code == 200
    assert r.json["person"]["email"] == "p0@co.example" and r.json["person"]["phone"] == "+15550000000"
    assert r.json["credits"]["charged"] == {"email": 1, "phone": 1, "tracking": 0}
    assert r.json["credits"]["reasons"] == {"email": {"code": "charged"}, "phone": {"code": "charged"}}
    assert searcher.balance() == {"email": 99, "phone": 9, "tracking": 5}
    assert sorted(ledger_actions(searcher)) == ["search_reveal", "search_reveal"]


def test_r4_r7_search_reveal_costs_nothing_when_not_found_or_held(searcher):
    searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(0), "fields": ["email"]})
    held = searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(0), "fields": ["email"]})
    missing = searcher.post(
        "/v1/search/reveal", {"linkedin_url": URL.format(5), "fields": ["email", "phone"]}
    )
    assert held.json["credits"]["charged"]["email"] == 0
    assert held.json["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert missing.json["credits"]["charged"] == {"email": 0, "phone": 0, "tracking": 0}
    assert missing.json["credits"]["reasons"] == {
        "email": {"code": "not_found"},
        "phone": {"code": "not_found"},
    }
    assert searcher.balance() == {"email": 99, "phone": 10, "tracking": 5}


def test_r8_adding_people_to_a_saved_search_is_free_and_adding_twice_is_fine(searcher):
    created = searcher.post("/v1/saved-searches", {"name": "CTOs", "query": {"title": "cto"}})
    assert created.status_code == 201 and created.json["query"] == {"title": "cto"}
    sid = created.json["id"]
    first = searcher.post(f"/v1/saved-searches/{sid}/people", people(URL.format(0), URL.format(1), NOBODY))
    assert first.status_code == 200
    assert (first.json["added"], first.json["already_added"]) == (3, 0)
    assert first.json["credits"]["charged"] == {"email": 0, "phone": 0, "tracking": 0}
    assert first.json["credits"]["reasons"] == {"email": {"code": "free_action"}}
    assert all(r["reasons"] == {"email": {"code": "free_action"}} for r in first.json["results"])
    assert [r["linkedin_url"] for r in first.json["results"]] == [URL.format(0), URL.format(1), NOBODY]
    spelled_twice = people(URL.format(1).upper() + "/?trk=x", URL.format(1), URL.format(2))
    again = searcher.post(f"/v1/saved-searches/{sid}/people", spelled_twice)
    assert (again.json["added"], again.json["already_added"]) == (1, 1)  # R1: two spellings, one person
    assert [r["status"] for r in again.json["results"]] == ["already_added", "added"]
    assert searcher.balance() == {"email": 100, "phone": 10, "tracking": 5}
    assert ledger_actions(searcher) == []
    listed = searcher.get("/v1/saved-searches").json["saved_searches"]
    assert [(s["id"], s["name"], s["query"]) for s in listed] == [(sid, "CTOs", {"title": "cto"})]


def test_r8_another_accounts_or_an_unknown_saved_search_is_404(api, searcher):
    sid = searcher.post("/v1/saved-searches", {"name": "Mine", "query": {"q": "x"}}).json["id"]
    intruder = api.account()
    rs = [
        intruder.post(f"/v1/saved-searches/{sid}/people", people(URL.format(0))),
        searcher.post("/v1/saved-searches/no-such-search/people", people(URL.format(0))),
    ]
    assert [(r.status_code, r.json["code"]) for r in rs] == [(404, "not_found")] * 2
    assert intruder.get("/v1/saved-searches").json["saved_searches"] == []


def test_r9_enrolling_charges_once_per_person_not_yet_unlocked(searcher):
    searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(0), "fields": ["email"]})
    r = searcher.post(f"/v1/sequences/{searcher.seq}/enrollments", people(*searcher.urls[:3]))
    assert r.status_code == 201
    assert [x["status"] for x in r.json["results"]] == ["enrolled"] * 3
    assert [x["reasons"]["email"]["code"] for x in r.json["results"]] == [
        "already_unlocked",
        "charged",
        "charged",
    ]
    assert r.json["credits"]["charged"]["email"] == 2
    assert searcher.balance()["email"] == 97  # 1 reveal + 2 enrollments
    again = searcher.post(f"/v1/sequences/{searcher.seq}/enrollments", people(*searcher.urls[:3]))
    assert [x["status"] for x in again.json["results"]] == ["already_enrolled"] * 3
    other_seq = searcher.post("/v1/sequences", {"name": "S2"}).json["id"]
    other = searcher.post(f"/v1/sequences/{other_seq}/enrollments", people(*searcher.urls[:3]))
    assert [x["status"] for x in other.json["results"]] == ["enrolled"] * 3
    assert again.json["credits"]["charged"]["email"] == other.json["credits"]["charged"]["email"] == 0
    assert searcher.balance()["email"] == 97
    assert sorted(ledger_actions(searcher)) == ["enroll", "enroll", "search_reveal"]


def test_r9_r13_someone_enrolled_with_a_supplied_email_is_not_charged_by_the_searcher(searcher):
    ext = f"/v1/extension/sequences/{searcher.seq}/enrollments"
    searcher.post(ext, {"linkedin_url": URL.format(0), "email": "own@x.example"})
    r = searcher.post(f"/v1/sequences/{searcher.seq}/enrollments", people(URL.format(0), URL.format(1)))
    assert [(x["status"], x["reasons"]["email"]["code"]) for x in r.json["results"]] == [
        ("already_enrolled", "supplied"),
        ("enrolled", "charged"),
    ]
    assert r.json["credits"]["charged"]["email"] == 1 and searcher.balance()["email"] == 99


def test_r4_r9_people_without_an_email_are_not_enrolled_and_cost_nothing(searcher):
    r = searcher.post(
        f"/v1/sequences/{searcher.seq}/enrollments", people(URL.format(5), NOBODY, URL.format(4))
    )
    assert r.status_code == 201
    assert [(x["status"], x["reasons"]) for x in r.json["results"]] == [
        ("not_found", {"email": {"code": "not_found"}}),
        ("not_found", {"email": {"code": "not_found"}}),
        ("enrolled", {"email": {"code": "charged"}}),
    ]
    assert r.json["credits"]["charged"]["email"] == 1 and searcher.balance()["email"] == 99


def test_r1_r9_two_spellings_in_one_call_are_one_person_charged_once(searcher):
    body = people(URL.format(3), URL.format(3).replace("www.", "de.") + "/details/experience/")
    r = searcher.post(f"/v1/sequences/{searcher.seq}/enrollments", body)
    assert len(r.json["results"]) == 1 and r.json["credits"]["charged"]["email"] == 1


def test_r5_r9_insufficient_credits_is_402_and_nothing_is_enrolled(api):
    urls = api.directory(3)
    poor = api.account(email=2)
    seq = poor.post("/v1/sequences", {"name": "S"}).json["id"]
    r = poor.post(f"/v1/sequences/{seq}/enrollments", people(*urls))
    assert r.status_code == 402 and r.content_type.startswith("application/problem+json")
    assert {k: r.json[k] for k in ("code", "credit_type", "required", "available")} == {
        "code": "insufficient_credits",
        "credit_type": "email",
        "required": 3,
        "available": 2,
    }
    assert poor.balance()["email"] == 2 and ledger_actions(poor) == []
    api.admin.post(f"/v1/admin/accounts/{poor.account_id}/grants", {"credit_type": "email", "amount": 1})
    retry = poor.post(f"/v1/sequences/{seq}/enrollments", people(*urls))
    assert [x["status"] for x in retry.json["results"]] == ["enrolled"] * 3  # none was enrolled before


def test_r6_a_retried_enrollment_replays_and_charges_nothing(searcher):
    body, key = people(*searcher.urls[:2]), {"Idempotency-Key": "enroll-1"}
    first = searcher.post(f"/v1/sequences/{searcher.seq}/enrollments", body, **key)
    replay = searcher.post(f"/v1/sequences/{searcher.seq}/enrollments", body, **key)
    assert replay.json == first.json and replay.headers["Idempotent-Replayed"] == "true"
    assert searcher.balance()["email"] == 98


def test_bulk_people_lists_take_bodies_beyond_the_single_person_limit(searcher):
    sid = searcher.post("/v1/saved-searches", {"name": "Big", "query": {}}).json["id"]
    many = people(*(URL.format(f"bulk-{i:05d}") for i in range(2000)))  # about 110 KiB > 64 KiB
    r = searcher.post(f"/v1/saved-searches/{sid}/people", many)
    assert r.status_code == 200 and r.json["added"] == 2000


def test_bad_input_is_refused(api, searcher):
    sid = searcher.post("/v1/saved-searches", {"name": "N"}).json["id"]
    seq = f"/v1/sequences/{searcher.seq}/enrollments"
    invalid = [
        searcher.post("/v1/saved-searches", {"name": "N", "query": {"q": "x", "sort": "name"}}),
        searcher.post("/v1/saved-searches", {"name": "N", "owner": "me"}),
        searcher.post("/v1/saved-searches", {"name": ""}),
        searcher.post(
            f"/v1/saved-searches/{sid}/people", {"people": [{"linkedin_url": URL.format(0), "x": 1}]}
        ),
        searcher.post(f"/v1/saved-searches/{sid}/people", people("https://www.linkedin.com/company/acme")),
        searcher.post(seq, people("https://example.com/in/jane")),
        searcher.post(seq, {"people": []}),
        searcher.post(seq, {"people": [{}]}),
        searcher.post(seq, {"people": [{"linkedin_url": URL.format(0)}] * 10_001}),
        searcher.post("/v1/search/reveal", {"linkedin_url": URL.format(0), "fields": ["fax"]}),
    ]
    assert [(r.status_code, r.json["code"]) for r in invalid] == [(422, "validation_error")] * len(invalid)
    foreign_seq = api.account().post("/v1/sequences", {"name": "theirs"}).json["id"]
    unknown = [
        searcher.post("/v1/sequences/no-such-sequence/enrollments", people(URL.format(0))),
        searcher.post(f"/v1/sequences/{foreign_seq}/enrollments", people(URL.format(0))),
        searcher.post(seq, {"people": [{"person_id": "no-such-person"}]}),
    ]
    assert [(r.status_code, r.json["code"]) for r in unknown] == [(404, "not_found")] * len(unknown)
    assert searcher.balance() == {"email": 100, "phone": 10, "tracking": 5}
