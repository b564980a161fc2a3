"""The CRM outbox end to end: a real webhook receiver on 127.0.0.1, the sender's retries and
backoff, permanent failures, re-queueing; credits never charged again (R11, R6)."""

import json
import time

import pytest
import standardwebhooks
from sqlalchemy import update

from backend.domain.credits import MILLI, CreditType
from backend.jobs.deliveries import DeliverySender
from backend.services import charge_guard, crm, extension, outbox
from backend.services.people import PersonRef
from tests.conftest import app_settings
from tests.receiver import Receiver


class Clock:
    """Injected time: backoff and leases pass in microseconds."""

    def __init__(self):
        self.t = time.time()

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


@pytest.fixture
def receiver():
    r = Receiver(fail_first=2)
    yield r
    r.close()


def export(store, world, url):
    actor = world.account()
    [person] = world.people(1)
    conn = store.run(lambda uow: crm.create_connection(uow, actor, "webhook", "hook", {"url": url}, True))
    out = store.run(
        lambda uow: extension.crm_export(uow, actor, PersonRef.parse({"linkedin_url": person}), conn["id"])
    )
    return actor, conn, out["delivery"]["id"]


def drain(sender, clock, rounds=20, step=3600):
    for _ in range(rounds):
        sender.run_once()
        clock.advance(step)


def delivery(store, actor, delivery_id):
    return next(
        d
        for d in store.run(lambda uow: crm.deliveries(uow, actor, None))["deliveries"]
        if d["id"] == delivery_id
    )


def test_r11_lead_arrives_once_after_two_failures_same_webhook_id(store, world, receiver, db_url):
    actor, conn, delivery_id = export(store, world, receiver.url)
    clock = Clock()  # no backoff here, so the signature's timestamp stays within the verifier's tolerance
    sender = DeliverySender(store, app_settings(db_url, crm_backoff_base=0), clock=clock)
    drain(sender, clock, step=0)
    assert len(receiver.attempts) == 3
    assert {a["headers"]["webhook-id"] for a in receiver.attempts} == {delivery_id}
    final = delivery(store, actor, delivery_id)
    assert (final["status"], final["attempts"]) == ("delivered", 3)
    balance = store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL]
    assert balance == 99 * MILLI
    last = receiver.attempts[-1]
    body = standardwebhooks.Webhook(conn["secret"]).verify(last["body"], last["headers"])
    assert body["data"]["email"] == "p0@co.example"
    assert json.loads(last["body"])["data"]["phone"] is None  # R11: no phone the account does not hold


def test_retryable_failures_end_dead_only_after_the_attempts_and_the_give_up_time(store, world, db_url):
    """api.md "Flow control": dead after CRM_MAX_ATTEMPTS failed attempts AND no sooner than
    CRM_GIVE_UP_AFTER after the first; the spent attempts wait for that time to try once more."""
    always_down = Receiver(fail_first=100, status=503)
    try:
        actor, _, delivery_id = export(store, world, always_down.url)
        clock = Clock()
        settings = app_settings(db_url, crm_max_attempts=4, crm_give_up_after=86_400)
        sender = DeliverySender(store, settings, clock=clock)
        drain(sender, clock, rounds=10)  # ten hours: the four attempts are spent, the day is not
        waiting = delivery(store, actor, delivery_id)
        assert (waiting["status"], waiting["attempts"], len(always_down.attempts)) == ("pending", 4, 4)
        drain(sender, clock, rounds=15)  # past the day since the first attempt
        final = delivery(store, actor, delivery_id)
        assert (final["status"], final["attempts"], len(always_down.attempts)) == ("dead", 5, 5)
        assert "503" in final["last_error"]
    finally:
        always_down.close()


def test_backoff_waits_before_the_next_attempt(store, world, receiver, db_url):
    actor, _, delivery_id = export(store, world, receiver.url)
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url, crm_backoff_base=60), clock=clock)
    sender.run_once()
    sender.run_once()  # not due yet: no second attempt at the same instant
    assert len(receiver.attempts) == 1
    assert delivery(store, actor, delivery_id)["status"] == "pending"


