"""GET /v1/credits/usage and the ledger's filters through the API (api.md "Usage, limits and
alerts"), on both engines; bulk jobs run in the request's thread (queue_immediate)."""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from backend.app import create_app
from backend.persistence.tables import LedgerEntry
from tests.conftest import app_settings, remove_queue_file

LEDGER = LedgerEntry.__table__
TODAY = datetime.now(UTC).date()
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture
def app(db_url):
    """The app with jobs run where they are queued, so a bulk job is done when its POST answers."""
    settings = app_settings(db_url, queue_name="ll-usage-" + uuid.uuid4().hex[:8], queue_immediate=True)
    app = create_app(settings)
    yield app
    remove_queue_file(settings)
    app.extensions["store"].engine.dispose()


def redate(app, when: datetime, **where) -> None:
    """Move ledger entries in time (the services stamp them now)."""
    cond = [LEDGER.c[k] == v for k, v in where.items()]
    app.extensions["store"].run(lambda uow: uow.execute(update(LEDGER).where(*cond).values(created_at=when)))


def usage(client, query="", **headers):
    r = client.get(f"/v1/credits/usage?{query}", **headers)
    assert r.status_code == 200, r.json
    return r.json


@pytest.fixture
def busy(api):
    """An account that revealed 3 people (email and phone), tracked 2 and let one go, and whose
    teammate revealed 1 more."""
    urls = api.directory(5)
    user = api.account(email=100, phone=10, tracking=5)
    for u in urls[:3]:
        assert (
            user.post("/v1/extension/reveal", {"linkedin_url": u, "fields": ["email", "phone"]}).status_code
            == 200
        )
    user.post("/v1/tracking", {"people": [{"linkedin_url": u} for u in urls[:2]]})
    user.post("/v1/tracking/disable", {"people": [{"linkedin_url": urls[0]}]})
    mate = api.teammate(user)
    mate.post("/v1/extension/reveal", {"linkedin_url": urls[3]})
    user.mate = mate
    user.urls = urls
    return user


def test_usage_by_action_sums_charges_holds_releases_and_grants(busy):
    out = usage(busy, "group_by=action")
    rows = {(r["action"], r["credit_type"]): r for r in out["rows"]}
    assert rows["reveal", "email"] == {
        "action": "reveal",
        "credit_type": "email",
        "used": 4,
        "released": 0,
        "granted": 0,
    }
    assert rows["reveal", "phone"]["used"] == 3
    assert rows["tracking_hold", "tracking"]["used"] == 2
    assert rows["tracking_release", "tracking"]["released"] == 1
    assert rows["grant", "email"]["granted"] == 100
    assert out["totals"] == {
        "email": {"used": 4, "released": 0, "granted": 100},
        "phone": {"used": 3, "released": 0, "granted": 10},
        "tracking": {"used": 2, "released": 1, "granted": 5},
    }
    assert out["next_cursor"] is None
    assert (out["from"], out["to"]) == ((TOMORROW - timedelta(days=30)).isoformat(), TOMORROW.isoformat())


def test_usage_per_user_and_the_user_filter(busy):
    me = busy.get("/v1/me").json["user_id"]
    rows = usage(busy, "group_by=user&credit_type=email")["rows"]
    by_user = {r["user_id"]: r["used"] for r in rows}
    assert by_user[me] == 3
    assert sorted(by_user.values()) == [0, 1, 3]  # the operator's grants have no user: used 0
    assert None in by_user
    mate = next(u for u, used in by_user.items() if used == 1)
    only = usage(busy, f"user_id={mate}")
    assert only["totals"]["email"] == {"used": 1, "released": 0, "granted": 0}
    ledger = busy.get(f"/v1/credits/ledger?user_id={mate}").json["entries"]
    assert [(e["action"], e["amount"]) for e in ledger] == [("reveal", -1)]


def test_a_user_of_another_account_or_of_none_is_a_404_that_reveals_nothing(api, busy):
    theirs = api.teammate(api.account()).get("/v1/me").json["user_id"]
    for uid in (theirs, str(uuid.uuid4()), "nobody"):
        for path in ("/v1/credits/usage", "/v1/credits/ledger"):
            r = busy.get(f"{path}?user_id={uid}")
            assert r.status_code == 404 and r.json["code"] == "not_found", r.json
            assert uid not in r.json["detail"]


