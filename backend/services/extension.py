"""The LinkedIn extension's use cases (R10–R13), one function each."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select

from backend.domain.credits import UnlockKind
from backend.domain.errors import InvalidInput
from backend.domain.reasons import Reason, ReasonCode
from backend.persistence.unit_of_work import AfterCommit, Store, UnitOfWork
from backend.services import charge_guard, crm, lists, people, sequences, suppression
from backend.services.charge_guard import UNLOCKS, Actor
from backend.services.credit_report import charged_of, read_after, report
from backend.services.people import PersonRef
from backend.services.unlocking import Held, unlock

EMAIL = (UnlockKind.EMAIL,)


class Seen(NamedTuple):
    """What a read just before the write transaction found: the person (None: unknown then), what the
    account held of them, and the contact lookup (profile URL -> Contact or None). People and unlocks
    are never deleted, so what it saw still holds; what appeared since, the writes meet (a person's
    unique URL, an unlock's primary key)."""

    person: object
    held: dict
    looked_up: dict | None


def reveal(
    uow: UnitOfWork, actor: Actor, ref: PersonRef, fields: list[str], action: str = "reveal", seen=None
) -> AfterCommit:
    """R10: email costs 1 email credit, phone 1 phone credit, nothing when not found or held.
    The searcher's reveal (R7) is the same charge; `action` names its surface in the ledger.
    `seen`: what the read before this transaction found (`Seen`); else this transaction reads it.
    The answer is rendered after the commit, from what the transaction read: every reveal that
    charges holds SQLite's write lock or the account's balance rows until it commits."""
    kinds = _kinds(fields)
    if seen is None:
        seen = Seen(*_look(uow, actor, ref, kinds), None)
    person, looked_up = seen.person, seen.looked_up
    if person is None and ref.linkedin_url:  # someone new: named by the lookup from the start
        if looked_up is None:
            looked_up = {ref.linkedin_url: uow.contacts.lookup(ref.linkedin_url)}
        contact = looked_up.get(ref.linkedin_url)
        person = people.create(uow, ref.linkedin_url, contact.full_name if contact else None)
    elif person is None:
        person = people.resolve(uow, ref)  # an unknown person_id: 404
    held = unlock(uow, actor, person, kinds, action, looked_up, seen.held)
    if held.after is None:  # read here, so the answer needs nothing more of the transaction
        held.after = read_after(uow, actor)
    return AfterCommit(lambda: {"person": person_json(held), "credits": _credits(None, actor, held)})


def reveal_read_first(store: Store, actor: Actor, ref: PersonRef, fields: list[str], action: str = "reveal"):
    """`reveal` as the routes run it. Most reveals are the extension re-opening a profile the team
    already holds: those are answered from a read, never waiting for (or taking) the write lock.
    Otherwise the contact lookup happens in that read, and only the charge in the write transaction,
    which starts from what the read saw (`Seen`) instead of reading it again under the lock.
    The read needs no transaction: each of its statements reads what it needs at once (the person
    with what the account holds of them; the balances with the limits), and neither people nor
    unlocks are ever taken back. Only where writers queue for one lock (SQLite) does the extra read
    pay: on PostgreSQL it measured as round trips only (charging reveals 356 -> 211/s), so there the
    write transaction does it all."""
    if store.writer is None:
        return store.run(lambda uow: reveal(uow, actor, ref, fields, action))
    answer, seen = store.read(lambda uow: _held_answer(uow, actor, ref, _kinds(fields)))
    if answer is not None:
        return answer
    return store.run(lambda uow: reveal(uow, actor, ref, fields, action, seen))


def _held_answer(uow: UnitOfWork, actor: Actor, ref: PersonRef, kinds: tuple[UnlockKind, ...]):
    """(the answer, when the account holds every kind asked for; else what the read saw)."""
    person, held = _look(uow, actor, ref, kinds)
    if person and len(held) == len(kinds):
        result = Held(
            person,
            values={k: row.value for (_, k), row in held.items()},
            reasons={k: charge_guard.already_unlocked(row, actor) for (_, k), row in held.items()},
        )
        return {"person": person_json(result), "credits": _credits(uow, actor, result)}, None
    url = ref.linkedin_url or (person.linkedin_url if person else None)
    return None, Seen(person, held, {url: uow.contacts.lookup(url)} if url else None)


_PERSON_WITH_UNLOCKS = (  # every reveal runs it: a person and what the account holds of them, at once
    select(*people.PERSON, *(UNLOCKS.c[c] for c in ("person_id", "kind", "value", "user_id", "created_at")))
    .select_from(
        people.PEOPLE.outerjoin(
            UNLOCKS, (UNLOCKS.c.person_id == people.PEOPLE.c.id) & (UNLOCKS.c.account_id == bindparam("a"))
        )
    )
    .where(people.PEOPLE.c.linkedin_url == bindparam("u"))
)


def _look(uow: UnitOfWork, actor: Actor, ref: PersonRef, kinds: tuple[UnlockKind, ...]):
    """(the person named, or None when unknown; the unlocks the account holds of them among `kinds`)."""
    if not ref.linkedin_url:
        person = people.find(uow, ref)
        return person, charge_guard.held(uow, actor.account_id, [person.id], kinds) if person else {}
    rows = uow.fetch(_PERSON_WITH_UNLOCKS, {"a": actor.account_id, "u": ref.linkedin_url})
    if not rows:
        return None, {}
    p, wanted = rows[0], {str(k) for k in kinds}
    person = people.PersonRow(p.id, p.linkedin_url, p.email_key, p.full_name)
    # each row also reads as an unlock, as `charge_guard.held` answers it (person_id, kind, value, …)
    return person, {(p.id, UnlockKind(r.kind)): r for r in rows if r.kind in wanted}


def _kinds(fields: list[str]) -> tuple[UnlockKind, ...]:
    return tuple(UnlockKind(f) for f in dict.fromkeys(fields))


def add_to_list(uow: UnitOfWork, actor: Actor, list_id: str, ref: PersonRef) -> tuple[bool, dict]:
    """R12: adding a lead to a list unlocks its email (1 credit unless held)."""
    lead_list = lists.get(uow, actor, list_id)
    person = people.resolve(uow, ref)
    held = unlock(uow, actor, person, EMAIL, "add_to_list")
    created, lead = lists.add_lead(uow, actor, lead_list, held)
    return created, {"lead": lead, "credits": _credits(uow, actor, held)}


def crm_export(uow: UnitOfWork, actor: Actor, ref: PersonRef, connection_id: str) -> dict:
    """R11: 1 email credit per lead, free if already revealed; the delivery joins the transaction."""
    connection = crm.get_connection(uow, actor, connection_id)
    person = people.resolve(uow, ref)
    held = unlock(uow, actor, person, EMAIL, "crm_export")
    delivery = crm.queue_delivery(uow, actor, connection, held)
    return {"delivery": delivery, "credits": _credits(uow, actor, held)}


def list_and_crm(uow: UnitOfWork, actor: Actor, ref: PersonRef, list_id: str, connection_id: str) -> dict:
    """R12: a lead added to a List and sent to the CRM costs one credit, not two."""
    lead_list = lists.get(uow, actor, list_id)
    connection = crm.get_connection(uow, actor, connection_id)
    person = people.resolve(uow, ref)
    held = unlock(uow, actor, person, EMAIL, "list_and_crm")
    _, lead = lists.add_lead(uow, actor, lead_list, held)
    delivery = crm.queue_delivery(uow, actor, connection, held)
    return {"lead": lead, "delivery": delivery, "credits": _credits(uow, actor, held)}


def enroll(uow: UnitOfWork, actor: Actor, sequence_id: str, ref: PersonRef, email: str | None) -> tuple:
    """R13: an email the extension supplies costs nothing; otherwise the email unlock is charged.
    Someone already in the sequence is answered as enrolled, and nothing is charged."""
    sequence = sequences.get(uow, actor, sequence_id)
    suppression.refuse(uow, email=email)  # R27: an erased person's email is never stored again
    person = people.resolve(uow, ref)
    enrollment = sequences.enrolled(uow, sequence, [person.id]).get(person.id)
    if enrollment:
        held = sequences.held_by_enrollment(uow, actor, [person], {person.id: enrollment})[person.id]
        return False, {"enrollment": enrollment, "credits": _credits(uow, actor, held)}
    if email:
        held = Held(
            person, values={UnlockKind.EMAIL: email}, reasons={UnlockKind.EMAIL: Reason(ReasonCode.SUPPLIED)}
        )
    else:
        held = unlock(uow, actor, person, EMAIL, "enroll")
    if not held.values.get(UnlockKind.EMAIL):
        raise InvalidInput(
            "no email was found for this person, so it cannot be enrolled; nothing was charged",
            fields={"email": ["no email found; supply one"]},
        )
    created, enrollment = sequences.enroll(uow, actor, sequence, held, "supplied" if email else "unlocked")
    return created, {"enrollment": enrollment, "credits": _credits(uow, actor, held)}


def person_json(held: Held) -> dict:
    """The person as the account may see it: contact data only where it holds the unlock."""
    p = held.person
    name = held.contact.full_name if held.contact else p.full_name
    return {
        "id": p.id,
        "linkedin_url": p.linkedin_url,
        "full_name": name,
        "email": held.values.get(UnlockKind.EMAIL),
        "phone": held.values.get(UnlockKind.PHONE),
    }


def _credits(uow: UnitOfWork | None, actor: Actor, held: Held) -> dict:
    reasons = {kind.credit_type: reason for kind, reason in held.reasons.items()}
    return report(uow, actor, charged_of([held.reasons]), reasons, held.after)