def test_permanent_failure_is_failed_with_the_message_and_retry_requeues_without_charging(
    store, world, db_url
):
    refusing = Receiver(fail_first=1, status=308)  # a moved URL: 410 pauses instead
    try:
        actor, conn, delivery_id = export(store, world, refusing.url)
        clock = Clock()
        sender = DeliverySender(store, app_settings(db_url), clock=clock)
        drain(sender, clock, rounds=3)
        failed = delivery(store, actor, delivery_id)
        assert failed["status"] == "failed" and "308" in failed["last_error"]
        health = store.run(lambda uow: crm.all_connections(uow, actor))["connections"][0]
        assert health["last_error"] and health["last_success_at"] is None
        store.run(lambda uow: crm.retry(uow, actor, delivery_id))
        drain(sender, clock, rounds=2)
        assert delivery(store, actor, delivery_id)["status"] == "delivered"
        assert (
            store.run(lambda uow: crm.all_connections(uow, actor))["connections"][0]["last_success_at"]
            is not None
        )
        balance = store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL]
        assert balance == 99 * MILLI
    finally:
        refusing.close()


def test_a_target_refused_at_delivery_time_fails_without_sending(store, world, db_url, receiver):
    actor, _, delivery_id = export(store, world, receiver.url)
    clock = Clock()
    sender = DeliverySender(store, app_settings(db_url, crm_allow_private_networks=False), clock=clock)
    drain(sender, clock, rounds=2)
    final = delivery(store, actor, delivery_id)
    assert final["status"] == "failed" and "refused" in final["last_error"]
    assert receiver.attempts == []


def test_r22_a_tracked_persons_job_change_reaches_the_webhook_signed(store, world, receiver, db_url):
    from backend.services import directory, tracking

    actor = world.account()
    [url] = world.people(1)
    conn = store.run(
        lambda uow: crm.create_connection(uow, actor, "webhook", "hook", {"url": receiver.url}, True)
    )
    store.run(lambda uow: tracking.track(uow, actor, [PersonRef.parse({"linkedin_url": url})]))
    moved = {"linkedin_url": url, "full_name": "Person 0", "title": "Engineer", "company": "Elsewhere"}
    store.run(lambda uow: directory.import_people(uow, [moved]))
    clock = Clock()
    drain(DeliverySender(store, app_settings(db_url, crm_backoff_base=0), clock=clock), clock, step=0)
    last = receiver.attempts[-1]
    event = standardwebhooks.Webhook(conn["secret"]).verify(last["body"], last["headers"])
    assert event["type"] == "contact.job_change"
    assert event["data"]["after"]["company"] == "Elsewhere" and event["data"]["before"]["company"] == "Co 0"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one writer, nothing interleaves
def test_a_retry_that_read_the_delivery_before_a_concurrent_retry_leaves_the_new_claim_alone(
    store, world, db_url, monkeypatch
):
    """Two retries of one failed delivery at once: the first re-queues it and a sender claims it
    before the second writes. The second must not reset the claim (attempts, lease), or a second
    sender sends it again while the first one's outcome is thrown away."""
    receiver = Receiver()
    try:
        actor, _, delivery_id = export(store, world, receiver.url)
        store.run(
            lambda uow: uow.execute(
                update(crm.DELIVERIES).where(crm.DELIVERIES.c.id == delivery_id).values(status="failed")
            )
        )
        clock = Clock()
        sender = DeliverySender(store, app_settings(db_url), clock=clock)
        get, claims = crm.owned.get, []

        def read_then_let_the_other_retry_and_a_sender_in(*args):
            row = get(*args)
            monkeypatch.setattr(crm.owned, "get", get)
            store.run(lambda uow: crm.retry(uow, actor, delivery_id))
            clock.advance(1)
            claims.extend(store.run(lambda uow: outbox.claim_due(uow, sender.now(), sender.policy, 10)))
            return row

        monkeypatch.setattr(crm.owned, "get", read_then_let_the_other_retry_and_a_sender_in)
        store.run(lambda uow: crm.retry(uow, actor, delivery_id))
        [claim] = claims
        sender.send(claim)
        final = delivery(store, actor, delivery_id)
        assert (final["status"], final["attempts"]) == ("delivered", 1)
        clock.advance(1)
        assert sender.run_once() == 0 and len(receiver.attempts) == 1
    finally:
        receiver.close()
