"""A job's lease: a worker that outlived it is stopped by the token check, and the worker that took
the job over finishes it with exact money (R23, no credits created or charged twice)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError

from backend.config import Settings
from backend.domain.credits import MILLI, CreditType
from backend.jobs.runner import run_job
from backend.services import charge_guard, jobs, lists, post_exports
from tests.invariants import assert_ledger_invariants


def ten_engagers_to_a_list(store, world):
    """An account with 20 credits and its queued export of ten engagers to a list."""
    actor = world.account(email=20)
    lid = store.run(lambda uow: lists.create(uow, actor, "L"))["id"]
    engagers = [{"linkedin_url": u, "full_name": None, "engagement": "like"} for u in world.people(10)]
    job = store.run(
        lambda uow: post_exports.queue(uow, actor, "https://x.example/p", engagers, "list", lid, False)
    )
    return actor, job


def assert_finished_exactly(store, actor, job):
    """Every one of the ten leads done and charged once: 10 of the 20 credits left."""
    done = store.run(lambda uow: jobs.get(uow, actor, job["id"]))
    assert done["status"] == "succeeded" and done["progress"] == {"done": 10, "total": 10}
    assert done["credits"]["charged"]["email"] == 10
    balance = store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL]
    assert balance == 10 * MILLI
    assert_ledger_invariants(store)


def test_a_worker_past_its_lease_cannot_write_and_the_new_holder_finishes_exactly(store, world, db_url):
    actor, job = ten_engagers_to_a_list(store, world)
    now = datetime.now(UTC)
    assert store.run(lambda uow: jobs.claim(uow, job["id"], now, 300, "worker-a"))
    store.run(lambda uow: post_exports.begin(uow, jobs.renew(uow, job["id"], "worker-a", now, 300)))
    store.run(
        lambda uow: uow.execute(
            update(jobs.JOBS)
            .where(jobs.JOBS.c.id == job["id"])
            .values(lease_until=now - timedelta(seconds=1))
        )
    )  # worker A stalls

    run_job(store, Settings(database_url=db_url, job_chunk_size=4), job["id"])  # worker B takes over

    assert store.run(lambda uow: jobs.renew(uow, job["id"], "worker-a", datetime.now(UTC), 300)) is None
    assert_finished_exactly(store, actor, job)


def test_a_job_that_loses_its_database_connection_mid_chunk_is_resumed_not_failed(
    store, world, db_url, monkeypatch
):
    """A database restart or failover mid-chunk is no fault of the job: the chunk rolled back, and
    failing the job would throw away what the user asked for (an upload's rows are gone once it is
    confirmed). It stays running under its lease, and the worker that takes it over finishes it."""
    actor, job = ten_engagers_to_a_list(store, world)
    add_many, calls = post_exports.lists.add_many, []

    def lose_the_connection_in_the_second_chunk(uow, *args):
        calls.append(1)
        if len(calls) == 2:
            if uow.dialect == "postgresql":
                uow.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"), connection_invalidated=True)
        return add_many(uow, *args)

    monkeypatch.setattr(post_exports.lists, "add_many", lose_the_connection_in_the_second_chunk)
    settings = Settings(database_url=db_url, job_chunk_size=4)
    run_job(store, settings, job["id"])

    stopped = store.run(lambda uow: jobs.get(uow, actor, job["id"]))
    assert stopped["status"] == "running" and stopped["progress"]["done"] == 4
    store.run(
        lambda uow: uow.execute(
            update(jobs.JOBS).where(jobs.JOBS.c.id == job["id"]).values(lease_until=datetime.now(UTC))
        )
    )  # the lease lapses; the recovery enqueues the job again
    run_job(store, settings, job["id"])

    assert_finished_exactly(store, actor, job)
