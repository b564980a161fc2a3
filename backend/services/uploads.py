"""CSV uploads (R17–R19): parse and estimate without charging, then — once the user confirms — a job
that enriches (0.5 email credit, only when something is found; it unlocks the lead, R19) and/or
validates emails (0.5 email credit each), never charging more than the estimate (R18)."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import delete, func, insert, literal, select, update

from backend.domain.credits import HALF, CreditType, UnlockKind, render
from backend.domain.errors import Conflict, InvalidInput, NotFound, TooLarge
from backend.domain.identity import email_key
from backend.domain.lead_files import (
    BadRow,
    Duplicate,
    LeadFileError,
    Limits,
    read_distinct,
)
from backend.domain.reasons import Reason, ReasonCode
from backend.domain.rules import UPLOAD_ENRICH_COST, UPLOAD_VALIDATE_COST
from backend.persistence.tables import JobItem, ListLead, Upload, UploadRow, utcnow
from backend.persistence.unit_of_work import Store, UnitOfWork
from backend.services import bulk, charge_guard, jobs, lists, people, suppression
from backend.services.charge_guard import Actor, Unlocking
from backend.services.prefetch import KnownContacts, KnownVerdicts
from backend.services.unlocking import unlock_many

KIND = "upload"
LIMITS = Limits(max_bytes=100 * 2**20, max_rows=1_000_000)
UPLOADS, ROWS, ITEMS, LEADS = Upload.__table__, UploadRow.__table__, JobItem.__table__, ListLead.__table__
BATCH = 2000
BAD_ROWS_SHOWN = 100
MAX_KEPT_BAD_ROWS = 1000  # kept with the upload; all are counted
COLUMNS = (
    "line",
    "linkedin_url",
    "email",
    "full_name",
    "company",
    "title",
    "enrich",
    "validation",
    "validation_reasons",
)


def parse(stream, limits: Limits | None = None):
    """The file's rows, later duplicates marked (`read_distinct`); file-level problems as API errors."""
    limits = limits or LIMITS
    try:
        yield from read_distinct(stream, limits)
    except LeadFileError as exc:
        if exc.code in ("too_large", "too_many_rows"):
            raise TooLarge(
                exc.message,
                limit=limits.max_bytes if exc.code == "too_large" else None,
                max_rows=limits.max_rows,
            ) from exc
        raise InvalidInput(exc.message, fields={"file": [exc.message]}, reason=exc.code) from exc


def create(store: Store, actor: Actor, stream, enrich: bool, validate: bool, list_id: str | None) -> dict:
    """R18: detect the leads and answer the most the chosen options can cost; nothing is charged.

    The distinct rows are stored in short transactions of BATCH rows, so even a million-row file never
    holds the database's write lock for long; the upload is `parsing` meanwhile (not confirmable),
    and a file refused midway leaves nothing behind."""
    upload_id = str(uuid.uuid4())
    store.run(lambda uow: _open(uow, actor, upload_id, enrich, validate, list_id))
    try:
        rows, bad, bad_count, duplicates, batch = 0, [], 0, 0, []
        for row in parse(stream):
            if isinstance(row, Duplicate):
                duplicates += 1
            elif isinstance(row, BadRow):
                bad_count += 1
                if len(bad) < MAX_KEPT_BAD_ROWS:
                    bad.append({"line": row.line, "reason": row.reason})
            else:
                batch.append(_payload(row))
                if len(batch) == BATCH:
                    rows += store.run(lambda uow, b=batch, n=rows: _store_rows(uow, upload_id, n, b))
                    batch = []
        if batch:
            rows += store.run(lambda uow: _store_rows(uow, upload_id, rows, batch))
    except BaseException:
        store.run(lambda uow: _discard(uow, upload_id))
        raise
    summary = {"bad_rows": bad, "bad_count": bad_count, "duplicates": duplicates}
    return store.run(lambda uow: _ready(uow, upload_id, rows, summary))


def _open(uow: UnitOfWork, actor: Actor, upload_id: str, enrich: bool, validate: bool, list_id: str | None):
    if list_id:
        lists.get(uow, actor, list_id)
    uow.execute(
        insert(UPLOADS).values(
            id=upload_id,
            account_id=actor.account_id,
            user_id=actor.user_id,
            status="parsing",
            enrich=enrich,
            validate_emails=validate,
            list_id=list_id,
            rows=0,
            summary={},
            created_at=utcnow(),
        )
    )


