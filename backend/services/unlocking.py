"""The step every charging action shares: hold a person's email and/or phone, paying at most once.

Looks the person up only for what the account does not hold yet, charges only what was found (R4),
and lets the charge guard decide the rest (R2, R3, R5, R6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, update

from adapters.contacts.base import Contact
from backend.domain.credits import UnlockKind
from backend.domain.reasons import Reason, ReasonCode
from backend.domain.rules import UNLOCK_COST
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import charge_guard
from backend.services.charge_guard import Actor, After, Outcome, Unlocking
from backend.services.people import PEOPLE


@dataclass
class Held:
    """What the account holds of one person after the action, and why each kind cost what it did."""

    person: object
    values: dict[UnlockKind, str] = field(default_factory=dict)
    reasons: dict[UnlockKind, Reason] = field(default_factory=dict)
    contact: Contact | None = None
    after: After | None = None  # the balances and limits after the charge, when it read them back


def unlock(
    uow: UnitOfWork,
    actor: Actor,
    person,
    kinds: tuple[UnlockKind, ...],
    action: str,
    looked_up: dict | None = None,
    known: dict | None = None,
) -> Held:
    """`known`: what a read just before found the account held of this person (else it is read)."""
    return unlock_many(uow, actor, [person], kinds, action, looked_up=looked_up, known=known)[person.id]


def unlock_many(
    uow: UnitOfWork,
    actor: Actor,
    people: list,
    kinds: tuple[UnlockKind, ...],
    action: str,
    *,
    reserved: dict | None = None,
    partial: bool = False,
    costs: dict[UnlockKind, int] = UNLOCK_COST,
    looked_up: dict | None = None,
    known: dict | None = None,
    sized: set[tuple[str, UnlockKind]] | None = None,
) -> dict[str, Held]:
    """`unlock` for many people in a few statements; bulk jobs pass their reservation (R23), and
    uploads their own price (R17: enrichment at half a credit). `looked_up`: contacts the caller
    already fetched (profile URL -> Contact or None), so the lookup can happen outside the write lock.
    `known`: the caller's read of what the account holds among them, for a plain charge only (one
    that draws on credits in hand needs the held unlocks read in its own transaction). `sized`: what a
    job's first lookup found and reserved for exactly (R26); nothing else is charged or handed out, so
    the job never charges past its reservation, whatever the source learned since."""
    result = {p.id: Held(p) for p in people}
    plain = reserved is None and not partial
    existing = (
        known if known is not None and plain else charge_guard.held(uow, actor.account_id, result, kinds)
    )
    for (pid, kind), row in existing.items():
        result[pid].values[kind] = row.value
    need = [p for p in people if any((p.id, k) not in existing for k in kinds)]
    contacts = look_up(uow, need, looked_up or {})
    wanted = []
    _name_people(uow, need, contacts)
    for p in need:
        contact = result[p.id].contact = contacts.get(p.id)
        for kind in kinds:
            if (p.id, kind) in existing:
                continue
            value = _value(contact, kind)
            if value and (sized is None or (p.id, kind) in sized):
                wanted.append(Unlocking(p.id, kind, costs[kind], value))
            else:
                result[p.id].reasons[kind] = Reason(ReasonCode.NOT_FOUND)
    outcome = charge_guard.charge_unlocks(
        uow, actor, action, wanted, reserved=reserved, partial=partial, known=existing
    )
    _record(result, outcome, wanted, existing, actor)
    return result


def _record(result: dict[str, Held], outcome: Outcome, wanted, existing, actor: Actor) -> None:
    for held in result.values():
        held.after = outcome.after
    for (pid, kind), row in existing.items():
        result[pid].reasons[kind] = charge_guard.already_unlocked(row, actor)
    for w in wanted:
        key = (w.person_id, w.kind)
        reason = result[w.person_id].reasons[w.kind] = outcome.reasons[key]
        if reason.code is not ReasonCode.SKIPPED:  # a skipped unlock is not held: its data stays back
            result[w.person_id].values[w.kind] = outcome.values.get(key, w.value)


def found_kinds(uow: UnitOfWork, people: list, kinds: tuple[UnlockKind, ...]) -> dict[str, list[UnlockKind]]:
    """R26: which of `kinds` the contact source has for each person, asked with nothing charged and
    nothing handed out (a bulk job sizes its reservation by it)."""
    contacts = look_up(uow, people, {})
    return {p.id: [k for k in kinds if _value(contacts.get(p.id), k)] for p in people}


def look_up(uow: UnitOfWork, people: list, looked_up: dict) -> dict[str, Contact]:
    """Each person's contact in the source (by profile URL, else by email for upload-only people);
    `looked_up` answers those the caller already asked about."""
    by_url = {p.linkedin_url: p.id for p in people if p.linkedin_url}
    contacts = {by_url[url]: c for url, c in looked_up.items() if url in by_url and c is not None}
    ask = [url for url in by_url if url not in looked_up]
    found = uow.contacts.lookup_many(ask) if ask else {}
    contacts.update({by_url[url]: c for url, c in found.items()})
    for p in people:
        if not p.linkedin_url and p.email_key:
            contact = uow.contacts.lookup_by_email(p.email_key)
            if contact:
                contacts[p.id] = contact
    return contacts


def _name_people(uow: UnitOfWork, people: list, contacts: dict[str, Contact]) -> None:
    """Remember the name a lookup found, so later answers show it without another lookup."""
    unnamed = [
        {"pid": p.id, "name": contacts[p.id].full_name}
        for p in people
        if not p.full_name and p.id in contacts and contacts[p.id].full_name
    ]
    if unnamed:
        uow.execute(
            update(PEOPLE).where(PEOPLE.c.id == bindparam("pid")).values(full_name=bindparam("name")), unnamed
        )


def _value(contact: Contact | None, kind: UnlockKind) -> str | None:
    if contact is None:
        return None
    return contact.phone if kind is UnlockKind.PHONE else contact.email
