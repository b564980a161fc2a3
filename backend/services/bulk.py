"""What every bulk job kind shares: a reservation made before anything is charged (R23), drawn on
by each chunk, and released at the end."""

from __future__ import annotations

from collections.abc import Callable

from backend.domain.credits import CREDIT_TYPES, CreditType
from backend.services import charge_guard, jobs
from backend.services.charge_guard import Actor


def actor_of(job) -> Actor:
    return Actor(job.account_id, job.user_id)


def reserved_of(job) -> dict[CreditType, int] | None:
    """The job's remaining reservation; None for a partial run, which draws on the balance."""
    if not job.reserved:
        return None
    return {CreditType(k): v for k, v in job.reserved.items()}


def reserve(uow, job, maximum: Callable[[], dict[CreditType, int]], action: str) -> None:
    """All or nothing: set the most the job can cost aside now, or fail with insufficient_credits
    before any lead is charged. `maximum` is worked out with the account's balance rows taken, as
    every charge reads what the account holds: an unlock committed since cannot be reserved for
    again. A partial run reserves nothing (nor works the most out) and stops charging when credits
    end."""
    if job.params.get("allow_partial"):
        jobs.set_reserved(uow, job.id, {})
        return
    charge_guard.lock_balances(uow, job.account_id, CREDIT_TYPES)
    amounts = maximum()
    for credit_type, amount in sorted(amounts.items()):
        charge_guard.reserve(uow, actor_of(job), credit_type, amount, action)
    jobs.set_reserved(uow, job.id, amounts)


def release(uow, job, action: str) -> None:
    for credit_type, amount in (reserved_of(job) or {}).items():
        charge_guard.release(uow, actor_of(job), credit_type, amount, action)
    jobs.set_reserved(uow, job.id, {})
