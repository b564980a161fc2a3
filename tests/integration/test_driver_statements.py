"""Bulk writes go through the driver's executemany, hot reads through the driver's cursor
(persistence/statements.py); what they store and answer must be exactly what SQLAlchemy would store
and answer, on both engines."""

import uuid

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from backend.persistence.statements import execute_many, insert_many
from backend.persistence.tables import JobItem, LedgerEntry, ListLead, Person, utcnow
from backend.services import charge_guard, jobs, lists

PEOPLE = Person.__table__
LEADS = ListLead.__table__
ITEMS = JobItem.__table__


def test_insert_many_stores_timestamps_and_nulls_as_sqlalchemy_reads_them(store):
    now = utcnow()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "linkedin_url": f"https://www.linkedin.com/in/d-{i}",
            "full_name": None,
            "created_at": now,
        }
        for i in range(3)
    ]
    store.run(lambda uow: insert_many(uow, PEOPLE, rows))
    back = store.run(lambda uow: uow.execute(select(PEOPLE).order_by(PEOPLE.c.linkedin_url)).all())
    assert [(r.id, r.linkedin_url, r.full_name, r.created_at) for r in back] == [
        (r["id"], r["linkedin_url"], None, now) for r in rows
    ]


def test_insert_many_ignoring_conflicts_keeps_the_first_row(store, world):
    actor = world.account(email=1)
    lid = store.run(lambda uow: lists.create(uow, actor, "L"))["id"]
    pid = str(uuid.uuid4())
    store.run(lambda uow: insert_many(uow, PEOPLE, [{"id": pid, "full_name": "P", "created_at": utcnow()}]))
    first, later = utcnow(), utcnow()
    for when in (first, later):
        row = {"list_id": lid, "person_id": pid, "added_by": actor.user_id, "created_at": when}
        store.run(lambda uow, row=row: insert_many(uow, LEADS, [row], ignore_conflicts=True))
    assert store.run(lambda uow: uow.execute(select(LEADS.c.created_at)).scalars().all()) == [first]


def test_execute_many_updates_json_as_sqlalchemy_reads_it(store, world):
    actor = world.account(email=1)
    job = store.run(lambda uow: jobs.create(uow, actor, "post_export", {}, [{"n": 1}, {"n": 2}]))
    outcome = {"status": "charged", "email": "ü@x.example", "n": [1, None]}
    store.run(lambda uow: execute_many(uow, jobs._ITEM_DONE, [{"j": job["id"], "s": 1, "o": outcome}]))
    rows = store.run(
        lambda uow: uow.execute(
            select(ITEMS.c.seq, ITEMS.c.done, ITEMS.c.outcome).order_by(ITEMS.c.seq)
        ).all()
    )
    assert [tuple(r) for r in rows] == [(0, False, None), (1, True, outcome)]


def test_execute_many_stores_a_none_json_value_as_sqlalchemy_does(store, world):
    actor = world.account(email=1)
    job = store.run(lambda uow: jobs.create(uow, actor, "post_export", {}, [{"n": 1}, {"n": 2}]))
    by_driver = {"j": job["id"], "s": 0, "o": None}
    store.run(lambda uow: execute_many(uow, jobs._ITEM_DONE, [by_driver]))
    store.run(
        lambda uow: uow.execute(jobs._ITEM_DONE, {"j": job["id"], "s": 1, "o": None})
    )  # SQLAlchemy's way
    is_sql_null = select(ITEMS.c.seq, ITEMS.c.outcome.is_(None)).order_by(ITEMS.c.seq)
    stored = store.run(lambda uow: uow.execute(is_sql_null).all())
    assert stored[0][1] == stored[1][1]


def test_fetch_answers_what_sqlalchemy_answers_timestamps_and_built_in_values_too(store, world):
    actor = world.account(email=3)
    ledger = LedgerEntry.__table__
    grants = (
        select(ledger.c.id, ledger.c.amount, ledger.c.note, ledger.c.created_at)
        .where(ledger.c.account_id == bindparam("a"), ledger.c.action == "grant")  # a value built in
        .order_by(ledger.c.id)
    )
    by_driver = store.run(lambda uow: uow.fetch(grants, {"a": actor.account_id}))
    by_sqlalchemy = store.run(lambda uow: uow.execute(grants, {"a": actor.account_id}).all())
    assert [tuple(r) for r in by_driver] == [tuple(r) for r in by_sqlalchemy]
    assert by_driver[0].amount == 3000 and by_driver[0].created_at.tzinfo is not None


def test_fetch_sees_its_transactions_own_writes_and_rolls_back_with_it(store, world):
    actor = world.account(email=2)

    def debit_then_fail(uow):
        charge_guard._move(uow, actor.account_id, "email", -1500)
        assert charge_guard.balances(uow, actor.account_id)["email"] == 500
        raise RuntimeError("the action failed after the debit")

    with pytest.raises(RuntimeError):
        store.run(debit_then_fail)
    assert store.run(lambda uow: charge_guard.balances(uow, actor.account_id))["email"] == 2000


def test_a_driver_error_reaches_callers_as_sqlalchemys(store):
    duplicate = (
        insert(Person.__table__)
        .values(id=bindparam("i"), full_name=None, created_at=bindparam("c"))
        .returning(Person.__table__.c.id)
    )
    pid = str(uuid.uuid4())
    store.run(lambda uow: uow.fetch(duplicate, {"i": pid, "c": utcnow()}))
    with pytest.raises(IntegrityError):
        store.run(lambda uow: uow.fetch(duplicate, {"i": pid, "c": utcnow()}))
    assert store.run(lambda uow: uow.execute(select(Person.__table__.c.id)).scalars().all()) == [pid]


def test_fetch_refuses_what_sqlalchemy_works_out_per_execution(store):
    """An IN list's expansion, a callable parameter, a Python-side column default: compiled once they
    would be frozen (a default computed never, a 'now' of the first call), so they are refused."""
    people = Person.__table__
    among = select(people.c.id).where(people.c.id.in_(bindparam("ps", expanding=True)))
    before_now = select(people.c.id).where(people.c.created_at < bindparam("t", callable_=utcnow))
    defaulted = insert(people).values(id=bindparam("i")).returning(people.c.id)  # created_at: a default
    for stmt, params in ((among, {"ps": ["x"]}), (before_now, {}), (defaulted, {"i": "x"})):
        with pytest.raises(ValueError, match="through execute"):
            store.run(lambda uow, stmt=stmt, params=params: uow.fetch(stmt, params))
