"""R1–R6 and R10–R13 at the service level, on SQLite and PostgreSQL (no HTTP)."""

import uuid

import pytest
from sqlalchemy import func, select

from backend.domain.credits import MILLI, CreditType, UnlockKind
from backend.domain.errors import InsufficientCredits, InvalidInput
from backend.persistence.tables import CrmConnection, CrmDelivery, ListLead, Person, Unlock
from backend.services import charge_guard, extension, lists, sequences
from backend.services.people import PersonRef
from tests.invariants import assert_ledger_invariants


def ref(url):
    return PersonRef.parse({"linkedin_url": url})


def email_balance(store, actor):
    return store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] // MILLI


def new_list(store, actor):
    return store.run(lambda uow: lists.create(uow, actor, "L"))["id"]


def new_connection(store, actor):
    """A stored connection row (the CRM issue's adapters send it; here only the outbox matters)."""
    cid = str(uuid.uuid4())

    def add(uow):
        uow.session.add(
            CrmConnection(
                id=cid,
                account_id=actor.account_id,
                kind="webhook",
                name="h",
                config={"url": "http://127.0.0.1:9/hook", "secret": "whsec_x"},
            )
        )

    store.run(add)
    return cid


def count(store, model, *where):
    return store.run(
        lambda uow: uow.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    )


def test_r1_r3_same_person_under_four_spellings_is_charged_once(store, world):
    actor = world.account()
    [url] = world.people(1)
    spellings = [url, url.upper() + "/?trk=x", url.replace("https://www.", ""), url.replace("www", "de")]
    results = [store.run(lambda uow, s=s: extension.reveal(uow, actor, ref(s), ["email"])) for s in spellings]
    assert [r["credits"]["charged"]["email"] for r in results] == [1, 0, 0, 0]
    assert len({r["person"]["id"] for r in results}) == 1
    assert email_balance(store, actor) == 99
    assert_ledger_invariants(store)


def test_r2_a_teammate_pays_nothing_for_a_colleagues_unlock(store, world):
    alice = world.account()
    bob = world.teammate(alice)
    [url] = world.people(1)
    store.run(lambda uow: extension.reveal(uow, alice, ref(url), ["email"]))
    out = store.run(lambda uow: extension.reveal(uow, bob, ref(url), ["email"]))
    assert out["credits"]["charged"]["email"] == 0
    assert out["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert out["credits"]["reasons"]["email"]["unlocked_by"] == alice.user_id
    assert out["person"]["email"] == "p0@co.example"
    assert email_balance(store, alice) == 99


def test_r3_no_action_charges_again_once_revealed(store, world):
    actor = world.account()
    [url] = world.people(1)
    lid, cid = new_list(store, actor), new_connection(store, actor)
    seq = store.run(lambda uow: sequences.create(uow, actor, "S"))["id"]
    store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["email"]))
    outs = [
        store.run(lambda uow: extension.add_to_list(uow, actor, lid, ref(url)))[1],
        store.run(lambda uow: extension.crm_export(uow, actor, ref(url), cid)),
        store.run(lambda uow: extension.list_and_crm(uow, actor, ref(url), lid, cid)),
        store.run(lambda uow: extension.enroll(uow, actor, seq, ref(url), None))[1],
    ]
    assert [o["credits"]["charged"]["email"] for o in outs] == [0, 0, 0, 0]
    assert {o["credits"]["reasons"]["email"]["code"] for o in outs} == {"already_unlocked"}
    assert email_balance(store, actor) == 99


def test_r4_r10_nothing_found_costs_nothing(store, world):
    actor = world.account()
    [url] = world.people(1, email=False, phone=False)
    out = store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["email", "phone"]))
    assert out["credits"]["charged"] == {"email": 0, "phone": 0, "tracking": 0}
    assert out["credits"]["reasons"] == {"email": {"code": "not_found"}, "phone": {"code": "not_found"}}
    unknown = store.run(
        lambda uow: extension.reveal(uow, actor, ref("linkedin.com/in/nobody-knows"), ["email"])
    )
    assert unknown["credits"]["charged"]["email"] == 0
    assert count(store, Unlock) == 0


def test_r10_reveal_charges_one_email_and_one_phone(store, world):
    actor = world.account()
    [url] = world.people(1)
    out = store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["email", "phone"]))
    assert out["credits"]["charged"] == {"email": 1, "phone": 1, "tracking": 0}
    assert out["credits"]["balance"] == {"email": 99, "phone": 9, "tracking": 5}
    assert (out["person"]["email"], out["person"]["phone"]) == ("p0@co.example", "+15550000000")


def test_r5_refused_add_leaves_list_and_outbox_unchanged(store, world):
    actor = world.account(email=0)
    [url] = world.people(1)
    lid, cid = new_list(store, actor), new_connection(store, actor)
    for action in (
        lambda uow: extension.add_to_list(uow, actor, lid, ref(url)),
        lambda uow: extension.crm_export(uow, actor, ref(url), cid),
        lambda uow: extension.list_and_crm(uow, actor, ref(url), lid, cid),
    ):
        with pytest.raises(InsufficientCredits) as err:
            store.run(action)
        assert (err.value.credit_type, err.value.required_milli, err.value.available_milli) == (
            "email",
            1000,
            0,
        )
    assert count(store, ListLead) == 0
    assert count(store, CrmDelivery) == 0
    assert count(store, Unlock) == 0
    assert_ledger_invariants(store)


