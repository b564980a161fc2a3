"""API keys through the API (api.md "API keys and users"), on both engines: named keys shown once,
`read` keys that may only GET, rotation with a grace, revocation that stops a key at once, the
owner-or-admin rule, bad input refused with nothing changed, and keyset pages."""

import pytest

from tests.conftest import Client


def token_of(client) -> str:
    return client.headers["Authorization"].split()[1]


def key_client(api, answer) -> Client:
    return Client(api.raw, answer["api_token"])


def keys(client, **query) -> list:
    r = client.c.get("/v1/api-keys", query_string=query, headers=client.headers)
    assert r.status_code == 200, r.json
    return r.json["api_keys"]


def delete(client, path):
    return client.c.delete(path, headers=client.headers)


def key_rows(app) -> list:
    with app.extensions["store"].engine.connect() as conn:
        return sorted(tuple(r) for r in conn.exec_driver_sql("SELECT * FROM api_keys"))


def test_the_operators_token_is_the_users_first_key_and_a_new_key_is_shown_once(api, app):
    user = api.account()
    [first] = keys(user)
    assert first["name"] == "first key" and first["scope"] == "full" and first["revoked_at"] is None
    assert token_of(user).startswith(first["prefix"])
    made = user.post("/v1/api-keys", {"name": "laptop"})
    assert made.status_code == 201, made.json
    assert made.json["api_token"].startswith(made.json["prefix"]) and made.json["scope"] == "full"
    second = key_client(api, made.json)
    assert second.get("/v1/me").json == user.get("/v1/me").json
    listed = keys(second)
    assert [k["name"] for k in listed] == ["first key", "laptop"]
    assert all("api_token" not in k for k in listed)
    stored = " ".join(str(v) for row in key_rows(app) for v in row)
    assert made.json["api_token"] not in stored and token_of(user) not in stored


def test_a_keys_token_is_not_kept_for_an_idempotent_replay(api):
    user = api.account()
    first = user.post("/v1/api-keys", {"name": "ci"}, **{"Idempotency-Key": "k-1"})
    again = user.post("/v1/api-keys", {"name": "ci"}, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"] and "api_token" not in again.json
    assert len(keys(user)) == 2


def test_a_read_key_may_only_get(api):
    user = api.account()
    reader = key_client(api, user.post("/v1/api-keys", {"name": "page", "scope": "read"}).json)
    assert reader.get("/v1/credits").status_code == 200
    for answer in (
        reader.post("/v1/lists", {"name": "L"}),
        reader.post("/v1/api-keys", {"name": "escalate"}),
        delete(reader, f"/v1/api-keys/{keys(user)[0]['id']}"),
    ):
        assert answer.status_code == 403 and answer.json["code"] == "forbidden", answer.json
        assert "read-only" in answer.json["detail"]
    assert user.get("/v1/lists").json["lists"] == []
    assert [k["revoked_at"] for k in keys(user)] == [None, None]


def test_a_revoked_key_is_refused_at_once_and_listed_as_revoked(api):
    user = api.account()
    made = user.post("/v1/api-keys", {"name": "old laptop"}).json
    gone = key_client(api, made)
    assert gone.get("/v1/me").status_code == 200
    assert delete(user, f"/v1/api-keys/{made['id']}").status_code == 204
    refused = gone.get("/v1/me")
    assert refused.status_code == 401 and refused.json["code"] == "unauthorized"
    [listed] = [k for k in keys(user) if k["id"] == made["id"]]
    assert listed["revoked_at"] is not None
    assert delete(user, f"/v1/api-keys/{made['id']}").status_code == 204  # again: no change
    assert [k for k in keys(user) if k["id"] == made["id"]][0]["revoked_at"] == listed["revoked_at"]
    assert user.get("/v1/me").status_code == 200  # the user's other key still works


def test_rotating_with_no_grace_swaps_the_keys_at_once_and_a_revoked_key_cannot_be_rotated(api, app):
    user = api.account()
    made = user.post("/v1/api-keys", {"name": "ci", "scope": "read"}).json
    rotated = user.post(f"/v1/api-keys/{made['id']}/rotate", {"grace_seconds": 0})
    assert rotated.status_code == 201, rotated.json
    new = rotated.json
    assert (new["name"], new["scope"], new["user_id"]) == ("ci", "read", made["user_id"])
    assert new["id"] != made["id"] and new["api_token"] != made["api_token"]
    assert key_client(api, made).get("/v1/me").status_code == 401
    assert key_client(api, new).get("/v1/me").status_code == 200
    again = user.post(f"/v1/api-keys/{made['id']}/rotate", {"grace_seconds": 60})
    assert again.status_code == 409 and again.json["code"] == "conflict", again.json
    assert delete(user, f"/v1/api-keys/{new['id']}").status_code == 204
    before = key_rows(app)
    revoked = user.post(f"/v1/api-keys/{new['id']}/rotate", {"grace_seconds": 60})
    assert revoked.status_code == 409 and "revoked" in revoked.json["detail"]
    assert key_rows(app) == before


def test_rotating_with_a_grace_keeps_the_old_key_until_it_ends(api):
    user = api.account()
    made = user.post("/v1/api-keys", {"name": "ci"}).json
    rotated = user.post(f"/v1/api-keys/{made['id']}/rotate", {"grace_seconds": 3600}).json
    assert key_client(api, made).get("/v1/me").status_code == 200
    assert key_client(api, rotated).get("/v1/me").status_code == 200
    [old] = [k for k in keys(user) if k["id"] == made["id"]]
    assert old["expires_at"] is not None and old["revoked_at"] is None


def test_last_used_at_is_written_on_use_and_at_most_once_a_minute(api, app):
    user = api.account()
    made = user.post("/v1/api-keys", {"name": "ci"}).json
    assert made["last_used_at"] is None
    used = key_client(api, made)
    used.get("/v1/me")
    [first] = [k for k in keys(user) if k["id"] == made["id"]]
    assert first["last_used_at"] is not None
    used.get("/v1/me")
    used.get("/v1/credits")
    assert [k for k in keys(user) if k["id"] == made["id"]][0]["last_used_at"] == first["last_used_at"]


def test_a_key_of_another_account_is_not_found(api):
    user, stranger = api.account(), api.account()
    theirs = keys(stranger)[0]["id"]
    assert delete(user, f"/v1/api-keys/{theirs}").status_code == 404
    assert user.post(f"/v1/api-keys/{theirs}/rotate", {"grace_seconds": 0}).status_code == 404
    assert (
        user.c.get("/v1/api-keys", query_string={"user_id": "nobody"}, headers=user.headers).status_code
        == 404
    )
    assert stranger.get("/v1/me").status_code == 200


def test_admins_list_rotate_and_revoke_a_teammates_keys(api):
    admin = api.account()
    member = api.teammate(admin)
    member_id = member.get("/v1/me").json["user_id"]
    [theirs] = keys(admin, user_id=member_id)
    assert theirs["user_id"] == member_id
    rotated = admin.post(f"/v1/api-keys/{theirs['id']}/rotate", {"grace_seconds": 0})
    assert rotated.status_code == 201 and rotated.json["user_id"] == member_id
    assert member.get("/v1/me").status_code == 401
    assert delete(admin, f"/v1/api-keys/{rotated.json['id']}").status_code == 204
    assert key_client(api, rotated.json).get("/v1/me").status_code == 401


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/api-keys", {"name": "x", "scope": "write"}, "scope"),
        ("/v1/api-keys", {"name": "x", "scope": "admin"}, "scope"),
        ("/v1/api-keys", {"scope": "read"}, "name"),
        ("/v1/api-keys", {"name": ""}, "name"),
        ("/v1/api-keys", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ("/v1/api-keys", {"name": "x", "expires_at": "soon"}, "expires_at"),
        ("rotate", {"grace_seconds": -1}, "grace_seconds"),
        ("rotate", {"grace_seconds": 604801}, "grace_seconds"),
        ("rotate", {"grace_seconds": "60"}, "grace_seconds"),
        ("rotate", {"grace_seconds": 1.5}, "grace_seconds"),
        ("rotate", {}, "grace_seconds"),
    ],
)
def test_bad_key_requests_are_422_naming_the_field_and_change_nothing(api, app, path, body, field):
    user = api.account()
    key_id = keys(user)[0]["id"]  # the key's first use is written now, not during the refusal
    path = f"/v1/api-keys/{key_id}/rotate" if path == "rotate" else path
    before = key_rows(app)
    r = user.post(path, body)
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"
    assert r.json["code"] == "validation_error" and field in r.json["errors"], r.json
    assert key_rows(app) == before and user.get("/v1/me").status_code == 200