def _store_rows(uow: UnitOfWork, upload_id: str, first_seq: int, payloads: list[dict]) -> int:
    """Store a batch of distinct rows from `first_seq` on; a row naming an erased person's URL or email
    (R27) is left out, as if the file never held it. Answers how many were stored."""
    erased = suppression.suppressed(
        uow, [p["linkedin_url"] for p in payloads], [p["email"] for p in payloads]
    )
    kept = [p for p in payloads if p["linkedin_url"] not in erased and p["email"] not in erased]
    if kept:
        uow.execute(
            insert(ROWS),
            [{"upload_id": upload_id, "seq": first_seq + i, "payload": p} for i, p in enumerate(kept)],
        )
    return len(kept)


def _ready(uow: UnitOfWork, upload_id: str, rows: int, summary: dict) -> dict:
    uow.execute(
        update(UPLOADS)
        .where(UPLOADS.c.id == upload_id)
        .values(rows=rows, summary=summary, status="awaiting_confirmation")
    )
    return upload_json(uow.execute(select(UPLOADS).where(UPLOADS.c.id == upload_id)).one())


def _discard(uow: UnitOfWork, upload_id: str) -> None:
    uow.execute(delete(ROWS).where(ROWS.c.upload_id == upload_id))
    uow.execute(delete(UPLOADS).where(UPLOADS.c.id == upload_id))


def _payload(row) -> dict:
    return {
        "line": row.line,
        "linkedin_url": row.linkedin_url,
        "email": row.email,
        "full_name": row.full_name,
        "company": row.company,
        "title": row.title,
    }


def maximum(upload) -> int:
    """R17/R18: 0.5 email credit per lead per chosen option."""
    per_lead = (UPLOAD_ENRICH_COST if upload.enrich else 0) + (
        UPLOAD_VALIDATE_COST if upload.validate_emails else 0
    )
    return upload.rows * per_lead


def upload_json(upload) -> dict:
    return {
        "id": upload.id,
        "status": upload.status,
        "rows": upload.rows,
        "options": {"enrich": upload.enrich, "validate": upload.validate_emails},
        "list_id": upload.list_id,
        "estimate": {
            "max": {str(t): render(maximum(upload) if t is CreditType.EMAIL else 0) for t in CreditType}
        },
        "bad_rows": {
            "count": upload.summary.get("bad_count", 0),
            "rows": upload.summary.get("bad_rows", [])[:BAD_ROWS_SHOWN],
        },
        "duplicates": upload.summary.get("duplicates", 0),
        "job_id": upload.job_id,
        "created_at": upload.created_at,
    }


def _awaiting(uow: UnitOfWork, actor: Actor, upload_id: str):
    """The upload, locked (PostgreSQL) so that two confirms or cancels take their turns."""
    upload = uow.execute(select(UPLOADS).where(UPLOADS.c.id == upload_id).with_for_update()).first()
    if upload is None or upload.account_id != actor.account_id:
        raise NotFound(f"no upload {upload_id!r}")
    if upload.status != "awaiting_confirmation":
        raise Conflict(
            f"this upload is already {upload.status}; upload the file again to start over",
            job_id=upload.job_id,
        )
    return upload


def confirm(uow: UnitOfWork, actor: Actor, upload_id: str) -> dict:
    """The user accepted the estimate: the detected leads become a job (queued by the caller), with the
    estimate set aside in this transaction. When the balance cannot cover it the answer is 402 and
    nothing changes: the upload waits to be confirmed again (a job failing later would have used up
    the file's rows)."""
    upload = _awaiting(uow, actor, upload_id)
    if upload.list_id:  # the list may have been deleted since the upload; a concurrent delete waits
        lists.lock(uow, actor, upload.list_id)
    params = {
        "upload_id": upload.id,
        "enrich": upload.enrich,
        "validate": upload.validate_emails,
        "list_id": upload.list_id,
        "max": maximum(upload),
    }
    job = jobs.create(uow, actor, KIND, params, [])
    # the rows still there: an erasure (R27) may have removed some since the upload
    total = uow.execute(
        select(func.count()).select_from(ROWS).where(ROWS.c.upload_id == upload.id)
    ).scalar_one()
    uow.execute(
        insert(ITEMS).from_select(
            ["job_id", "seq", "payload", "done"],
            select(literal(job["id"]), ROWS.c.seq, ROWS.c.payload, literal(False)).where(
                ROWS.c.upload_id == upload.id
            ),
        )
    )
    uow.execute(update(jobs.JOBS).where(jobs.JOBS.c.id == job["id"]).values(progress_total=total))
    uow.execute(delete(ROWS).where(ROWS.c.upload_id == upload.id))
    uow.execute(update(UPLOADS).where(UPLOADS.c.id == upload.id).values(status="confirmed", job_id=job["id"]))
    begin(uow, jobs.row(uow, job["id"]))
    return {**job, "progress": {"done": 0, "total": total}}


