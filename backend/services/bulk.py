"""What every bulk job kind shares: a reservation made before anything is charged (R23), drawn on
by each chunk, and released at the end."""

from __future__ import annotations

from backend.domain.credits import CreditType
from backend.services import charge_guard, jobs
from backend.services.charge_guard import Actor


def actor_of(job) -> Actor:
    return Actor(job.account_id, job.user_id)


def reserved_of(job) -> dict[CreditType, int] | None:
    """The job's remaining reservation; None for a partial run, which draws on the balance."""
    if not job.reserved:
        return None
    return {CreditType(k): v for k, v in job.reserved.items()}


def reserve(uow, job, maximum: dict[CreditType, int], action: str) -> None:
    """All or nothing: set the most the job can cost aside now, or fail with insufficient_credits
    before any lead is charged. A partial run reserves nothing and stops charging when credits end."""
    if job.params.get("allow_partial"):
        jobs.set_reserved(uow, job.id, {})
        return
    for credit_type, amount in sorted(maximum.items()):
        charge_guard.reserve(uow, actor_of(job), credit_type, amount, action)
    jobs.set_reserved(uow, job.id, maximum)


def release(uow, job, action: str) -> None:
    for credit_type, amount in (reserved_of(job) or {}).items():
        charge_guard.release(uow, actor_of(job), credit_type, amount, action)
    jobs.set_reserved(uow, job.id, {})
