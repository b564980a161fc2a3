"""R24: per-user monthly limits, held by the charge guard under races as the balance is, on both
engines."""

from datetime import UTC, datetime

from sqlalchemy import select

from backend.domain.credits import MILLI, CreditType
from backend.domain.errors import UserLimitReached
from backend.persistence.tables import Notification, utcnow
from backend.services import extension, user_limits, users
from backend.services.charge_guard import Actor
from tests.integration.test_races import counts, race, ref, setup_targets
from tests.invariants import assert_ledger_invariants


def limit(store, admin, user, email):
    store.run(
        lambda uow: users.set_limits(
            uow, admin, user.user_id, {CreditType.EMAIL: int(email * MILLI)}, utcnow()
        )
    )


def test_r24_50_racing_charges_by_a_user_with_10_left_charge_10_and_the_teammate_is_unaffected(store, world):
    admin = Actor(**{**world.account(email=100).__dict__, "role": "admin"})
    member = world.teammate(admin)
    urls = world.people(55)
    limit(store, admin, member, 10)
    lid, _ = setup_targets(store, admin)
    jobs = [
        (lambda u=u: store.run(lambda uow: extension.add_to_list(uow, member, lid, ref(u))))
        for u in urls[:50]
    ]
    results, errors = race(50, jobs)
    assert len(results) == 10
    assert len(errors) == 40 and all(isinstance(e, UserLimitReached) for e in errors)
    assert {(e.limit_milli, e.used_milli, e.required_milli) for e in errors} == {
        (10 * MILLI, 10 * MILLI, MILLI)
    }
    assert counts(store, admin) == (90, 10, 10, 2)  # two deliveries: the 75 % and 100 % alerts (R25)
    for u in urls[50:]:  # the teammate without a limit goes on
        store.run(lambda uow, u=u: extension.add_to_list(uow, admin, lid, ref(u)))
    assert counts(store, admin) == (85, 15, 15, 2)
    assert store.run(lambda uow: user_limits.of_user(uow, member.user_id, utcnow())) == {
        CreditType.EMAIL: (10 * MILLI, 10 * MILLI)
    }
    assert_ledger_invariants(store)


def test_r24_a_held_unlock_is_free_and_never_counts(store, world):
    admin = Actor(**{**world.account(email=100).__dict__, "role": "admin"})
    member = world.teammate(admin)
    [url] = world.people(1)
    store.run(lambda uow: extension.reveal(uow, admin, ref(url), ["email"]))
    limit(store, admin, member, 0.5)
    store.run(lambda uow: extension.reveal(uow, member, ref(url), ["email"]))  # held by the team: free
    assert store.run(lambda uow: user_limits.of_user(uow, member.user_id, utcnow()))[CreditType.EMAIL] == (
        500,
        0,
    )


def test_r24_a_new_month_starts_from_zero(store, world):
    admin = Actor(**{**world.account(email=100).__dict__, "role": "admin"})
    member = world.teammate(admin)
    limit(store, admin, member, 1)
    november, december = datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    store.run(lambda uow: user_limits.count(uow, member.user_id, CreditType.EMAIL, MILLI, november))
    try:
        store.run(lambda uow: user_limits.count(uow, member.user_id, CreditType.EMAIL, MILLI, november))
        raise AssertionError("the second credit of November passed the limit")
    except UserLimitReached:
        pass
    store.run(lambda uow: user_limits.count(uow, member.user_id, CreditType.EMAIL, MILLI, december))
    assert store.run(lambda uow: user_limits.of_user(uow, member.user_id, december)) == {
        CreditType.EMAIL: (MILLI, MILLI)
    }


def test_r25_50_racing_charges_past_a_users_limit_alert_75_and_100_percent_once_each(store, world):
    admin = Actor(**{**world.account(email=100).__dict__, "role": "admin"})
    member = world.teammate(admin)
    urls = world.people(50)
    limit(store, admin, member, 10)
    lid, _ = setup_targets(store, admin)
    jobs = [
        (lambda u=u: store.run(lambda uow: extension.add_to_list(uow, member, lid, ref(u)))) for u in urls
    ]
    race(50, jobs)
    kinds = store.run(
        lambda uow: uow.execute(
            select(Notification.kind, Notification.detail).where(Notification.kind == "user_limit")
        ).all()
    )
    assert sorted(detail["level"] for _, detail in kinds) == [75, 100]
