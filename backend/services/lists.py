"""Lists of leads: create, read, and the one place a lead joins a list."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from backend.domain.credits import UnlockKind
from backend.domain.errors import NotFound
from backend.persistence.statements import insert_one_if_absent
from backend.persistence.tables import LeadList, ListLead, Person, Unlock, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services.charge_guard import Actor
from backend.services.unlocking import Held

LEADS = ListLead.__table__


def create(uow: UnitOfWork, actor: Actor, name: str) -> dict:
    row = LeadList(id=str(uuid.uuid4()), account_id=actor.account_id, name=name)
    uow.session.add(row)
    uow.session.flush()
    return list_json(row)


def all_lists(uow: UnitOfWork, actor: Actor) -> list[dict]:
    rows = uow.session.execute(
        select(LeadList).where(LeadList.account_id == actor.account_id).order_by(LeadList.created_at)
    ).scalars()
    return [list_json(r) for r in rows]


def get(uow: UnitOfWork, actor: Actor, list_id: str) -> LeadList:
    """The account's list; another account's list is as unknown as a missing one."""
    row = uow.session.get(LeadList, list_id)
    if row is None or row.account_id != actor.account_id:
        raise NotFound(f"no list {list_id!r}")
    return row


def add_lead(uow: UnitOfWork, actor: Actor, lead_list: LeadList, held: Held) -> tuple[bool, dict]:
    """Once per (list, person): the primary key says so. Answers (created, lead)."""
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
    return created, lead_json(
        held.person, added_at, held.values.get(UnlockKind.EMAIL), held.values.get(UnlockKind.PHONE)
    )


def leads(uow: UnitOfWork, actor: Actor, list_id: str) -> list[dict]:
    """A list's leads, with the contact data the account holds of each."""
    get(uow, actor, list_id)
    rows = uow.session.execute(
        select(Person, ListLead.created_at)
        .join(ListLead, ListLead.person_id == Person.id)
        .where(ListLead.list_id == list_id)
        .order_by(ListLead.created_at, Person.id)
    ).all()
    values = _held_values(uow, actor, [p.id for p, _ in rows])
    return [lead_json(p, at, values.get((p.id, "email")), values.get((p.id, "phone"))) for p, at in rows]


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
