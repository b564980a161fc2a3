"""A team's users through the API (api.md "API keys and users", "Roles"), on both engines: admins
add, list, re-role and remove users; a removed user's keys are refused at once while what they did
stays the account's (R2); the last active admin stays; every account-admin route refuses a member."""

import pytest

from tests.conftest import Client


def me(client) -> str:
    return client.get("/v1/me").json["user_id"]


def patch(client, path, body):
    return client.c.patch(path, json=body, headers=client.headers)


def delete(client, path):
    return client.c.delete(path, headers=client.headers)


def users(client, **query) -> list:
    r = client.c.get("/v1/users", query_string=query, headers=client.headers)
    assert r.status_code == 200, r.json
    return r.json["users"]


def snapshot(app) -> list:
    """What account-admin routes may change: users, keys, limits, lists (as rows)."""
    with app.extensions["store"].engine.connect() as conn:
        return [
            sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table}"))
            for table in ("users", "api_keys", "user_limits", "lists")
        ]


@pytest.fixture
def team(api):
    admin = api.account()
    member = api.teammate(admin)
    admin.user_id, member.user_id = me(admin), me(member)
    return admin, member


def test_an_admin_adds_a_user_whose_first_key_is_shown_once_and_lists_the_team(api, team):
    admin, member = team
    added = admin.post("/v1/users", {"email": "new@t.example", "role": "member"})
    assert added.status_code == 201, added.json
    assert set(added.json) == {"id", "email", "role", "api_token"} and added.json["role"] == "member"
    newcomer = Client(api.raw, added.json["api_token"])
    assert me(newcomer) == added.json["id"]
    listed = users(admin)
    assert [u["id"] for u in listed] == [admin.user_id, member.user_id, added.json["id"]]
    assert [u["role"] for u in listed] == ["admin", "member", "member"]
    assert all(u["created_at"] and u["deactivated_at"] is None for u in listed)
    assert listed[2]["last_active_at"] is not None  # its key was just used
    assert listed[0]["last_active_at"] is not None
    page = admin.c.get("/v1/users", query_string={"limit": 2}, headers=admin.headers).json
    rest = users(admin, cursor=page["next_cursor"])
    assert [u["id"] for u in page["users"] + rest] == [u["id"] for u in listed]


def test_an_admin_promotes_and_demotes_a_user(team):
    admin, member = team
    promoted = patch(admin, f"/v1/users/{member.user_id}", {"role": "admin"})
    assert promoted.status_code == 200 and promoted.json["role"] == "admin"
    assert member.post("/v1/users", {"email": "x@t.example", "role": "member"}).status_code == 201
    demoted = patch(member, f"/v1/users/{admin.user_id}", {"role": "member"})
    assert demoted.status_code == 200 and demoted.json["role"] == "member"
    refused = admin.post("/v1/users", {"email": "y@t.example", "role": "member"})
    assert refused.status_code == 403 and refused.json["code"] == "forbidden"


def test_the_last_active_admin_can_be_neither_demoted_nor_removed(app, team):
    admin, member = team
    before = snapshot(app)
    for answer in (
        patch(admin, f"/v1/users/{admin.user_id}", {"role": "member"}),
        delete(admin, f"/v1/users/{admin.user_id}"),
    ):
        assert answer.status_code == 409 and answer.json["code"] == "conflict", answer.json
        assert "last active admin" in answer.json["detail"]
    assert snapshot(app) == before
    patch(admin, f"/v1/users/{member.user_id}", {"role": "admin"})
    assert delete(admin, f"/v1/users/{admin.user_id}").status_code == 204  # another admin remains
    assert admin.get("/v1/me").status_code == 401
    refused = patch(member, f"/v1/users/{member.user_id}", {"role": "member"})
    assert refused.status_code == 409  # the removed admin does not count


