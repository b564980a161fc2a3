"""Lists of leads: create, read, and the one place a lead joins a list."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from backend.domain.credits import UnlockKind
from backend.domain.errors import ListInUse, NotFound
from backend.persistence.statements import insert_many, insert_one_if_absent
from backend.persistence.tables import Job, LeadList, ListLead, Person, Unlock, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, owned
from backend.services.charge_guard import Actor
from backend.services.pages import FIRST, Order, PageRequest, keyset
from backend.services.unlocking import Held

LEADS = ListLead.__table__
LEAD_ORDER = Order("list_leads", ListLead.created_at, ListLead.person_id)  # added first, first
LISTS = LeadList.__table__
JOBS = Job.__table__


def create(uow: UnitOfWork, actor: Actor, name: str) -> dict:
    return list_json(owned.add(uow, LeadList(id=str(uuid.uuid4()), account_id=actor.account_id, name=name)))


def all_lists(uow: UnitOfWork, actor: Actor, page: PageRequest = FIRST) -> dict:
    return owned.page_of(uow, actor, LeadList, page).json("lists", list_json)


def get(uow: UnitOfWork, actor: Actor, list_id: str) -> LeadList:
    return owned.get(uow, actor, LeadList, list_id, "list")


def lock(uow: UnitOfWork, actor: Actor, list_id: str) -> None:
    """The list, locked until the transaction ends (PostgreSQL; SQLite's writers take turns anyway):
    whatever queues a job that writes into the list, and `delete`, take it first, so a delete either
    sees the job or the job finds no list (404)."""
    row = uow.execute(select(LISTS.c.account_id).where(LISTS.c.id == list_id).with_for_update()).first()
    if row is None or row.account_id != actor.account_id:
        raise NotFound(f"no list {list_id!r}")


def delete_list(uow: UnitOfWork, actor: Actor, list_id: str) -> None:
    """api.md "Updating and deleting": the list and its leads go; the unlocks stay the account's (nothing
    refunded, nothing charged again, R3). 409 `list_in_use` while a queued or running job writes into
    it (a post export to the list, an upload with its list_id), checked under the list's lock."""
    lock(uow, actor, list_id)
    writing = writing_job(uow, actor, list_id)
    if writing is not None:
        raise ListInUse(
            "a job is still writing into this list; delete it once the job has finished", job_id=writing
        )
    uow.execute(delete(LEADS).where(LEADS.c.list_id == list_id))
    uow.execute(delete(LISTS).where(LISTS.c.id == list_id))


def writing_job(uow: UnitOfWork, actor: Actor, list_id: str) -> str | None:
    """A queued or running job that writes into the list: a post export to it, an upload with its
    list_id (a list export only reads the leads it snapshotted when queued)."""
    return uow.execute(
        select(JOBS.c.id)
        .where(
            JOBS.c.account_id == actor.account_id,
            JOBS.c.status.in_(("queued", "running")),
            JOBS.c.kind.in_(("post_export", "upload")),
            JOBS.c.params["list_id"].as_string() == list_id,
        )
        .limit(1)
    ).scalar()


def remove_lead(uow: UnitOfWork, actor: Actor, list_id: str, person_id: str) -> None:
    """The lead leaves the list; the unlocks stay (R3). A lead not in the list (removed already): 404."""
    get(uow, actor, list_id)
    removed = uow.execute(
        delete(LEADS).where(LEADS.c.list_id == list_id, LEADS.c.person_id == person_id)
    ).rowcount
    if not removed:
        raise NotFound(f"no lead {person_id!r} in this list")


def add_lead(uow: UnitOfWork, actor: Actor, lead_list: LeadList, held: Held) -> tuple[bool, dict]:
    """Once per (list, person): the primary key says so. Answers (created, lead), the lead as the list
    shows it: with the phone too when the account holds it (adding to a list unlocks the email only)."""
    created = insert_one_if_absent(
        uow,
        LEADS,
        {
            "list_id": lead_list.id,
            "person_id": held.person.id,
            "added_by": actor.user_id,
            "created_at": utcnow(),
        },
    )
    added_at = uow.execute(
        select(LEADS.c.created_at).where(LEADS.c.list_id == lead_list.id, LEADS.c.person_id == held.person.id)
    ).scalar_one()
    phone = charge_guard.held(uow, actor.account_id, [held.person.id], [UnlockKind.PHONE])
    lead = lead_json(held.person, added_at, held.values.get(UnlockKind.EMAIL), _value(phone))
    if held.contact and not held.person.full_name:  # a name this action's lookup just stored
        lead["full_name"] = held.contact.full_name
    return created, lead


def _value(held: dict) -> str | None:
    return next((row.value for row in held.values()), None)


def add_many(uow: UnitOfWork, actor: Actor, list_id: str, person_ids: list[str]) -> None:
    """Bulk jobs' list entries: once per (list, person), whatever ran before (INSERT … ON CONFLICT)."""
    if not person_ids:
        return
    now = utcnow()
    rows = [
        {"list_id": list_id, "person_id": pid, "added_by": actor.user_id, "created_at": now}
        for pid in person_ids
    ]
    insert_many(uow, LEADS, rows, ignore_conflicts=True)


def leads(uow: UnitOfWork, actor: Actor, list_id: str, page: PageRequest = FIRST) -> dict:
    """A list's leads, a page at a time in the order they were added, with the contact data the
    account holds of each."""
    get(uow, actor, list_id)
    stmt = select(Person, ListLead.created_at).join(ListLead, ListLead.person_id == Person.id)
    found = keyset(
        uow, stmt.where(ListLead.list_id == list_id), LEAD_ORDER, (actor.account_id, list_id), page
    )
    values = _held_values(uow, actor, [row[0].id for row in found.rows])
    return found.json("leads", lambda row: lead_json(row[0], row[1], *_contact(values, row[0].id)))


def _contact(values: dict, person_id: str) -> tuple:
    return values.get((person_id, "email")), values.get((person_id, "phone"))


def _held_values(uow: UnitOfWork, actor: Actor, person_ids: list[str]) -> dict:
    out = {}
    for i in range(0, len(person_ids), 500):
        rows = uow.execute(
            select(Unlock.person_id, Unlock.kind, Unlock.value).where(
                Unlock.account_id == actor.account_id, Unlock.person_id.in_(person_ids[i : i + 500])
            )
        ).all()
        out.update({(pid, kind): value for pid, kind, value in rows})
    return out


def list_json(row: LeadList) -> dict:
    return {"id": row.id, "name": row.name, "created_at": row.created_at}


def lead_json(person, added_at, email, phone) -> dict:
    return {
        "person_id": person.id,
        "linkedin_url": person.linkedin_url,
        "full_name": person.full_name,
        "email": email,
        "phone": phone,
        "added_at": added_at,
    }