def cancel(uow: UnitOfWork, actor: Actor, upload_id: str) -> dict:
    upload = _awaiting(uow, actor, upload_id)
    uow.execute(delete(ROWS).where(ROWS.c.upload_id == upload.id))
    uow.execute(update(UPLOADS).where(UPLOADS.c.id == upload.id).values(status="cancelled"))
    return {"id": upload.id, "status": "cancelled", "credits": {"charged": {str(t): 0 for t in CreditType}}}


# The job -----------------------------------------------------------------------------------------


def begin(uow: UnitOfWork, job) -> None:
    """Set the estimate aside: the actual charge can only be lower (R18)."""
    bulk.reserve(uow, job, lambda: {CreditType.EMAIL: job.params["max"]} if job.params["max"] else {}, KIND)


def prefetch(store: Store, job, items: list) -> Store:
    """Enrichment looks every row's person up; validation checks the email each row will end with."""
    payloads = [i.payload for i in items]
    contacts, validator = store.contacts, store.validator
    if job.params["enrich"]:
        urls = [p["linkedin_url"] for p in payloads if p["linkedin_url"]]
        contacts = KnownContacts(contacts, urls, [p["email"] for p in payloads if not p["linkedin_url"]])
    if job.params["validate"]:
        validator = KnownVerdicts(validator, _emails_to_validate(store, job, payloads, contacts))
    return store.with_ports(contacts, validator)


def _emails_to_validate(store: Store, job, payloads: list[dict], contacts) -> list[str]:
    """As far as a read can tell, what `_validate` will ask: the email enrichment finds, else the row's;
    none for a person whose email the account already holds or had validated."""

    def covered(uow) -> tuple[set[str], set[str]]:
        found = people.find_many(uow, [p["linkedin_url"] for p in payloads if p["linkedin_url"]])
        found.update(people.find_emails(uow, [p["email"] for p in payloads if not p["linkedin_url"]]))
        kinds = (UnlockKind.EMAIL, UnlockKind.VALIDATION)
        held = {
            pid for pid, _ in charge_guard.held(uow, job.account_id, [p.id for p in found.values()], kinds)
        }
        skip = {key for key, person in found.items() if person.id in held}
        return skip, _unlocked_emails(uow, job.account_id, [p["email"] for p in payloads if p["email"]])

    (skip, unlocked), emails = store.run(covered, write=False), []
    for p in payloads:
        if _key(p) in skip:
            continue
        contact = None
        if job.params["enrich"]:
            url = p["linkedin_url"]
            contact = contacts.lookup_many([url]).get(url) if url else contacts.lookup_by_email(p["email"])
        email = (contact.email if contact else None) or p["email"]
        if email and email_key(email) not in unlocked:
            emails.append(email)
    return emails


def process(uow: UnitOfWork, job, items: list) -> tuple[dict, Counter, dict | None]:
    actor = bulk.actor_of(job)
    found = _people(uow, [i.payload for i in items])
    ids = list({p.id: p for p in found.values()})
    before = charge_guard.held(uow, actor.account_id, ids, (UnlockKind.EMAIL, UnlockKind.VALIDATION))
    unlocked = _unlocked_emails(
        uow, actor.account_id, [i.payload["email"] for i in items if i.payload["email"]]
    )
    reserved = bulk.reserved_of(job)
    enriched = {}
    if job.params["enrich"]:
        enriched = unlock_many(
            uow,
            actor,
            list({p.id: p for p in found.values()}.values()),
            (UnlockKind.EMAIL,),
            "upload_enrich",
            reserved=reserved,
            costs={UnlockKind.EMAIL: HALF},
        )
    outcomes, charged = {}, Counter()
    for h in enriched.values():
        charged[CreditType.EMAIL] += h.reasons[UnlockKind.EMAIL].amount
    verdicts = (
        _validate(uow, job, actor, items, found, enriched, before, unlocked, reserved)
        if job.params["validate"]
        else {}
    )
    for i in items:
        person = found[_key(i.payload)]
        held = enriched.get(person.id)
        enrich = held.reasons[UnlockKind.EMAIL].code if held else None
        verdict = verdicts.get(i.seq)
        charged[CreditType.EMAIL] += verdict[1] if verdict else 0
        outcomes[i.seq] = {
            **i.payload,
            "person_id": person.id,
            "email": (held.values.get(UnlockKind.EMAIL) if held else None) or i.payload["email"],
            "enrich": str(enrich) if enrich else None,
            "validation": verdict[0]["status"] if verdict else None,
            "validation_reasons": " ".join(verdict[0]["reasons"]) if verdict else None,
            "status": _status(enrich, verdict),
        }
    if job.params["list_id"]:
        lists.add_many(uow, actor, job.params["list_id"], ids)
    return outcomes, charged, reserved