def test_r2_a_removed_users_keys_stop_at_once_and_what_they_unlocked_stays_the_accounts(api, team):
    admin, member = team
    [url, other] = api.directory(2)
    second = Client(api.raw, member.post("/v1/api-keys", {"name": "laptop"}).json["api_token"])
    lid = member.post("/v1/lists", {"name": "theirs"}).json["id"]
    assert member.post(f"/v1/extension/lists/{lid}/leads", {"linkedin_url": url}).status_code == 201
    assert (
        member.post("/v1/extension/reveal", {"linkedin_url": other, "fields": ["phone"]}).status_code == 200
    )
    assert delete(admin, f"/v1/users/{member.user_id}").status_code == 204
    for key in (member, second):
        refused = key.get("/v1/me")
        assert refused.status_code == 401 and refused.json["code"] == "unauthorized"
    revealed = admin.post("/v1/extension/reveal", {"linkedin_url": url, "fields": ["email"]}).json
    assert revealed["credits"]["charged"]["email"] == 0
    assert revealed["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert revealed["credits"]["reasons"]["email"]["unlocked_by"] == member.user_id
    phone = admin.post("/v1/extension/reveal", {"linkedin_url": other, "fields": ["phone"]}).json
    assert phone["credits"]["charged"]["phone"] == 0
    assert [lead["person_id"] for lead in admin.get(f"/v1/lists/{lid}/leads").json["leads"]]
    ledger = admin.get("/v1/credits/ledger").json["entries"]
    assert {e["user_id"] for e in ledger if e["amount"] < 0} == {member.user_id}
    [removed] = [u for u in users(admin) if u["id"] == member.user_id]
    assert removed["deactivated_at"] is not None
    assert delete(admin, f"/v1/users/{member.user_id}").status_code == 204  # again: no change
    assert patch(admin, f"/v1/users/{member.user_id}", {"role": "admin"}).status_code == 409


@pytest.mark.parametrize(
    "body, field",
    [
        ({"role": "owner"}, "role"),
        ({"role": "ADMIN"}, "role"),
        ({"role": None}, "role"),
        ({}, "role"),
    ],
)
def test_a_role_that_does_not_exist_is_422_and_changes_nothing(app, team, body, field):
    admin, member = team
    before = snapshot(app)
    for answer in (
        patch(admin, f"/v1/users/{member.user_id}", body),
        admin.post("/v1/users", {"email": "z@t.example", **body}),
    ):
        assert answer.status_code == 422 and answer.json["code"] == "validation_error"
        assert field in answer.json["errors"], answer.json
    assert snapshot(app) == before


def test_users_of_another_account_are_not_found(api, team):
    admin, _ = team
    stranger = api.account()
    theirs = me(stranger)
    assert patch(admin, f"/v1/users/{theirs}", {"role": "member"}).status_code == 404
    assert delete(admin, f"/v1/users/{theirs}").status_code == 404
    assert stranger.get("/v1/me").status_code == 200


# api.md "Roles": every account-admin route of users and keys (the CRM ones are their helpers'); `{member}` is
# the member's own id, `{admin}` and `{admin_key}` the admin's
ADMIN_ROUTES = [
    ("POST", "/v1/users", {"email": "x@t.example", "role": "admin"}),
    ("GET", "/v1/users", None),
    ("PATCH", "/v1/users/{admin}", {"role": "member"}),
    ("PATCH", "/v1/users/{member}", {"role": "admin"}),
    ("DELETE", "/v1/users/{admin}", None),
    ("PUT", "/v1/users/{member}/limits", {"email": 5}),
    ("GET", "/v1/users/{admin}/limits", None),
    ("GET", "/v1/api-keys?user_id={admin}", None),
    ("POST", "/v1/api-keys/{admin_key}/rotate", {"grace_seconds": 0}),
    ("DELETE", "/v1/api-keys/{admin_key}", None),
    ("POST", "/v1/crm/oauth/start", {"kind": "hubspot", "name": "h"}),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES])
def test_roles_a_member_on_an_account_admin_route_is_403_and_nothing_changes(app, team, method, path, body):
    admin, member = team
    admin_key = admin.get("/v1/api-keys").json["api_keys"][0]["id"]
    member.get("/v1/me")  # the member key's first use is written now, not during the refusal
    path = path.format(admin=admin.user_id, member=member.user_id, admin_key=admin_key)
    before = snapshot(app)
    r = member.c.open(path, method=method, json=body, headers=member.headers)
    assert r.status_code == 403 and r.json["code"] == "forbidden", r.json
    assert snapshot(app) == before
    assert admin.get("/v1/me").status_code == 200
