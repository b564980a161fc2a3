"""Property: whatever the sequence of actions, after every step the balance equals the ledger's sum,
never goes below zero, and each (account, person, kind) is unlocked at most once."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.domain.credits import MILLI, CreditType
from backend.domain.errors import InsufficientCredits, InvalidInput
from backend.services import accounts, charge_guard, extension, lists, sequences
from backend.services.people import PersonRef
from tests.invariants import assert_ledger_invariants

ACTIONS = ["reveal_email", "reveal_phone", "reveal_both", "add_to_list", "enroll", "enroll_supplied", "grant"]

steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 5), st.booleans()), min_size=1, max_size=15
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, email=st.integers(0, 4), phone=st.integers(0, 3))
def test_r2_r5_invariants_hold_after_every_step(store, world, steps, email, phone):
    alice = world.account(email=email, phone=phone)
    bob = world.teammate(alice)
    urls = world.people(6)  # an upsert: the same six people every example
    lid = store.run(lambda uow: lists.create(uow, alice, "L"))["id"]
    seq = store.run(lambda uow: sequences.create(uow, alice, "S"))["id"]
    spent = granted = 0
    for action, who, by_bob in steps:
        actor = bob if by_bob else alice
        r = PersonRef.parse({"linkedin_url": urls[who]})
        if action == "grant":
            store.run(lambda uow: accounts.grant(uow, alice.account_id, CreditType.EMAIL, MILLI, None))
            granted += 1
            assert_ledger_invariants(store)
            continue
        run = {
            "reveal_email": lambda uow: extension.reveal(uow, actor, r, ["email"]),
            "reveal_phone": lambda uow: extension.reveal(uow, actor, r, ["phone"]),
            "reveal_both": lambda uow: extension.reveal(uow, actor, r, ["email", "phone"]),
            "add_to_list": lambda uow: extension.add_to_list(uow, actor, lid, r)[1],
            "enroll": lambda uow: extension.enroll(uow, actor, seq, r, None)[1],
            "enroll_supplied": lambda uow: extension.enroll(uow, actor, seq, r, "x@y.example")[1],
        }[action]
        try:
            out = store.run(run)
            spent += out["credits"]["charged"]["email"]
        except (InsufficientCredits, InvalidInput):
            pass
        assert_ledger_invariants(store)
    balance = store.run(lambda uow: charge_guard.balances(uow, alice.account_id))[CreditType.EMAIL]
    assert balance == (email + granted - spent) * MILLI