def test_a_bulk_jobs_reservation_and_release_appear_in_no_row(api):
    urls = api.directory(6) + api.directory(2, start=6, email=False, phone=False)
    user = api.account(email=20)
    lid = user.post("/v1/lists", {"name": "L"}).json["id"]
    body = {
        "post_url": "https://www.linkedin.com/posts/x-1",
        "destination": "list",
        "list_id": lid,
        "engagers": [{"linkedin_url": u, "full_name": "N", "engagement": "like"} for u in urls],
    }
    r = user.post("/v1/extension/post-exports", body)
    assert r.status_code == 202, r.json
    job = user.get(f"/v1/jobs/{r.json['job']['id']}").json
    assert job["status"] == "succeeded", job
    entries = user.get("/v1/credits/ledger?credit_type=email&limit=500").json["entries"]
    actions = {e["action"] for e in entries}
    assert {"post_export_reserve", "post_export_reserve_applied"} <= actions  # R26: sized exactly
    out = usage(user, "group_by=action&credit_type=email")
    assert {(r["action"], r["used"]) for r in out["rows"]} == {("grant", 0), ("post_export", 6)}
    charged = -sum(e["amount"] for e in entries if e["action"] == "post_export")
    assert out["totals"]["email"]["used"] == charged == 6
    assert user.balance()["email"] == 20 - 6


def test_days_in_a_time_zone_start_at_its_midnight(api):
    user = api.account(email=3, phone=0, tracking=0)
    # 23:30 UTC on 2026-03-28 is 00:30 on the 29th in Paris (UTC+1 before the DST change that night)
    redate(api_app(api), datetime(2026, 3, 28, 23, 30, tzinfo=UTC), account_id=user.account_id)
    utc_rows = usage(user, "from=2026-03-01&to=2026-04-01")["rows"]
    assert [(r["period_start"], r["granted"]) for r in utc_rows if r["credit_type"] == "email"] == [
        ("2026-03-28T00:00:00+00:00", 3)
    ]
    paris = usage(user, "from=2026-03-01&to=2026-04-01&tz=Europe/Paris&group_by=day")["rows"]
    assert [(r["period_start"], r["granted"]) for r in paris if r["credit_type"] == "email"] == [
        ("2026-03-29T00:00:00+01:00", 3)
    ]
    weeks = usage(user, "from=2026-03-01&to=2026-04-01&tz=Europe/Paris&group_by=week")["rows"]
    assert [r["period_start"] for r in weeks if r["credit_type"] == "email"] == ["2026-03-23T00:00:00+01:00"]
    months = usage(user, "from=2026-03-10&to=2026-04-10&group_by=month,action")["rows"]
    assert [(r["period_start"], r["action"]) for r in months if r["credit_type"] == "email"] == [
        ("2026-03-01T00:00:00+00:00", "grant")
    ]


def api_app(api):
    return api.raw.application


def test_average_per_month_is_the_mean_of_the_last_three_whole_months(api):
    urls = api.directory(7)
    user = api.account(email=100)
    for u in urls:
        user.post("/v1/extension/reveal", {"linkedin_url": u})
    app = api_app(api)
    first_of_month = TODAY.replace(day=1)
    months_ago = [(first_of_month - timedelta(days=1)).replace(day=1)]
    for _ in range(3):
        months_ago.append((months_ago[-1] - timedelta(days=1)).replace(day=1))
    entries = app.extensions["store"].run(
        lambda uow: [
            r.id
            for r in uow.execute(
                LEDGER.select()
                .where(LEDGER.c.action == "reveal", LEDGER.c.account_id == user.account_id)
                .order_by(LEDGER.c.id)
            )
        ]
    )
    # 1 last month, 2 the month before, 1 three months ago, 1 four months ago (outside), 2 this month
    homes = [
        months_ago[0],
        months_ago[1],
        months_ago[1],
        months_ago[2],
        months_ago[3],
        first_of_month,
        first_of_month,
    ]
    for entry_id, day in zip(entries, homes, strict=True):
        redate(app, datetime(day.year, day.month, day.day, 12, tzinfo=UTC), id=entry_id)
    assert usage(user)["average_per_month"] == {"email": round(4 / 3, 3), "phone": 0, "tracking": 0}


