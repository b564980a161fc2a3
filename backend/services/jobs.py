"""Job bookkeeping: create with items, claim under a lease, record chunk progress, finish.

Items flip to done in the same transaction as their charges, and the lease is renewed with each
chunk, so a job whose worker died resumes where its last commit left it, charging nobody twice."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, or_, select, true, update

from backend.domain.credits import CreditType, render
from backend.domain.errors import NotFound
from backend.persistence.statements import execute_many
from backend.persistence.tables import Job, JobItem, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services.charge_guard import Actor

JOBS = Job.__table__
ITEMS = JobItem.__table__
RESULTS_SHOWN = 10_000


def create(uow: UnitOfWork, actor: Actor, kind: str, params: dict, items: list[dict]) -> dict:
    job_id = str(uuid.uuid4())
    uow.execute(
        insert(JOBS).values(
            id=job_id,
            account_id=actor.account_id,
            user_id=actor.user_id,
            kind=kind,
            status="queued",
            params=params,
            progress_done=0,
            progress_total=len(items),
            charged={},
            created_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    if items:
        uow.execute(
            insert(ITEMS),
            [{"job_id": job_id, "seq": i, "payload": p, "done": False} for i, p in enumerate(items)],
        )
    return {"id": job_id, "kind": kind, "status": "queued", "progress": {"done": 0, "total": len(items)}}


def get(uow: UnitOfWork, actor: Actor, job_id: str) -> dict:
    job = owned(uow, actor, job_id)
    out = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "credits": {"charged": {str(t): render(job.charged.get(str(t), 0)) for t in CreditType}},
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
    if job.result is not None:
        out["result"] = {**job.result, "results": outcomes(uow, job.id, RESULTS_SHOWN)}
    if job.error is not None:
        out["error"] = job.error
    return out


def row(uow: UnitOfWork, job_id: str):
    return uow.execute(select(JOBS).where(JOBS.c.id == job_id)).one()


def owned(uow: UnitOfWork, actor: Actor, job_id: str):
    job = uow.execute(select(JOBS).where(JOBS.c.id == job_id)).first()
    if job is None or job.account_id != actor.account_id:
        raise NotFound(f"no job {job_id!r}")
    return job


def claim(uow: UnitOfWork, job_id: str, now: datetime, lease_seconds: float, token: str) -> bool:
    """Take the job if it is queued, or running under an expired lease (its worker died)."""
    won = uow.execute(
        update(JOBS)
        .where(
            JOBS.c.id == job_id,
            or_(
                JOBS.c.status == "queued",
                (JOBS.c.status == "running") & (or_(JOBS.c.lease_until.is_(None), JOBS.c.lease_until < now)),
            ),
        )
        .values(
            status="running",
            lease_until=now + timedelta(seconds=lease_seconds),
            lease_token=token,
            updated_at=now,
        )
    ).rowcount
    return won == 1


def renew(uow: UnitOfWork, job_id: str, token: str, now: datetime, lease_seconds: float):
    """Start of every step of a job: extend the lease if this worker still holds it, and answer the
    job's row as it is now (on PostgreSQL the UPDATE also locks the row until the step commits, so a
    second holder waits, then finds the token changed). None: another worker took the job over."""
    held = uow.execute(
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.lease_token == token, JOBS.c.status == "running")
        .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
    ).rowcount
    return row(uow, job_id) if held == 1 else None


def stale(uow: UnitOfWork, now: datetime) -> list[str]:
    """Jobs a dead worker left: queued ones whose task was lost, running ones past their lease."""
    return list(
        uow.execute(
            select(JOBS.c.id).where(
                or_(JOBS.c.status == "queued", (JOBS.c.status == "running") & (JOBS.c.lease_until < now))
            )
        ).scalars()
    )


def pending_items(uow: UnitOfWork, job_id: str, limit: int, after: int = -1) -> list:
    """The next `limit` items not done, in order. `after`: the last seq this worker finished, so the
    read starts there instead of stepping over every finished item again."""
    return uow.execute(
        select(ITEMS.c.seq, ITEMS.c.payload)
        .where(ITEMS.c.job_id == job_id, ITEMS.c.seq > after, ITEMS.c.done.is_(False))
        .order_by(ITEMS.c.seq)
        .limit(limit)
    ).all()


_ITEM_PAYLOAD = (
    update(ITEMS)
    .where(ITEMS.c.job_id == bindparam("j"), ITEMS.c.seq == bindparam("s"))
    .values(payload=bindparam("p"))
)


SIZING_PAGE = 5_000  # items a job's first step holds at once, with what it looked up about them


def pending_pages(uow: UnitOfWork, job_id: str):
    """Every item not done, in order, a page at a time: what a job's first step sizes its reservation
    by (R26). One list of a 100,000-lead export, with each lead's lookup, took 130 MB at once."""
    after = -1
    while page := pending_items(uow, job_id, SIZING_PAGE, after):
        yield page
        after = page[-1].seq


