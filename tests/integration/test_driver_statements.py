"""Bulk writes go through the driver's executemany (persistence/statements.py); what they store must
read back through SQLAlchemy exactly as if SQLAlchemy had written it, on both engines."""

import uuid

from sqlalchemy import select

from backend.persistence.statements import execute_many, insert_many
from backend.persistence.tables import JobItem, ListLead, Person, utcnow
from backend.services import jobs, lists

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