def test_rows_page_in_the_documented_order_and_every_row_comes_once(busy):
    whole = usage(busy, "group_by=user,action&limit=500")["rows"]
    assert len(whole) >= 7
    keys = [((r["user_id"] or ""), r["action"], r["credit_type"]) for r in whole]
    assert keys == sorted(keys)
    seen, cursor = [], None
    for _ in range(20):
        page = usage(busy, "group_by=user,action&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["rows"]) <= 2 and page["totals"] == usage(busy, "group_by=user,action")["totals"]
        seen += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole


def test_a_cursor_of_another_listing_account_or_made_up_is_a_422(api, busy):
    cursor = usage(busy, "group_by=action&limit=1")["next_cursor"]
    assert cursor
    other = api.account()
    bad = [
        (busy, f"group_by=user&limit=1&cursor={cursor}"),  # another grouping
        (busy, f"group_by=action&credit_type=email&limit=1&cursor={cursor}"),  # other filters
        (other, f"group_by=action&limit=1&cursor={cursor}"),  # another account
        (busy, "group_by=action&cursor=" + cursor[:-1] + ("A" if cursor[-1] != "A" else "B")),
        (busy, "group_by=action&cursor=garbage"),
        (busy, "group_by=action&cursor=%C3%A9.%C3%A9"),
    ]
    for client, query in bad:
        r = client.get(f"/v1/credits/usage?{query}")
        assert r.status_code == 422 and "cursor" in r.json["errors"], (query, r.json)
    r = busy.get(f"/v1/credits/ledger?cursor={cursor}")
    assert r.status_code == 422


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("from=2026-03-10&to=2026-03-10", "to"),
        ("from=2025-01-01&to=2026-03-01", "to"),
        ("from=2020-01-01", "to"),
        ("group_by=hour", "group_by"),
        ("group_by=day,user,action", "group_by"),
        ("group_by=day,week", "group_by"),
        ("group_by=user,user", "group_by"),
        ("tz=Mars/Olympus_Mons", "tz"),
        ("tz=../../etc/passwd", "tz"),
        ("tz=" + "a" * 300, "tz"),
        ("tz=Europe/Paris%00", "tz"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("from=yesterday", "from"),
        ("action=list_export_reserve", "action"),
        ("credit_type=gold", "credit_type"),
        ("format=xml", "format"),
    ],
)
def test_bad_usage_input_is_a_422_that_says_what_to_do(api, query, field):
    user = api.account()
    r = user.get(f"/v1/credits/usage?{query}")
    assert r.status_code == 422, r.json
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["code"] == "validation_error" and field in r.json["errors"], r.json
    assert all(len(m) > 10 for m in r.json["errors"][field])


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("action=bogus", "action"),
        ("tz=Nowhere/Land", "tz"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=lots", "limit"),
    ],
)
def test_bad_ledger_filters_are_a_422(api, query, field):
    r = api.account().get(f"/v1/credits/ledger?{query}")
    assert r.status_code == 422 and field in r.json["errors"], r.json


def test_ledger_filters_by_action_and_dates_keep_the_cursor(api, busy):
    app = api_app(api)
    redate(app, datetime(2026, 3, 31, 23, 0, tzinfo=UTC), account_id=busy.account_id, action="grant")
    grants = busy.get("/v1/credits/ledger?action=grant").json["entries"]
    assert {e["action"] for e in grants} == {"grant"} and len(grants) == 3
    # 23:00 UTC on March 31st is April 1st in Paris
    march = busy.get("/v1/credits/ledger?from=2026-03-01&to=2026-04-01").json["entries"]
    april_paris = busy.get("/v1/credits/ledger?from=2026-04-01&to=2026-04-02&tz=Europe/Paris").json["entries"]
    assert len(march) == 3 and len(april_paris) == 3
    first = busy.get("/v1/credits/ledger?action=reveal&limit=3").json
    rest = busy.get(f"/v1/credits/ledger?action=reveal&limit=4&cursor={first['next_cursor']}").json
    ids = [e["id"] for e in first["entries"] + rest["entries"]]
    assert len(ids) == 7 and len(set(ids)) == 7 and rest["next_cursor"] is None


def test_usage_as_csv_is_every_row_of_the_range_in_one_download(busy):
    whole = usage(busy, "group_by=day,action&limit=500")
    for how in (
        {"query": "group_by=day,action&limit=1&format=csv"},
        {"query": "group_by=day,action&limit=1", "Accept": "text/csv"},
    ):
        query = how.pop("query")
        r = busy.get(f"/v1/credits/usage?{query}", **how)
        assert r.status_code == 200 and r.mimetype == "text/csv"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="usage-')
        rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
        assert list(rows[0]) == ["period_start", "action", "credit_type", "used", "released", "granted"]
        assert len(rows) == len(whole["rows"])
        assert [(r["action"], float(r["used"])) for r in rows] == [
            (w["action"], w["used"]) for w in whole["rows"]
        ]


def test_usage_is_documented_with_the_action_vocabulary(api):
    doc = api.raw.get("/openapi.json").json
    op = doc["paths"]["/v1/credits/usage"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"from", "to", "group_by", "credit_type", "user_id", "action", "tz", "limit", "cursor"} <= names
    action = next(p for p in op["parameters"] if p["name"] == "action")
    assert "tracking_release" in action["schema"]["enum"] and "grant" in action["schema"]["enum"]
    assert "text/csv" in op["responses"]["200"]["content"]
    ledger = {p["name"] for p in doc["paths"]["/v1/credits/ledger"]["get"]["parameters"]}
    assert {"user_id", "action", "from", "to"} <= ledger


def test_today_is_in_the_default_range(busy):
    assert usage(busy)["totals"]["email"]["used"] == 4
    assert date.fromisoformat(usage(busy)["to"]) == TOMORROW