@pytest.mark.parametrize("order", ["list_then_crm", "crm_then_list", "one_call"])
def test_r12_list_and_crm_cost_one_credit_in_any_order(store, world, order):
    actor = world.account()
    [url] = world.people(1)
    lid, cid = new_list(store, actor), new_connection(store, actor)
    if order == "one_call":
        store.run(lambda uow: extension.list_and_crm(uow, actor, ref(url), lid, cid))
    else:
        steps = [
            lambda uow: extension.add_to_list(uow, actor, lid, ref(url)),
            lambda uow: extension.crm_export(uow, actor, ref(url), cid),
        ]
        for step in steps if order == "list_then_crm" else steps[::-1]:
            store.run(step)
    assert email_balance(store, actor) == 99
    assert count(store, ListLead) == 1
    assert count(store, CrmDelivery) == 1


def test_r11_export_carries_only_what_the_account_holds(store, world):
    actor = world.account()
    [url] = world.people(1)
    cid = new_connection(store, actor)
    store.run(lambda uow: extension.crm_export(uow, actor, ref(url), cid))
    payload = store.run(lambda uow: uow.execute(select(CrmDelivery.payload)).scalar_one())
    assert payload["email"] == "p0@co.example" and payload["phone"] is None
    store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["phone"]))
    store.run(lambda uow: extension.crm_export(uow, actor, ref(url), cid))
    payloads = store.run(lambda uow: uow.execute(select(CrmDelivery.payload)).scalars().all())
    assert sorted(p["phone"] or "" for p in payloads) == ["", "+15550000000"]


def test_r13_supplied_email_enrolls_free_and_missing_one_is_charged(store, world):
    actor = world.account()
    a, b = world.people(2)
    seq = store.run(lambda uow: sequences.create(uow, actor, "S"))["id"]
    _, supplied = store.run(lambda uow: extension.enroll(uow, actor, seq, ref(a), "known@x.example"))
    _, unlocked = store.run(lambda uow: extension.enroll(uow, actor, seq, ref(b), None))
    assert supplied["credits"]["charged"]["email"] == 0
    assert supplied["credits"]["reasons"]["email"] == {"code": "supplied"}
    assert supplied["enrollment"]["email"] == "known@x.example"
    assert unlocked["credits"]["charged"]["email"] == 1
    assert unlocked["enrollment"]["email"] == "p1@co.example"
    assert email_balance(store, actor) == 99


def test_r13_no_email_anywhere_refuses_enrollment_and_charges_nothing(store, world):
    actor = world.account()
    [url] = world.people(1, email=False)
    seq = store.run(lambda uow: sequences.create(uow, actor, "S"))["id"]
    with pytest.raises(InvalidInput):
        store.run(lambda uow: extension.enroll(uow, actor, seq, ref(url), None))
    assert email_balance(store, actor) == 100


def test_r2_unlocks_belong_to_the_account_not_to_other_accounts(store, world):
    one, other = world.account(), world.account()
    [url] = world.people(1)
    store.run(lambda uow: extension.reveal(uow, one, ref(url), ["email"]))
    out = store.run(lambda uow: extension.reveal(uow, other, ref(url), ["email"]))
    assert out["credits"]["charged"]["email"] == 1


def test_r3_an_unlock_made_after_the_callers_read_is_met_by_the_insert_and_not_charged(store, world):
    """The caller read "not held" (`known` empty), then a teammate unlocked the person before this
    charge ran: the unlock's primary key, not the stale read, decides — no second charge."""
    actor = world.account()
    teammate = world.teammate(actor)
    [url] = world.people(1)
    person = store.run(lambda uow: extension.reveal(uow, teammate, ref(url), ["email"]))["person"]
    wanted = [charge_guard.Unlocking(person["id"], UnlockKind.EMAIL, MILLI, "stale@x.example")]
    outcome = store.run(lambda uow: charge_guard.charge_unlocks(uow, actor, "reveal", wanted, known={}))
    reason = outcome.reasons[(person["id"], UnlockKind.EMAIL)]
    assert reason.code == "already_unlocked" and reason.unlocked_by == teammate.user_id
    assert outcome.values[(person["id"], UnlockKind.EMAIL)] == person["email"]
    assert email_balance(store, actor) == 99
    assert_ledger_invariants(store)


def test_r1_a_person_created_after_the_read_is_the_one_charged_not_a_second_row(store, world):
    """The read saw nobody (`Seen(None, …)`); a concurrent reveal created the person first: the write
    finds their row through the unique URL, and a teammate's earlier unlock still counts (R3)."""
    actor = world.account()
    teammate = world.teammate(actor)
    [url] = world.people(1)
    first = store.run(lambda uow: extension.reveal(uow, teammate, ref(url), ["email"]))
    seen = extension.Seen(None, {}, None)
    out = store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["email"], seen=seen))
    assert out["person"]["id"] == first["person"]["id"]
    assert out["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert count(store, Person) == 1 and email_balance(store, actor) == 99
    assert_ledger_invariants(store)
