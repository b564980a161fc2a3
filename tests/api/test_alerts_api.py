"""R25 through the API: balance levels and user-limit levels each alert once per crossing, as a
notification every member reads and a signed event queued for the account's webhook connections."""

from tests.api.test_jobs_api import export


def notices(client, kind):
    return [n for n in client.get("/v1/notifications?limit=500").json["notifications"] if n["kind"] == kind]


def put(client, path, body):
    return client.c.put(path, json=body, headers=client.headers)


def test_r25_one_bulk_job_crossing_two_levels_alerts_each_once_and_a_grant_arms_them_again(job_api):
    urls = job_api.directory(40)
    user = job_api.account(email=50)
    user.list_id = user.post("/v1/lists", {"name": "L"}).json["id"]
    assert put(user, "/v1/account/alerts", {"email": [40, 15]}).json["email"] == [40, 15]
    job = export(user, urls[:38])  # 50 -> 12: past 40 and 15 in one job
    assert job["status"] == "succeeded" and user.balance()["email"] == 12
    alerts = notices(user, "low_balance")
    assert sorted(a["detail"]["level"] for a in alerts) == [15, 40]
    assert all(
        a["detail"] == {"credit_type": "email", "level": a["detail"]["level"], "balance": 12} for a in alerts
    )
    assert "person_id" not in alerts[0] or alerts[0]["person_id"] is None
    user.post("/v1/extension/reveal", {"linkedin_url": urls[38], "fields": ["email"]})  # 11: no new crossing
    assert len(notices(user, "low_balance")) == 2
    job_api.admin.post(f"/v1/admin/accounts/{user.account_id}/grants", {"credit_type": "email", "amount": 30})
    user.post("/v1/extension/reveal", {"linkedin_url": urls[39], "fields": ["email"]})  # 41 -> 40: again
    assert sorted(a["detail"]["level"] for a in notices(user, "low_balance")) == [15, 40, 40]


def test_r25_a_users_75_and_100_percent_alerts_arrive_once_each(api):
    admin = api.account(email=100)
    member = api.teammate(admin)
    member_id = member.get("/v1/me").json["user_id"]
    urls = api.directory(5)
    put(admin, f"/v1/users/{member_id}/limits", {"email": 4})
    for u in urls[:4]:
        member.post("/v1/extension/reveal", {"linkedin_url": u, "fields": ["email"]})
    assert (
        member.post("/v1/extension/reveal", {"linkedin_url": urls[4], "fields": ["email"]}).status_code == 402
    )
    alerts = notices(admin, "user_limit")
    assert [(a["detail"]["level"], a["detail"]["used"]) for a in sorted(alerts, key=lambda a: a["id"])] == [
        (75, 3),
        (100, 4),
    ]
    assert {a["detail"]["user_id"] for a in alerts} == {member_id}
    put(admin, f"/v1/users/{member_id}/limits", {"email": 8})  # raised: armed again
    for u in urls[4:]:
        member.post("/v1/extension/reveal", {"linkedin_url": u, "fields": ["email"]})
    assert len(notices(admin, "user_limit")) == 2  # 5 of 8 is below 75 %


def test_r25_levels_are_admin_only_and_must_be_numbers(api):
    admin = api.account()
    member = api.teammate(admin)
    assert put(member, "/v1/account/alerts", {"email": [10]}).status_code == 403
    assert member.get("/v1/account/alerts").json == {"email": [], "phone": [], "tracking": []}
    for bad in ({"email": ["ten"]}, {"email": [1.2]}, {"email": 10}, {}, {"sms": [1]}):
        r = put(admin, "/v1/account/alerts", bad)
        assert r.status_code == 422 and r.json["code"] == "validation_error", bad
    assert admin.get("/v1/account/alerts").json["email"] == []
