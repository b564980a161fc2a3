"""Balances, the ledger and estimates through the API."""


def test_ledger_pages_and_names_person_and_user_on_charges(api):
    urls = api.directory(3)
    user = api.account()
    for u in urls:
        user.post("/v1/extension/reveal", {"linkedin_url": u})
    page = user.get("/v1/credits/ledger?credit_type=email&limit=2").json
    assert [e["amount"] for e in page["entries"]] == [-1, -1]
    assert all(e["person_id"] and e["user_id"] for e in page["entries"])
    rest = user.get(f"/v1/credits/ledger?credit_type=email&limit=2&cursor={page['next_cursor']}").json
    assert [e["action"] for e in rest["entries"]] == ["reveal", "grant"]
    assert rest["next_cursor"] is None
    assert rest["entries"][-1]["balance_after"] == 100


def test_a_cursor_beyond_any_row_id_is_a_422_not_a_500(api):
    user = api.account()
    for path in ("/v1/credits/ledger", "/v1/notifications"):
        r = user.get(f"{path}?cursor=719456146850101069646592475136")
        assert r.status_code == 422 and r.json["code"] == "validation_error"
        assert "cursor" in r.json["errors"]


def test_r23_estimate_leaves_out_what_is_held_and_charges_nothing(api):
    urls = api.directory(3)
    user = api.account()
    user.post("/v1/extension/reveal", {"linkedin_url": urls[0]})
    people = [{"linkedin_url": u} for u in urls] + [{"linkedin_url": "linkedin.com/in/never-seen"}]
    r = user.post("/v1/estimates", {"action": "list_and_crm", "people": people})
    assert r.status_code == 200
    assert r.json == {"max": {"email": 3, "phone": 0, "tracking": 0}, "already_unlocked": 1}
    r = user.post("/v1/estimates", {"action": "reveal", "people": people, "fields": ["email", "phone"]})
    assert r.json["max"] == {"email": 3, "phone": 4, "tracking": 0}
    assert user.balance()["email"] == 99


def test_credits_summary_splits_tracking(api):
    user = api.account(tracking=5)
    assert user.get("/v1/credits").json == {
        "balance": {"email": 100, "phone": 10, "tracking": 5},
        "tracking": {"total": 5, "in_use": 0, "free": 5},
    }


def test_grants_are_positive_ledger_entries(api):
    user = api.account(email=0)
    r = api.admin.post(
        f"/v1/admin/accounts/{user.account_id}/grants",
        {"credit_type": "email", "amount": 2.5, "note": "promo"},
    )
    assert r.status_code == 201 and r.json["amount"] == 2.5 and r.json["balance_after"] == 2.5
    assert user.balance()["email"] == 2.5


def test_a_zero_grant_is_a_422_and_writes_no_ledger_entry(api):
    """Grants are positive ledger entries (api.md); a zero grant answered 201 with an entry of 0."""
    user = api.account(email=5)
    r = api.admin.post(f"/v1/admin/accounts/{user.account_id}/grants", {"credit_type": "email", "amount": 0})
    assert r.status_code == 422 and "amount" in r.json["errors"]
    assert [e["amount"] for e in user.get("/v1/credits/ledger").json["entries"]] == [5, 10, 5]


def test_r6_an_operator_grant_retried_with_its_idempotency_key_grants_once(api):
    user = api.account(email=0)
    grant = {"credit_type": "email", "amount": 10}
    path = f"/v1/admin/accounts/{user.account_id}/grants"
    first = api.admin.post(path, grant, **{"Idempotency-Key": "g-1"})
    again = api.admin.post(path, grant, **{"Idempotency-Key": "g-1"})
    assert (first.status_code, again.status_code) == (201, 201) and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert user.balance()["email"] == 10


def test_r23_estimate_counts_a_person_named_by_url_and_by_id_once(api):
    urls = api.directory(2)
    user = api.account()
    held = user.post("/v1/extension/reveal", {"linkedin_url": urls[0]}).json["person"]["id"]
    saved = user.post("/v1/saved-searches", {"name": "s", "query": {}}).json["id"]
    added = user.post(f"/v1/saved-searches/{saved}/people", {"people": [{"linkedin_url": urls[1]}]})
    fresh = added.json["results"][0]["person_id"]
    people = [{"linkedin_url": urls[0]}, {"person_id": held}, {"linkedin_url": urls[1]}, {"person_id": fresh}]
    r = user.post("/v1/estimates", {"action": "add_to_list", "people": people})
    assert r.json == {"max": {"email": 1, "phone": 0, "tracking": 0}, "already_unlocked": 1}
    list_id = user.post("/v1/lists", {"name": "L"}).json["id"]
    charged = [
        user.post(f"/v1/extension/lists/{list_id}/leads", p).json["credits"]["charged"] for p in people
    ]
    assert sum(c["email"] for c in charged) == 1


def test_r23_estimate_of_a_reveal_asking_a_field_twice_is_what_the_reveal_charges(api):
    url = api.directory(1)[0]
    user = api.account()
    asked = {"linkedin_url": url, "fields": ["email", "email"]}
    r = user.post(
        "/v1/estimates", {"action": "reveal", "people": [{"linkedin_url": url}], "fields": asked["fields"]}
    )
    assert r.json["max"] == {"email": 1, "phone": 0, "tracking": 0}
    assert user.post("/v1/extension/reveal", asked).json["credits"]["charged"]["email"] == 1


def test_r23_estimate_of_tracking_more_known_people_than_one_statement_can_bind_is_not_a_500(api):
    """PostgreSQL binds at most 65,535 parameters per statement; an estimate names up to 100,000 people."""
    user = api.account(tracking=5)
    urls = [f"https://www.linkedin.com/in/p-{i}" for i in range(70_000)]
    saved = user.post("/v1/saved-searches", {"name": "s", "query": {}}).json["id"]
    for i in range(0, len(urls), 10_000):  # free (R8), and every one of them becomes a known person
        people = [{"linkedin_url": u} for u in urls[i : i + 10_000]]
        assert user.post(f"/v1/saved-searches/{saved}/people", {"people": people}).status_code == 200
    user.post("/v1/tracking", {"people": [{"linkedin_url": urls[0]}]})
    r = user.post("/v1/estimates", {"action": "track", "people": [{"linkedin_url": u} for u in urls]})
    assert r.status_code == 200
    assert r.json == {"max": {"email": 0, "phone": 0, "tracking": 69_999}, "already_unlocked": 1}