def _status(enrich, verdict) -> str:
    """The row's headline for the job's counts: the enrichment's reason, else the validation's verdict."""
    if enrich:
        return str(enrich)
    return verdict[0]["status"] if verdict else "imported"


def _key(payload: dict) -> str:
    return payload["linkedin_url"] or payload["email"].strip().lower()


def _people(uow: UnitOfWork, payloads: list[dict]) -> dict:
    """R1: rows with a profile URL are that person; rows with only an email are keyed by it."""
    urls = [p["linkedin_url"] for p in payloads if p["linkedin_url"]]
    emails = [p["email"] for p in payloads if not p["linkedin_url"]]
    found = people.resolve_many(uow, urls) if urls else {}
    if emails:
        found.update(people.resolve_emails(uow, emails))
    return found


def _unlocked_emails(uow: UnitOfWork, account_id: str, emails: list[str]) -> set[str]:
    """Those of these emails the account holds as some person's email unlock, lower-cased: a row
    giving only the email is another person (R1), yet the address was validated when unlocked."""
    keys, found = sorted({email_key(e) for e in emails}), set()
    unlocks = charge_guard.UNLOCKS
    for i in range(0, len(keys), 500):
        found.update(
            uow.execute(
                select(func.lower(unlocks.c.value)).where(
                    unlocks.c.account_id == account_id,
                    unlocks.c.kind == str(UnlockKind.EMAIL),
                    func.lower(unlocks.c.value).in_(keys[i : i + 500]),
                )
            ).scalars()
        )
    return found


def _validate(uow, job, actor, items, found, enriched, before, unlocked, reserved) -> dict:
    """R17: 0.5 per validated email. An email the account unlocked before this upload was validated
    when it was unlocked (R15), whichever person it was unlocked for, and a validation is never
    charged twice; no email, nothing to check."""
    todo, verdicts = {}, {}
    for i in items:
        person = found[_key(i.payload)]
        held = enriched.get(person.id)
        email = (held.values.get(UnlockKind.EMAIL) if held else None) or i.payload["email"]
        covered = (
            (person.id, UnlockKind.EMAIL) in before
            or (person.id, UnlockKind.VALIDATION) in before
            # the enrichment found the email unlocked, read with the balance rows taken: a reveal
            # committed since `before` was read (no earlier lock here: the enrichment names people
            # first, as every charge does, and balance rows before that would deadlock a reveal)
            or (held is not None and held.reasons[UnlockKind.EMAIL].code is ReasonCode.ALREADY_UNLOCKED)
            or (email and email_key(email) in unlocked)
        )
        if email and not covered:
            todo.setdefault(person.id, (email, []))[1].append(i.seq)
        elif email:
            verdicts[i.seq] = ({"status": "covered", "reasons": [str(ReasonCode.ALREADY_UNLOCKED)]}, 0)
        else:
            verdicts[i.seq] = ({"status": "no_email", "reasons": [str(ReasonCode.NOT_FOUND)]}, 0)
    if not todo:
        return verdicts
    results = uow.validator.validate_many([email for email, _ in todo.values()])
    wanted = [
        Unlocking(pid, UnlockKind.VALIDATION, UPLOAD_VALIDATE_COST, v.status)
        for pid, v in zip(todo, results, strict=True)
    ]
    outcome = charge_guard.charge_unlocks(uow, actor, "upload_validate", wanted, reserved=reserved)
    for (pid, (_, seqs)), verdict in zip(todo.items(), results, strict=True):
        reason: Reason = outcome.reasons[(pid, UnlockKind.VALIDATION)]
        for n, seq in enumerate(seqs):
            verdicts[seq] = (
                {"status": verdict.status, "reasons": list(verdict.reasons)},
                reason.amount if n == 0 else 0,
            )
    return verdicts


def finish(uow: UnitOfWork, job) -> dict:
    bulk.release(uow, job, KIND)
    return {
        "upload_id": job.params["upload_id"],
        "counts": jobs.counts(job),
        "max": render(job.params["max"]),
    }


def csv_columns(job) -> tuple:
    return COLUMNS
