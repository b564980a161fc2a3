"""A worker killed in the middle of a send: the next worker re-sends after the lease, with the same
webhook-id, and nothing is charged again."""

import pytest

from backend.domain.credits import MILLI, CreditType
from backend.services import charge_guard, crm, extension
from backend.services.people import PersonRef
from tests.processes import kill, start_worker, wait_for
from tests.receiver import Receiver


@pytest.mark.timeout(120)
def test_a_delivery_claimed_by_a_killed_worker_is_delivered_by_the_next(store, world, db_url, tmp_path):
    receiver = Receiver(hold_first=True)
    actor = world.account()
    [url] = world.people(1)
    conn = store.run(
        lambda uow: crm.create_connection(uow, actor, "webhook", "h", {"url": receiver.url}, True)
    )
    out = store.run(
        lambda uow: extension.crm_export(uow, actor, PersonRef.parse({"linkedin_url": url}), conn["id"])
    )
    delivery_id = out["delivery"]["id"]
    first = start_worker(db_url, tmp_path / "w1.log", CRM_LEASE_SECONDS=1)
    second = None
    try:
        assert receiver.first_arrived.wait(30), (tmp_path / "w1.log").read_text()
        kill(first)  # SIGKILL mid-send: the claim's lease is left behind
        receiver.release.set()
        second = start_worker(db_url, tmp_path / "w2.log", CRM_LEASE_SECONDS=1)

        def delivered():
            d = store.run(lambda uow: crm.deliveries(uow, actor, "delivered"))["deliveries"]
            return d[0] if d else None

        final = wait_for(delivered, 60, "the second worker to deliver")
    finally:
        kill(first)
        if second:
            kill(second)
        receiver.close()
    assert final["id"] == delivery_id and final["attempts"] == 2
    assert 1 <= len(receiver.attempts) <= 2
    assert {a["headers"]["webhook-id"] for a in receiver.attempts} == {delivery_id}
    balance = store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL]
    assert balance == 99 * MILLI
