"""api.md "More conventions", Pagination: every listing takes `limit` (1..500, default 50) and an opaque
`cursor`, answers `next_cursor` (null on the last page), refuses a cursor that is forged or comes from
another listing or account, and, followed page by page while rows are being added, answers every row
that existed when paging began exactly once."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from backend.persistence.tables import CrmDelivery, ListLead, Person

BASE = datetime(2026, 1, 1, tzinfo=UTC)
PRE_EXISTING = 1200


def listings(user, list_id):
    """(path, key) of every listing an account has today."""
    return [
        ("/v1/lists", "lists"),
        (f"/v1/lists/{list_id}/leads", "leads"),
        ("/v1/sequences", "sequences"),
        ("/v1/saved-searches", "saved_searches"),
        ("/v1/tracking", "tracked"),
        ("/v1/notifications", "notifications"),
        ("/v1/crm/connections", "connections"),
        ("/v1/crm/deliveries", "deliveries"),
        ("/v1/credits/ledger", "entries"),
    ]


def three_of_everything(api):
    """An account with three rows in every listing, made through the API."""
    urls = api.directory(3)
    user = api.account(tracking=5)
    lid = None
    for i in range(3):
        lid = lid or user.post("/v1/lists", {"name": f"L{i}"}).json["id"]
        if i:
            user.post("/v1/lists", {"name": f"L{i}"})
        user.post("/v1/sequences", {"name": f"S{i}"})
        user.post("/v1/saved-searches", {"name": f"Q{i}", "query": {"q": "x"}})
        config = {"url": f"http://127.0.0.1:9/h{i}"}
        cid = user.post("/v1/crm/connections", {"kind": "webhook", "name": f"h{i}", "config": config}).json[
            "id"
        ]
        user.post(
            "/v1/extension/list-and-crm", {"linkedin_url": urls[i], "list_id": lid, "connection_id": cid}
        )
    user.post("/v1/tracking", {"people": [{"linkedin_url": u} for u in urls]})
    moved = [{"linkedin_url": u, "full_name": "P", "title": "Engineer", "company": "Elsewhere"} for u in urls]
    assert api.admin.post("/v1/admin/directory", {"people": moved}).status_code == 200
    return user, lid


def follow(user, path, key, limit, between=lambda: None, ident=lambda row: row["id"]):
    """Every row of a listing, page by page; `between` runs after each page but the last."""
    seen, cursor = [], None
    for _ in range(400):  # bounded: 1,200 rows and what is added meanwhile, at 70 a page
        sep = "&" if "?" in path else "?"
        r = user.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.json
        assert len(r.json[key]) <= limit
        seen += [ident(row) for row in r.json[key]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            return seen
        between()
    raise AssertionError(f"{path} never ended")


def test_every_listing_pages_with_limit_and_cursor_and_ends_with_a_null_cursor(api):
    user, lid = three_of_everything(api)
    for path, key in listings(user, lid):
        whole = user.get(path).json
        assert whole["next_cursor"] is None and len(whole[key]) >= 3, path
        ident = {"leads": lambda r: r["person_id"], "tracked": lambda r: r["person_id"]}.get(
            key, lambda r: r["id"]
        )
        paged = follow(user, path, key, 2, ident=ident)
        assert paged == [ident(row) for row in whole[key]], path  # the same rows, in the one order


@pytest.mark.parametrize("limit", ["0", "501", "ten", "-1", "1.5"])
def test_a_limit_out_of_range_or_not_a_whole_number_is_422_on_every_listing(api, limit):
    user, lid = three_of_everything(api)
    for path, _ in listings(user, lid):
        r = user.get(f"{path}?limit={limit}")
        assert r.status_code == 422 and r.json["code"] == "validation_error", (path, r.json)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert "limit" in r.json["errors"], path


def test_a_cursor_forged_or_of_another_listing_or_account_is_422_naming_the_problem(api):
    user, lid = three_of_everything(api)
    other, other_list = three_of_everything(api)
    lists_cursor = user.get("/v1/lists?limit=1").json["next_cursor"]
    leads_cursor = user.get(f"/v1/lists/{lid}/leads?limit=1").json["next_cursor"]

    def refused(client, path, cursor, message):
        r = client.get(f"{path}{'&' if '?' in path else '?'}limit=1&cursor={cursor}")
        assert r.status_code == 422 and r.json["code"] == "validation_error", (path, r.json)
        assert r.json["errors"]["cursor"] == [message], (path, r.json)

    for path in ("/v1/sequences", "/v1/crm/deliveries", "/v1/credits/ledger", "/v1/search/people"):
        refused(user, path, lists_cursor, "cursor of another listing")
    refused(other, "/v1/lists", lists_cursor, "cursor of another account, list or filter")
    refused(other, f"/v1/lists/{other_list}/leads", leads_cursor, "cursor of another account, list or filter")
    refused(
        user,
        "/v1/crm/deliveries?status=pending",
        user.get("/v1/crm/deliveries?limit=1").json["next_cursor"],
        "cursor of another account, list or filter",
    )
    edited = lists_cursor[:-2] + ("AA" if not lists_cursor.endswith("AA") else "BB")
    for forged in (edited, "abc", "not base64!", "719456146850101069646592475136", "e30"):
        refused(user, "/v1/lists", forged, "invalid cursor")
    assert user.get(f"/v1/lists?limit=1&cursor={lists_cursor}").status_code == 200  # the real one works


class Writer(threading.Thread):
    """Adds rows in its own transactions while a reader pages; `wait_for_more` lets the reader make
    sure at least one batch committed between two of its pages."""

    def __init__(self, store, add_batch, batches=60):
        super().__init__(daemon=True)
        self.store, self.add_batch, self.batches = store, add_batch, batches
        self.done, self.stop, self.error = 0, threading.Event(), None
        self.more = threading.Condition()

    def run(self):
        try:
            for i in range(self.batches):
                if self.stop.is_set():
                    return
                self.store.run(lambda uow, i=i: self.add_batch(uow, i))
                with self.more:
                    self.done += 1
                    self.more.notify_all()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            with self.more:
                self.more.notify_all()

    def wait_for_more(self):
        with self.more:
            before = self.done
            self.more.wait_for(lambda: self.done > before or self.error or self.done >= self.batches, 30)


def add_people(uow, n) -> list[str]:
    rows = [{"id": str(uuid.uuid4()), "linkedin_url": None, "created_at": BASE} for _ in range(n)]
    uow.execute(insert(Person.__table__), rows)
    return [r["id"] for r in rows]


def delivery_rows(account_id, connection_id, person_ids, at) -> list[dict]:
    return [
        {
            "id": str(uuid.uuid4()),
            "account_id": account_id,
            "connection_id": connection_id,
            "person_id": pid,
            "payload": {},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": when,
            "created_at": when,
            "updated_at": when,
        }
        for pid, when in zip(person_ids, at, strict=True)
    ]


def tied(n):
    """Timestamps 100 at a time alike: the order's tie-breaker decides."""
    return [BASE + timedelta(seconds=i // 100) for i in range(n)]


def between_and_beyond(i, n=5):
    """A batch of new keys: after every row (now), inside the range and tied with existing rows
    (a transaction committing late with a smaller key), and before every row."""
    return (
        [datetime.now(UTC)] * 2
        + [BASE + timedelta(seconds=i % 12)] * 2
        + [BASE - timedelta(days=1)] * (n - 4)
    )


def test_1200_deliveries_paged_while_more_are_added_answer_every_pre_existing_one_once(api, app):
    store = app.extensions["store"]
    user = api.account()
    cid = user.post(
        "/v1/crm/connections", {"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/h"}}
    ).json["id"]

    def add(uow, n, at):
        rows = delivery_rows(user.account_id, cid, add_people(uow, n), at)
        uow.execute(insert(CrmDelivery.__table__), rows)
        return [r["id"] for r in rows]

    existing = store.run(lambda uow: add(uow, PRE_EXISTING, tied(PRE_EXISTING)))
    writer = Writer(store, lambda uow, i: add(uow, 5, between_and_beyond(i)))
    writer.start()
    try:
        seen = follow(user, "/v1/crm/deliveries", "deliveries", 70, writer.wait_for_more)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None and writer.done >= 17  # a batch landed between every two pages
    assert len(seen) == len(set(seen))  # nothing twice, added rows included
    assert set(existing) <= set(seen)  # every pre-existing delivery, none cut at 500


def test_1200_list_leads_paged_while_more_are_added_answer_every_pre_existing_one_once(api, app):
    store = app.extensions["store"]
    user = api.account()
    lid = user.post("/v1/lists", {"name": "big"}).json["id"]

    def add(uow, n, at):
        people = add_people(uow, n)
        rows = [
            {"list_id": lid, "person_id": p, "added_by": None, "created_at": t}
            for p, t in zip(people, at, strict=True)
        ]
        uow.execute(insert(ListLead.__table__), rows)
        return people

    existing = store.run(lambda uow: add(uow, PRE_EXISTING, tied(PRE_EXISTING)))
    writer = Writer(store, lambda uow, i: add(uow, 5, between_and_beyond(i)))
    writer.start()
    try:
        seen = follow(
            user, f"/v1/lists/{lid}/leads", "leads", 70, writer.wait_for_more, lambda r: r["person_id"]
        )
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None and writer.done >= 17
    assert len(seen) == len(set(seen))
    assert set(existing) <= set(seen)
