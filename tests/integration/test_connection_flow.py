"""Flow control of the CRM outbox (api.md "CRM connections that keep working"): a connection that is
not active holds its deliveries without failing them, rate limits lift by themselves, waits never
count as attempts, refused credentials notify the account once, HubSpot deliveries go in batches."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import responses
import standardwebhooks
from sqlalchemy import func, select

from adapters.crm.base import AuthRefused, ConnectionGone, RateLimited
from backend.jobs.deliveries import DeliverySender
from backend.persistence.tables import Notification
from backend.services import connection_status, crm, extension, notices, outbox
from backend.services.pages import PageRequest
from backend.services.people import PersonRef
from tests.conftest import app_settings
from tests.fake_crm_plugin import installed
from tests.receiver import Receiver


class Clock:
    def __init__(self):
        self.t = time.time()

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


@pytest.fixture
def scripted(monkeypatch):
    yield from installed(monkeypatch)


def connect(store, actor, kind, config):
    return store.run(lambda uow: crm.create_connection(uow, actor, kind, kind, config, True))


def export(store, world, actor, connection_id, n, start=0):
    ids = []
    for url in world.people(n, start=start):
        ref = PersonRef.parse({"linkedin_url": url})
        out = store.run(lambda uow, ref=ref: extension.crm_export(uow, actor, ref, connection_id))
        ids.append(out["delivery"]["id"])
    return ids


def deliveries(store, actor):
    page = store.run(lambda uow: crm.deliveries(uow, actor, None, PageRequest(limit=500)))
    return {d["id"]: d for d in page["deliveries"]}


def connection(store, actor, connection_id):
    [found] = [
        c
        for c in store.run(lambda uow: crm.all_connections(uow, actor))["connections"]
        if c["id"] == connection_id
    ]
    return found


def drain(sender, clock, rounds=40, step=0):
    for _ in range(rounds):
        if not sender.run_once():
            return
        clock.advance(step)


def test_a_daily_limit_pauses_the_connection_until_the_reset_and_the_queue_flows_after_it(
    store, world, db_url, scripted
):
    """The 50 deliveries queued behind the one that met the limit are neither sent nor failed while it
    lasts, and are delivered after it without a retry, their attempts unchanged by the wait."""
    actor = world.account()
    conn = connect(store, actor, "scripted", {"token": "t"})
    ids = export(store, world, actor, conn["id"], 51)
    clock = Clock()
    reset = (datetime.fromtimestamp(clock.t, UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    scripted.script.append(
        RateLimited("Scripted CRM answered 429: daily limit", retry_after=reset.timestamp() - clock.t)
    )
    sender = DeliverySender(store, app_settings(db_url), clock=clock)
    drain(sender, clock, step=60)
    limited = connection(store, actor, conn["id"])
    assert limited["status"] == "rate_limited" and "daily limit" in limited["status_reason"]
    assert abs(limited["paused_until"] - reset) < timedelta(seconds=1)
    assert len(scripted.pushed) == 1
    assert {(d["status"], d["attempts"]) for d in deliveries(store, actor).values()} == {("pending", 0)}
    clock.t = reset.timestamp() + 1
    drain(sender, clock)
    after = deliveries(store, actor)
    assert {(after[i]["status"], after[i]["attempts"]) for i in ids} == {("delivered", 1)}
    assert len(scripted.pushed) == 52
    healthy = connection(store, actor, conn["id"])
    assert (healthy["status"], healthy["paused_until"], healthy["status_reason"]) == ("active", None, None)
    first = store.run(lambda uow: crm.get_delivery(uow, actor, scripted.pushed[0][0]))
    assert [a["counted"] for a in first["attempts"]] == [False, True]


def test_a_rate_limit_without_a_time_pauses_for_the_configured_pause(store, world, db_url, scripted):
    actor = world.account()
    conn = connect(store, actor, "scripted", {"token": "t"})
    export(store, world, actor, conn["id"], 1)
    scripted.script.append(RateLimited("Scripted CRM answered 429"))
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url, crm_rate_limit_pause=90), clock=clock)
    sender.run_once()
    until = connection(store, actor, conn["id"])["paused_until"]
    assert abs(until - datetime.fromtimestamp(clock.t + 90, UTC)) < timedelta(seconds=1)
    clock.advance(89)
    assert sender.run_once() == 0
    clock.advance(2)
    assert sender.run_once() == 1 and len(scripted.pushed) == 2


def test_a_success_in_flight_never_lifts_a_pause_a_concurrent_429_set(store, world, db_url, scripted):
    actor = world.account()
    conn = connect(store, actor, "scripted", {"token": "t"})
    export(store, world, actor, conn["id"], 2)
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url), clock=clock)
    first, second = store.run(lambda uow: outbox.claim_due(uow, sender.now(), sender.policy, 10))
    until = sender.now() + timedelta(minutes=5)
    store.run(lambda uow: outbox.rate_limited(uow, first, until, outbox.Attempt(sender.now(), 429, "429")))
    store.run(lambda uow: outbox.delivered(uow, second, "x", outbox.Attempt(sender.now(), 200)))
    conn_now = connection(store, actor, conn["id"])
    assert conn_now["status"] == "rate_limited" and conn_now["last_success_at"] is not None
    shorter = sender.now() + timedelta(minutes=1)
    store.run(lambda uow: connection_status.rate_limited(uow, conn["id"], shorter, "another 429"))
    assert connection(store, actor, conn["id"])["paused_until"] == until  # only ever extended


@responses.activate
def test_thirty_due_hubspot_deliveries_go_in_one_batch_request_each_with_its_outcome(store, world, db_url):
    actor = world.account()
    conn = connect(store, actor, "hubspot", {"access_token": "pat-secret", "base_url": "http://127.0.0.1:9"})
    ids = export(store, world, actor, conn["id"], 30)

    def upsert(request):
        inputs = json.loads(request.body)["inputs"]
        results = [
            {"id": f"c{n}", "objectWriteTraceId": i["objectWriteTraceId"], "properties": {"email": i["id"]}}
            for n, i in enumerate(inputs[1:])
        ]
        refused = {
            "status": "error",
            "message": "bad phone",
            "context": {"ids": [inputs[0]["objectWriteTraceId"]]},
        }
        return 207, {}, json.dumps({"results": results, "errors": [refused]})

    responses.add_callback(responses.POST, "http://127.0.0.1:9/crm/v3/objects/contacts/batch/upsert", upsert)
    clock = Clock()
    DeliverySender(store, app_settings(db_url), clock=clock).run_once()
    assert len(responses.calls) == 1
    assert len(json.loads(responses.calls[0].request.body)["inputs"]) == 30
    out = deliveries(store, actor)
    statuses = sorted(out[i]["status"] for i in ids)
    assert statuses == ["delivered"] * 29 + ["failed"]
    assert {out[i]["attempts"] for i in ids} == {1}


def test_a_receiver_that_is_gone_pauses_its_connection_with_the_reason(store, world, db_url, scripted):
    actor = world.account()
    conn = connect(store, actor, "scripted", {"token": "t"})
    ids = export(store, world, actor, conn["id"], 3)
    scripted.script.append(ConnectionGone("The webhook receiver answered 410 Gone"))
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url), clock=clock)
    drain(sender, clock, step=3600)
    paused = connection(store, actor, conn["id"])
    assert (paused["status"], paused["status_reason"]) == ("paused", "The webhook receiver answered 410 Gone")
    assert len(scripted.pushed) == 1
    assert {(d["status"], d["attempts"]) for d in deliveries(store, actor).values()} == {("pending", 0)}
    store.run(lambda uow: connection_status.set_paused(uow, conn["id"], False))
    drain(sender, clock)
    assert {deliveries(store, actor)[i]["status"] for i in ids} == {"delivered"}


def test_a_paused_connection_sends_nothing_and_sends_all_once_resumed_without_a_retry(store, world, db_url):
    receiver = Receiver()
    try:
        actor = world.account()
        conn = connect(store, actor, "webhook", {"url": receiver.url})
        store.run(lambda uow: connection_status.set_paused(uow, conn["id"], True))
        ids = export(store, world, actor, conn["id"], 3)
        clock = Clock()
        sender = DeliverySender(store, app_settings(db_url), clock=clock)
        drain(sender, clock, rounds=3, step=3600)
        assert receiver.attempts == []
        assert {(d["status"], d["attempts"]) for d in deliveries(store, actor).values()} == {("pending", 0)}
        store.run(lambda uow: connection_status.set_paused(uow, conn["id"], False))
        drain(sender, clock)
        assert len(receiver.attempts) == 3
        assert {
            (deliveries(store, actor)[i]["status"], deliveries(store, actor)[i]["attempts"]) for i in ids
        } == {("delivered", 1)}
    finally:
        receiver.close()


def test_refused_credentials_hold_the_deliveries_and_notify_once_with_one_signed_event(
    store, world, db_url, scripted
):
    receiver = Receiver()
    try:
        actor = world.account()
        hook = connect(store, actor, "webhook", {"url": receiver.url})
        conn = connect(store, actor, "scripted", {"token": "old-token"})
        ids = export(store, world, actor, conn["id"], 3)
        scripted.script += [AuthRefused("Scripted CRM answered 401: token expired")] * 3
        clock = Clock()
        sender = DeliverySender(store, app_settings(db_url, crm_backoff_base=0), clock=clock)
        drain(sender, clock, step=1)  # the event is queued at the wall clock's now
        refused = connection(store, actor, conn["id"])
        assert (refused["status"], refused["status_reason"]) == (
            "needs_reauth",
            "Scripted CRM answered 401: token expired",
        )
        held = deliveries(store, actor)
        assert {(held[i]["status"], held[i]["attempts"]) for i in ids} == {("pending", 0)}
        [note] = store.run(lambda uow: notices.notifications(uow, actor.account_id, PageRequest(limit=10)))[
            "notifications"
        ]
        assert note["kind"] == "crm_needs_reauth" and note["detail"]["connection_id"] == conn["id"]
        [event] = receiver.attempts
        body = standardwebhooks.Webhook(hook["secret"]).verify(event["body"], event["headers"])
        assert body["type"] == "crm.connection.needs_reauth"
        assert body["data"] == {
            "connection_id": conn["id"],
            "kind": "scripted",
            "error": "Scripted CRM answered 401: token expired",
        }
        assert event["headers"]["webhook-id"].startswith("evt_")
        assert "old-token" not in event["body"].decode()
        scripted.script.clear()
        store.run(
            lambda uow: crm.update_connection(
                uow, actor, conn["id"], {"config": {"token": "new-token"}}, True
            )
        )
        drain(sender, clock)
        assert {deliveries(store, actor)[i]["status"] for i in ids} == {"delivered"}
        assert {token for _, token in scripted.pushed[1:]} == {"new-token"}
    finally:
        receiver.close()


def test_concurrent_refusals_of_one_connection_notify_exactly_once(store, world, db_url, scripted):
    actor = world.account()
    conn = connect(store, actor, "scripted", {"token": "t"})
    export(store, world, actor, conn["id"], 8)
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url), clock=clock)
    claims = store.run(lambda uow: outbox.claim_due(uow, sender.now(), sender.policy, 10))
    start = threading.Barrier(len(claims))

    def refuse(claim):
        start.wait(10)
        store.run(lambda uow: outbox.refused(uow, claim, outbox.Attempt(sender.now(), 401, "401 refused")))

    threads = [threading.Thread(target=refuse, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    count = store.run(lambda uow: uow.execute(select(func.count()).select_from(Notification)).scalar())
    assert (len(claims), count) == (8, 1)
    assert connection(store, actor, conn["id"])["status"] == "needs_reauth"


def test_a_delivery_cancelled_in_flight_stays_cancelled_unless_it_arrived(store, world, db_url, scripted):
    actor = world.account()
    conn = connect(store, actor, "scripted", {"token": "t"})
    export(store, world, actor, conn["id"], 2)
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url), clock=clock)
    sent, failing = store.run(lambda uow: outbox.claim_due(uow, sender.now(), sender.policy, 10))
    store.run(lambda uow: crm.delete_connection(uow, actor, conn["id"]))
    store.run(lambda uow: outbox.delivered(uow, sent, "x", outbox.Attempt(sender.now(), 200)))
    store.run(
        lambda uow: outbox.failed(
            uow, failing, True, None, outbox.Attempt(sender.now(), 503, "503"), sender.policy
        )
    )
    out = deliveries(store, actor)
    assert (out[sent.id]["status"], out[failing.id]["status"]) == ("delivered", "cancelled")
    clock.advance(3600)
    assert sender.run_once() == 0


@responses.activate
def test_hubspots_daily_limit_pauses_until_midnight_in_the_portals_zone_then_all_go_uncounted(
    store, world, db_url
):
    actor = world.account()
    config = {"access_token": "pat-secret", "base_url": "http://127.0.0.1:9", "time_zone": "Europe/Paris"}
    conn = connect(store, actor, "hubspot", config)
    ids = export(store, world, actor, conn["id"], 51)
    upsert = "http://127.0.0.1:9/crm/v3/objects/contacts/batch/upsert"
    daily = {"status": "error", "message": "You have reached your daily limit.", "policyName": "DAILY"}

    def upsert_answer(request):
        if len(responses.calls) == 0:  # the first request meets the daily limit
            return 429, {}, json.dumps(daily)
        inputs = json.loads(request.body)["inputs"]
        results = [
            {"id": f"c{n}", "objectWriteTraceId": i["objectWriteTraceId"], "properties": {"email": i["id"]}}
            for n, i in enumerate(inputs)
        ]
        return 200, {}, json.dumps({"results": results, "errors": []})

    responses.add_callback(responses.POST, upsert, upsert_answer)
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url), clock=clock)
    drain(sender, clock, step=60)
    paris = ZoneInfo("Europe/Paris")
    midnight = (datetime.fromtimestamp(clock.t, paris) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    limited = connection(store, actor, conn["id"])
    assert limited["status"] == "rate_limited" and "daily limit" in limited["status_reason"]
    assert abs(limited["paused_until"] - midnight) < timedelta(minutes=2)
    assert len(responses.calls) == 1
    assert {(d["status"], d["attempts"]) for d in deliveries(store, actor).values()} == {("pending", 0)}
    clock.t = limited["paused_until"].timestamp() + 1
    drain(sender, clock)
    after = deliveries(store, actor)
    assert {(after[i]["status"], after[i]["attempts"]) for i in ids} == {("delivered", 1)}
    assert len(responses.calls) == 2  # the 51 went in one more request
    assert "pat-secret" not in limited["status_reason"]


def test_a_webhook_receiver_answering_410_pauses_its_connection_with_the_reason(store, world, db_url):
    gone = Receiver(fail_first=1, status=410)
    try:
        actor = world.account()
        conn = connect(store, actor, "webhook", {"url": gone.url})
        ids = export(store, world, actor, conn["id"], 2)
        clock = Clock()
        sender = DeliverySender(store, app_settings(db_url), clock=clock)
        drain(sender, clock, step=3600)
        paused = connection(store, actor, conn["id"])
        assert paused["status"] == "paused" and "410" in paused["status_reason"]
        assert len(gone.attempts) == 1
        assert {
            (deliveries(store, actor)[i]["status"], deliveries(store, actor)[i]["attempts"]) for i in ids
        } == {("pending", 0)}
    finally:
        gone.close()