def set_payloads(uow: UnitOfWork, job_id: str, payloads: dict[int, dict]) -> None:
    execute_many(uow, _ITEM_PAYLOAD, [{"j": job_id, "s": seq, "p": p} for seq, p in payloads.items()])


_ITEM_DONE = (
    update(ITEMS)
    .where(ITEMS.c.job_id == bindparam("j"), ITEMS.c.seq == bindparam("s"))
    .values(done=true(), outcome=bindparam("o"))
)


def record_chunk(
    uow: UnitOfWork,
    job,
    outcomes_by_seq: dict[int, dict],
    charged: dict,
    reserved: dict | None,
) -> None:
    """Mark the chunk's items done with their outcomes and move the job's counters, in the chunk's
    transaction (which `renew` began, so `job` is current)."""
    execute_many(uow, _ITEM_DONE, [{"j": job.id, "s": seq, "o": o} for seq, o in outcomes_by_seq.items()])
    tally = dict((job.result or {}).get("counts", {}))
    for outcome in outcomes_by_seq.values():
        tally[outcome["status"]] = tally.get(outcome["status"], 0) + 1
    total = dict(job.charged)
    for t, amount in charged.items():
        total[str(t)] = total.get(str(t), 0) + amount
    uow.execute(
        update(JOBS)
        .where(JOBS.c.id == job.id)
        .values(
            progress_done=JOBS.c.progress_done + len(outcomes_by_seq),
            charged=total,
            result={"counts": tally},  # so far: GET /v1/jobs/<id> shows progress by outcome
            reserved={str(k): v for k, v in reserved.items()} if reserved is not None else job.reserved,
        )
    )


def finish(
    uow: UnitOfWork, job_id: str, now: datetime, *, result: dict | None = None, error: dict | None = None
) -> None:
    uow.execute(
        update(JOBS)
        .where(JOBS.c.id == job_id)
        .values(
            status="failed" if error else "succeeded",
            result=result,
            error=error,
            lease_until=None,
            lease_token=None,
            updated_at=now,
        )
    )


def set_reserved(uow: UnitOfWork, job_id: str, reserved: dict) -> None:
    uow.execute(
        update(JOBS).where(JOBS.c.id == job_id).values(reserved={str(k): v for k, v in reserved.items()})
    )


def outcomes(uow: UnitOfWork, job_id: str, limit: int) -> list[dict]:
    """The first `limit` per-lead outcomes, in the job's order (all of them are in its CSV)."""
    stmt = select(ITEMS.c.outcome).where(ITEMS.c.job_id == job_id, ITEMS.c.done.is_(True))
    return list(uow.execute(stmt.order_by(ITEMS.c.seq).limit(limit)).scalars())


def outcome_page(uow: UnitOfWork, job_id: str, after: int, limit: int) -> list:
    """(seq, outcome) rows after `after`, for streaming a job's CSV in bounded memory."""
    return uow.execute(
        select(ITEMS.c.seq, ITEMS.c.outcome)
        .where(ITEMS.c.job_id == job_id, ITEMS.c.seq > after)
        .order_by(ITEMS.c.seq)
        .limit(limit)
    ).all()


def counts(job) -> dict:
    """How many items ended in each status (charged, already_unlocked, not_found, skipped, …), as the
    chunks recorded them."""
    return dict((job.result or {}).get("counts", {}))
