"""Sequences and the one place a person is enrolled."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from backend.domain.credits import UnlockKind
from backend.domain.errors import NotFound
from backend.domain.reasons import Reason, ReasonCode
from backend.persistence.statements import insert_one_if_absent
from backend.persistence.tables import Enrollment, Sequence, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard, owned
from backend.services.charge_guard import Actor
from backend.services.pages import FIRST, PageRequest
from backend.services.unlocking import Held

ENROLLMENTS = Enrollment.__table__


def create(uow: UnitOfWork, actor: Actor, name: str) -> dict:
    return sequence_json(
        owned.add(uow, Sequence(id=str(uuid.uuid4()), account_id=actor.account_id, name=name))
    )


def all_sequences(uow: UnitOfWork, actor: Actor, page: PageRequest = FIRST) -> dict:
    return owned.page_of(uow, actor, Sequence, page).json("sequences", sequence_json)


def get(uow: UnitOfWork, actor: Actor, sequence_id: str) -> Sequence:
    return owned.get(uow, actor, Sequence, sequence_id, "sequence")


def remove_enrollment(uow: UnitOfWork, actor: Actor, sequence_id: str, person_id: str) -> None:
    """The person leaves the sequence (and its stored email with them); the unlocks stay (R3). Not
    enrolled (removed already): 404."""
    get(uow, actor, sequence_id)
    removed = uow.execute(
        delete(ENROLLMENTS).where(
            ENROLLMENTS.c.sequence_id == sequence_id, ENROLLMENTS.c.person_id == person_id
        )
    ).rowcount
    if not removed:
        raise NotFound(f"no enrollment of {person_id!r} in this sequence")


def enroll(uow: UnitOfWork, actor: Actor, sequence: Sequence, held: Held, source: str) -> tuple[bool, dict]:
    """Once per (sequence, person). Answers (created, enrollment)."""
    created = insert_one_if_absent(
        uow,
        ENROLLMENTS,
        {
            "sequence_id": sequence.id,
            "person_id": held.person.id,
            "email": held.values[UnlockKind.EMAIL],
            "email_source": source,
            "added_by": actor.user_id,
            "created_at": utcnow(),
        },
    )
    return created, enrolled(uow, sequence, [held.person.id])[held.person.id]


def enrolled(uow: UnitOfWork, sequence: Sequence, person_ids: list[str]) -> dict[str, dict]:
    """The enrollments these people have in the sequence, by person id."""
    found = {}
    for i in range(0, len(person_ids), 500):
        rows = uow.execute(
            select(ENROLLMENTS).where(
                ENROLLMENTS.c.sequence_id == sequence.id,
                ENROLLMENTS.c.person_id.in_(person_ids[i : i + 500]),
            )
        )
        found.update({r.person_id: _enrollment_json(r) for r in rows})
    return found


def held_by_enrollment(uow: UnitOfWork, actor: Actor, people: list, enrollments: dict) -> dict[str, Held]:
    """People already in the sequence: nothing starts, so nothing is charged (R13). Their email is the
    one they were enrolled with: unlocked by the account, or supplied by the extension."""
    rows = charge_guard.held(uow, actor.account_id, [p.id for p in people], [UnlockKind.EMAIL])
    result = {}
    for p in people:
        row = rows.get((p.id, UnlockKind.EMAIL))
        reason = charge_guard.already_unlocked(row, actor) if row else Reason(ReasonCode.SUPPLIED)
        email = enrollments[p.id]["email"]
        result[p.id] = Held(p, values={UnlockKind.EMAIL: email}, reasons={UnlockKind.EMAIL: reason})
    return result


def _enrollment_json(row) -> dict:
    return {
        "sequence_id": row.sequence_id,
        "person_id": row.person_id,
        "email": row.email,
        "email_source": row.email_source,
        "created_at": row.created_at,
    }


def sequence_json(row: Sequence) -> dict:
    return {"id": row.id, "name": row.name, "created_at": row.created_at}
