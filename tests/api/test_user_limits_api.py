"""R24 through the API: an admin sets a teammate's monthly limit; charging answers show it; a charge
past it is a 402 naming it, and nothing changes; bulk jobs count what they actually charge."""

import pytest

from tests.api.test_jobs_api import wait


def ids(client):
    return client.get("/v1/me").json


@pytest.fixture
def team(api):
    admin = api.account(email=100, phone=10)
    member = api.teammate(admin)
    member.user_id = ids(member)["user_id"]
    return admin, member


def test_r24_a_member_charges_up_to_their_limit_then_is_refused_and_nothing_changes(api, team):
    admin, member = team
    urls = api.directory(4)
    r = admin.c.put(f"/v1/users/{member.user_id}/limits", json={"email": 2}, headers=admin.headers)
    assert r.status_code == 200, r.json
    assert r.json["email"]["limit"] == 2 and r.json["email"]["used"] == 0 and r.json["phone"]["limit"] is None
    for u in urls[:2]:
        answer = member.post("/v1/extension/reveal", {"linkedin_url": u, "fields": ["email"]}).json
        assert answer["credits"]["charged"]["email"] == 1
    assert answer["credits"]["user_limit"] == {"email": {"limit": 2, "used": 2}}
    refused = member.post("/v1/extension/reveal", {"linkedin_url": urls[2], "fields": ["email"]})
    assert refused.status_code == 402
    assert refused.json["code"] == "user_limit_reached"
    assert (
        refused.json["credit_type"],
        refused.json["limit"],
        refused.json["used"],
        refused.json["required"],
    ) == (
        "email",
        2,
        2,
        1,
    )
    assert admin.balance()["email"] == 98
    again = member.post("/v1/extension/reveal", {"linkedin_url": urls[0], "fields": ["email"]})
    assert again.status_code == 200 and again.json["credits"]["charged"]["email"] == 0  # held: free
    assert (
        admin.post("/v1/extension/reveal", {"linkedin_url": urls[3], "fields": ["email"]}).status_code == 200
    )
    mine = member.get(f"/v1/users/{member.user_id}/limits").json["email"]
    assert (mine["limit"], mine["used"]) == (2, 2) and mine["period_start"].endswith("-01")


def test_r24_only_admins_set_limits_and_a_member_reads_only_their_own(api, team):
    admin, member = team
    admin_id = ids(admin)["user_id"]
    put = member.c.put(f"/v1/users/{admin_id}/limits", json={"email": 1}, headers=member.headers)
    assert put.status_code == 403 and put.json["code"] == "forbidden"
    assert member.get(f"/v1/users/{admin_id}/limits").status_code == 403
    assert member.get(f"/v1/users/{member.user_id}/limits").status_code == 200
    assert admin.get(f"/v1/users/{member.user_id}/limits").json["email"]["limit"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": 1.2}, "email"),
        ({"email": -1}, "email"),
        ({"email": "ten"}, "email"),
        ({"sms": 3}, "sms"),
        ({}, "_schema"),
    ],
)
def test_r24_bad_limits_are_422_and_change_nothing(api, team, body, field):
    admin, member = team
    r = admin.c.put(f"/v1/users/{member.user_id}/limits", json=body, headers=admin.headers)
    assert r.status_code == 422 and field in r.json["errors"]
    assert admin.get(f"/v1/users/{member.user_id}/limits").json["email"]["limit"] is None


def test_r24_a_user_of_another_account_is_not_found(api, team):
    admin, _ = team
    stranger = ids(api.account())["user_id"]
    r = admin.c.put(f"/v1/users/{stranger}/limits", json={"email": 1}, headers=admin.headers)
    assert r.status_code == 404


def test_r24_a_list_export_past_the_users_limit_is_refused_whole_and_one_within_counts_what_it_charged(
    job_api,
):
    admin = job_api.account(email=100, phone=10)
    member = job_api.teammate(admin)
    member_id = ids(member)["user_id"]
    urls = job_api.directory(3) + job_api.directory(3, start=3, phone=False)
    lid = admin.post("/v1/lists", {"name": "L"}).json["id"]
    for u in urls:
        admin.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": u})
    admin.c.put(f"/v1/users/{member_id}/limits", json={"phone": 2}, headers=admin.headers)
    job = wait(member, member.post(f"/v1/lists/{lid}/exports", {"include_phone": True}).json["job"]["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "user_limit_reached"
    assert job["error"]["required"] == 3 and admin.balance()["phone"] == 10
    admin.c.put(f"/v1/users/{member_id}/limits", json={"phone": 5}, headers=admin.headers)
    job = wait(member, member.post(f"/v1/lists/{lid}/exports", {"include_phone": True}).json["job"]["id"])
    assert job["status"] == "succeeded" and job["credits"]["charged"]["phone"] == 3
    assert member.get(f"/v1/users/{member_id}/limits").json["phone"]["used"] == 3
