"""R15/R16: a List downloaded as CSV — 1 email credit per lead not yet unlocked (enrichment and
validation), and with `include_phone` 1 phone credit per lead whose phone is found and not held."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from backend.domain.credits import UnlockKind
from backend.domain.rules import UNLOCK_COST
from backend.persistence.tables import ListLead
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import bulk, charge_guard, jobs, lists, people
from backend.services.charge_guard import Actor
from backend.services.people import PEOPLE, PERSON
from backend.services.prefetch import KnownContacts
from backend.services.unlocking import found_kinds, unlock_many

KIND = "list_export"
LEADS = ListLead.__table__
COLUMNS = ("full_name", "linkedin_url", "email", "phone", "title", "company")


def queue(uow: UnitOfWork, actor: Actor, list_id: str, include_phone: bool, allow_partial: bool) -> dict:
    """Snapshot the list's leads now: what is exported is the list as it was when asked."""
    lists.get(uow, actor, list_id)
    person_ids = (
        uow.execute(
            select(LEADS.c.person_id)
            .where(LEADS.c.list_id == list_id)
            .order_by(LEADS.c.created_at, LEADS.c.person_id)
        )
        .scalars()
        .all()
    )
    params = {"list_id": list_id, "include_phone": include_phone, "allow_partial": allow_partial}
    return jobs.create(uow, actor, KIND, params, [{"person_id": pid} for pid in person_ids])


def kinds(job) -> tuple[UnlockKind, ...]:
    return (UnlockKind.EMAIL, UnlockKind.PHONE) if job.params["include_phone"] else (UnlockKind.EMAIL,)


def begin(uow: UnitOfWork, job) -> None:
    """R26: look every lead up first (nothing charged, nothing handed out) and reserve exactly what
    was found and is not held yet, so an account is refused only what it cannot actually pay for.
    Each item keeps what was found (`found`); only that is charged later (`sized`)."""
    bulk.reserve(uow, job, lambda: _sized(uow, job), KIND)


def _sized(uow: UnitOfWork, job) -> dict:
    amounts = Counter()
    for items in jobs.pending_pages(uow, job.id):
        amounts.update(_sized_page(uow, job, items))
    return dict(amounts)


def _sized_page(uow: UnitOfWork, job, items: list) -> Counter:
    """What these leads cost for what was found and is not held; each item keeps what was found."""
    ids = [i.payload["person_id"] for i in items]
    held = charge_guard.held(uow, job.account_id, ids, kinds(job))
    rows = people.find_ids(uow, ids)
    unheld = [rows[pid] for pid in ids if pid in rows and any((pid, k) not in held for k in kinds(job))]
    found = found_kinds(uow, unheld, kinds(job))
    amounts, payloads = Counter(), {}
    for i in items:
        pid = i.payload["person_id"]
        new = [k for k in found.get(pid, ()) if (pid, k) not in held]
        for kind in new:
            amounts[kind.credit_type] += UNLOCK_COST[kind]
        payloads[i.seq] = {**i.payload, "found": [str(k) for k in new]}
    jobs.set_payloads(uow, job.id, payloads)
    return amounts


def sized(items: list) -> set | None:
    """What the job's first lookup found and reserved for (R26); None for a partial run, which
    reserves nothing and charges what each chunk finds until credits end."""
    if not items or "found" not in items[0].payload:
        return None
    return {(i.payload["person_id"], UnlockKind(k)) for i in items for k in i.payload["found"]}


def prefetch(store: Store, job, items: list) -> Store:
    """Every lead is looked up: for the charge, or for the name and title the CSV shows."""
    ids = [i.payload["person_id"] for i in items]
    rows = store.run(lambda uow: uow.execute(select(*PERSON).where(PEOPLE.c.id.in_(ids))).all(), write=False)
    urls = [r.linkedin_url for r in rows if r.linkedin_url]
    emails = [r.email_key for r in rows if not r.linkedin_url and r.email_key]  # uploaded without a profile
    return store.with_ports(contacts=KnownContacts(store.contacts, urls, emails))


def process(uow: UnitOfWork, job, items: list) -> tuple[dict, Counter, dict | None]:
    ids = [i.payload["person_id"] for i in items]
    rows = {r.id: r for r in uow.execute(select(*PERSON).where(PEOPLE.c.id.in_(ids)))}
    reserved = bulk.reserved_of(job)
    held = unlock_many(
        uow,
        bulk.actor_of(job),
        [rows[pid] for pid in ids],
        kinds(job),
        KIND,
        reserved=reserved,
        partial=job.params["allow_partial"],
        sized=sized(items),
    )
    unseen = [p.linkedin_url for p in rows.values() if p.linkedin_url and held[p.id].contact is None]
    directory = uow.contacts.lookup_many(unseen) if unseen else {}  # names and titles cost nothing
    charged, outcomes = Counter(), {}
    for i in items:
        h = held[i.payload["person_id"]]
        contact = h.contact or directory.get(h.person.linkedin_url)
        for kind, reason in h.reasons.items():
            charged[kind.credit_type] += reason.amount
        status = h.reasons[UnlockKind.EMAIL].code
        outcomes[i.seq] = {
            "person_id": h.person.id,
            "linkedin_url": h.person.linkedin_url,
            "full_name": (contact.full_name if contact else None) or h.person.full_name,
            "title": contact.title if contact else None,
            "company": contact.company if contact else None,
            "email": h.values.get(UnlockKind.EMAIL),
            "phone": h.values.get(UnlockKind.PHONE) if job.params["include_phone"] else None,
            "status": str(status),
            "reasons": {str(k): r.as_json() for k, r in h.reasons.items()},
        }
    return outcomes, charged, reserved


def finish(uow: UnitOfWork, job) -> dict:
    bulk.release(uow, job, KIND)
    return {
        "list_id": job.params["list_id"],
        "include_phone": job.params["include_phone"],
        "counts": jobs.counts(job),
    }


def csv_columns(job) -> tuple:
    return COLUMNS if job.params["include_phone"] else tuple(c for c in COLUMNS if c != "phone")