def test_the_grace_may_be_a_whole_week(api):
    user = api.account()
    made = user.post("/v1/api-keys", {"name": "ci"}).json
    assert user.post(f"/v1/api-keys/{made['id']}/rotate", {"grace_seconds": 604800}).status_code == 201


def test_key_pages_follow_their_cursors_to_every_key_once_and_refuse_foreign_cursors(api):
    admin = api.account()
    member = api.teammate(admin)
    member_id = member.get("/v1/me").json["user_id"]
    made = [admin.post("/v1/api-keys", {"name": f"k{i}"}).json["id"] for i in range(6)]
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.c.get("/v1/api-keys", query_string=query, headers=admin.headers).json
        assert len(page["api_keys"]) <= 2
        seen += [k["id"] for k in page["api_keys"]]
        if len(seen) == 4:
            admin.post("/v1/api-keys", {"name": "added while paging"})
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[1:7] == made and len(seen) == len(set(seen)) == 8
    first_page = admin.c.get("/v1/api-keys", query_string={"limit": 1}, headers=admin.headers).json
    foreign = [
        ("cursor", first_page["next_cursor"], {"user_id": member_id}),  # another listing's cursor
        ("cursor", "bm90IGEgY3Vyc29y", {}),
        ("cursor", "%%%", {}),
        ("limit", "0", {}),
        ("limit", "501", {}),
        ("limit", "ten", {}),
    ]
    for name, value, extra in foreign:
        r = admin.c.get("/v1/api-keys", query_string={name: value, **extra}, headers=admin.headers)
        assert r.status_code == 422 and name in r.json["errors"], (name, value, r.json)
    other = api.account()
    r = other.c.get("/v1/api-keys", query_string={"cursor": first_page["next_cursor"]}, headers=other.headers)
    assert r.status_code == 422  # another account's cursor


def test_a_users_key_stays_401_on_the_operator_routes(api):
    user = api.account()
    r = user.post("/v1/admin/accounts", {"name": "x", "admin_email": "x@t.example"})
    assert r.status_code == 401 and r.json["code"] == "unauthorized"
