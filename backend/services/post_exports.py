"""R14: "Export leads" of a post's likers and commenters — to a List (1 email credit per lead pulled,
free when already unlocked, nothing when no email is found) or to a CSV (free: nothing is enriched)."""

from __future__ import annotations

from collections import Counter

from backend.domain.credits import CreditType, UnlockKind
from backend.domain.reasons import ReasonCode
from backend.domain.rules import UNLOCK_COST
from backend.persistence.tables import ListLead
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import bulk, charge_guard, jobs, lists, people, suppression
from backend.services.charge_guard import Actor
from backend.services.credit_report import charged_of
from backend.services.prefetch import KnownContacts
from backend.services.unlocking import unlock_many

KIND = "post_export"
EMAIL = (UnlockKind.EMAIL,)
LEADS = ListLead.__table__
CSV_COLUMNS = ("full_name", "linkedin_url", "engagement", "post_url")


def queue(
    uow: UnitOfWork,
    actor: Actor,
    post_url: str,
    engagers: list[dict],
    destination: str,
    list_id: str | None,
    allow_partial: bool,
) -> dict:
    """Validate the target, fold engagers by canonical URL (first mention wins), and create the job.
    An erased person among the engagers (R27) is left out: the job never holds them."""
    if destination == "list":
        lists.lock(uow, actor, list_id)  # a concurrent delete of the list waits, then sees this job
    erased = suppression.suppressed(uow, [e["linkedin_url"] for e in engagers])
    engagers = [e for e in engagers if e["linkedin_url"] not in erased]
    seen, items = set(), []
    for e in engagers:
        if e["linkedin_url"] not in seen:
            seen.add(e["linkedin_url"])
            items.append(
                {
                    "linkedin_url": e["linkedin_url"],
                    "full_name": e.get("full_name"),
                    "engagement": e["engagement"],
                }
            )
    params = {
        "post_url": post_url,
        "destination": destination,
        "list_id": list_id,
        "allow_partial": allow_partial,
        "duplicates": len(engagers) - len(items),
    }
    return jobs.create(uow, actor, KIND, params, items)


def begin(uow: UnitOfWork, job) -> None:
    """List destination, R26: look every engager up first (nothing charged, nothing handed out) and
    reserve one email credit per email found that the account does not hold yet. Each item keeps
    whether one was found (`found`); only those are charged later."""
    if job.params["destination"] != "list":
        jobs.set_reserved(uow, job.id, {})
        return
    bulk.reserve(uow, job, lambda: _sized(uow, job), KIND)


def _sized(uow: UnitOfWork, job) -> dict:
    found = sum(_found_in_page(uow, job, items) for items in jobs.pending_pages(uow, job.id))
    return {CreditType.EMAIL: found * UNLOCK_COST[UnlockKind.EMAIL]} if found else {}


def _found_in_page(uow: UnitOfWork, job, items: list) -> int:
    """How many of these engagers have an email the account does not hold yet; each item keeps it."""
    urls = [i.payload["linkedin_url"] for i in items]
    known = people.find_many(uow, urls)  # someone we have never seen cannot be unlocked yet
    held = charge_guard.held(uow, job.account_id, [p.id for p in known.values()], EMAIL)
    unheld = [u for u in urls if u not in known or (known[u].id, UnlockKind.EMAIL) not in held]
    contacts = uow.contacts.lookup_many(unheld) if unheld else {}
    payloads = {
        i.seq: {**i.payload, "found": ["email"] if _email(contacts, i.payload["linkedin_url"]) else []}
        for i in items
    }
    jobs.set_payloads(uow, job.id, payloads)
    return sum(1 for p in payloads.values() if p["found"])


def _email(contacts: dict, url: str) -> bool:
    contact = contacts.get(url)
    return bool(contact and contact.email)


def _sized_people(items: list, found: dict) -> set | None:
    """What the first lookup found and reserved for (R26); None for a partial run."""
    if not items or "found" not in items[0].payload:
        return None
    return {(found[i.payload["linkedin_url"]].id, UnlockKind.EMAIL) for i in items if i.payload["found"]}


def prefetch(store: Store, job, items: list) -> Store:
    """The list destination looks every engager up (names for new people, data for the charge)."""
    if job.params["destination"] != "list":
        return store
    return store.with_ports(
        contacts=KnownContacts(store.contacts, [i.payload["linkedin_url"] for i in items])
    )


def process(uow: UnitOfWork, job, items: list) -> tuple[dict, Counter, dict | None]:
    if job.params["destination"] == "csv":
        post_url = job.params["post_url"]
        return (
            {i.seq: {**i.payload, "post_url": post_url, "status": "exported"} for i in items},
            Counter(),
            None,
        )
    actor = bulk.actor_of(job)
    urls = [i.payload["linkedin_url"] for i in items]
    looked_up = uow.contacts.lookup_many(urls)  # one lookup: names for new people, data for the charge
    source_names = {url: contact.full_name for url, contact in looked_up.items()}
    found = people.resolve_many(uow, urls, source_names)
    reserved = bulk.reserved_of(job)
    held = unlock_many(
        uow,
        actor,
        [found[url] for url in urls],  # the post's order: a partial run skips its last leads
        EMAIL,
        KIND,
        reserved=reserved,
        partial=job.params["allow_partial"],
        looked_up={url: looked_up.get(url) for url in urls},
        sized=_sized_people(items, found),
    )
    outcomes, added = {}, []
    for i in items:
        person = found[i.payload["linkedin_url"]]
        reason = held[person.id].reasons[UnlockKind.EMAIL]
        if reason.code is not ReasonCode.SKIPPED:
            added.append(person.id)
        outcomes[i.seq] = {
            **i.payload,
            "person_id": person.id,
            "status": str(reason.code),
            "email": held[person.id].values.get(UnlockKind.EMAIL),
        }
    lists.add_many(uow, actor, job.params["list_id"], added)
    return outcomes, charged_of([h.reasons for h in held.values()]), reserved


def finish(uow: UnitOfWork, job) -> dict:
    bulk.release(uow, job, KIND)
    return {
        "destination": job.params["destination"],
        "list_id": job.params["list_id"],
        "duplicates_folded": job.params["duplicates"],
        "counts": jobs.counts(job),
    }


def csv_columns(job) -> tuple | None:
    """The CSV destination's download: what the extension sent, nothing enriched."""
    return CSV_COLUMNS if job.params["destination"] == "csv" else None
