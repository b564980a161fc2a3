"""R20–R22 through the API: tracking credits are held, not spent; the ledger shows holds and releases;
a tracked person's change of company produces one notification."""


def people(urls):
    return {"people": [{"linkedin_url": u} for u in urls]}


def test_r20_r21_track_three_of_five_retrack_free_three_more_refused_disable_two_frees_two(api):
    urls = api.directory(6)
    user = api.account(tracking=5)
    r = user.post("/v1/tracking", people(urls[:3]))
    assert r.status_code == 200 and (r.json["tracked"], r.json["already_tracked"]) == (3, 0)
    assert r.json["credits"]["charged"]["tracking"] == 3 and r.json["credits"]["balance"]["tracking"] == 2
    assert {x["reasons"]["tracking"]["code"] for x in r.json["results"]} == {"held"}
    again = user.post("/v1/tracking", people(urls[:3]))
    assert (again.json["tracked"], again.json["already_tracked"]) == (0, 3)
    assert again.json["credits"]["charged"]["tracking"] == 0
    refused = user.post("/v1/tracking", people(urls[3:6]))
    assert refused.status_code == 402 and refused.json["credit_type"] == "tracking"
    assert (refused.json["required"], refused.json["available"]) == (3, 2)
    assert len(user.get("/v1/tracking").json["tracked"]) == 3
    off = user.post("/v1/tracking/disable", people(urls[:2]))
    assert off.json["disabled"] == 2 and off.json["credits"]["balance"]["tracking"] == 4
    assert user.get("/v1/credits").json["tracking"] == {"total": 5, "in_use": 1, "free": 4}
    assert user.post("/v1/tracking", people(urls[3:6])).json["tracked"] == 3


def test_r20_ledger_shows_holds_and_releases_naming_person_and_user(api):
    urls = api.directory(2)
    user = api.account(tracking=5)
    user.post("/v1/tracking", people(urls))
    user.post("/v1/tracking/disable", people(urls[:1]))
    entries = user.get("/v1/credits/ledger?credit_type=tracking").json["entries"]
    assert [(e["action"], e["amount"]) for e in entries[:3]] == [
        ("tracking_release", 1),
        ("tracking_hold", -1),
        ("tracking_hold", -1),
    ]
    assert all(e["person_id"] and e["user_id"] for e in entries[:3])
    assert sum(e["amount"] for e in entries) == user.balance()["tracking"] == 4


def test_r22_company_change_of_a_tracked_person_notifies_once(api):
    urls = api.directory(2)
    watcher = api.account()
    bystander = api.account()
    watcher.post("/v1/tracking", people(urls[:1]))
    moved = {"linkedin_url": urls[0], "full_name": "Person 0", "title": "Engineer", "company": "NewCo"}
    same = {"linkedin_url": urls[1], "full_name": "Person 1", "title": "Engineer", "company": "Co"}
    api.admin.post("/v1/admin/directory", {"people": [moved, same]})
    api.admin.post("/v1/admin/directory", {"people": [moved]})  # the same data again: no new change
    notes = watcher.get("/v1/notifications").json["notifications"]
    assert len(notes) == 1
    assert notes[0]["kind"] == "job_change" and notes[0]["after"]["company"] == "NewCo"
    assert notes[0]["before"]["company"] == "Co" and notes[0]["linkedin_url"] == urls[0]
    assert bystander.get("/v1/notifications").json["notifications"] == []


def test_r22_title_change_is_a_promotion_and_queues_a_webhook_event(api):
    [url] = api.directory(1)
    user = api.account()
    user.post(
        "/v1/crm/connections", {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}
    )
    user.post("/v1/tracking", people([url]))
    api.admin.post(
        "/v1/admin/directory",
        {
            "people": [
                {
                    "linkedin_url": url,
                    "full_name": "Person 0",
                    "title": "Head of Engineering",
                    "company": "Co",
                }
            ]
        },
    )
    assert user.get("/v1/notifications").json["notifications"][0]["kind"] == "promotion"
    assert len(user.get("/v1/crm/deliveries").json["deliveries"]) == 1


def test_r21_disabling_someone_not_tracked_frees_nothing(api):
    urls = api.directory(1)
    user = api.account(tracking=5)
    r = user.post("/v1/tracking/disable", people(urls))
    assert r.json["disabled"] == 0 and r.json["credits"]["balance"]["tracking"] == 5


def test_r22_an_import_changing_more_people_than_one_statement_can_bind_notifies_not_a_500(api):
    """PostgreSQL binds at most 65,535 parameters per statement; the import allows 100,000 people."""
    rows = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/p-{i}",
            "full_name": "P",
            "title": "Eng",
            "company": "Co",
        }
        for i in range(70_000)
    ]
    assert api.admin.post("/v1/admin/directory", {"people": rows}).status_code == 200
    user = api.account()
    user.post("/v1/tracking", people([rows[-1]["linkedin_url"]]))
    for row in rows:
        row["company"] = "NewCo"
    r = api.admin.post("/v1/admin/directory", {"people": rows})
    assert r.status_code == 200 and r.json == {"created": 0, "updated": 70_000}
    assert [n["kind"] for n in user.get("/v1/notifications").json["notifications"]] == ["job_change"]
