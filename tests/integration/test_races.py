"""R6/R12 under real parallelism, on a SQLite file and on PostgreSQL: many threads, one instant,
one charge. Invariants are checked by SQL afterwards."""

import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.api import idempotency
from backend.api.errors import IdempotencyInProgress
from backend.domain.credits import MILLI, CreditType
from backend.domain.errors import InsufficientCredits
from backend.persistence.tables import (
    CrmConnection,
    CrmDelivery,
    Job,
    ListLead,
    TrackedPerson,
    Unlock,
    utcnow,
)
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import (
    accounts,
    charge_guard,
    credits,
    extension,
    jobs,
    lists,
    post_exports,
    tracking,
    uploads,
)
from backend.services.pages import PageRequest
from backend.services.people import PersonRef
from tests.conftest import make_store
from tests.invariants import assert_ledger_invariants

LEDGER = charge_guard.LEDGER


def ref(url):
    return PersonRef.parse({"linkedin_url": url})


def once_both_arrive(fn):
    """`fn`, run by each of two racers once both reached it: both have read before either writes. On
    SQLite the second waits for the first's commit and never gets there; the first goes on after 2 s."""
    arrived = threading.Barrier(2)

    def when_both_arrived(*args, **kwargs):
        try:
            arrived.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return fn(*args, **kwargs)

    return when_both_arrived


def race(n_threads, jobs):
    """Start every job at the same barrier; answers (results, errors)."""
    barrier = threading.Barrier(n_threads)

    def go(job):
        barrier.wait(timeout=30)
        try:
            return job(), None
        except Exception as exc:  # noqa: BLE001
            return None, exc

    with ThreadPoolExecutor(n_threads) as pool:
        outcomes = list(pool.map(go, jobs))
    return [r for r, e in outcomes if e is None], [e for r, e in outcomes if e is not None]


def setup_targets(store, actor):
    lid = store.run(lambda uow: lists.create(uow, actor, "L"))["id"]
    cid = str(uuid.uuid4())
    store.run(
        lambda uow: uow.session.add(
            CrmConnection(id=cid, account_id=actor.account_id, kind="webhook", name="h", config={})
        )
    )
    return lid, cid


def mixed_actions(store, actor, urls, lid, cid, n):
    kinds = [
        lambda u: store.run(lambda uow: extension.reveal(uow, actor, ref(u), ["email"])),
        lambda u: store.run(lambda uow: extension.add_to_list(uow, actor, lid, ref(u))),
        lambda u: store.run(lambda uow: extension.crm_export(uow, actor, ref(u), cid)),
        lambda u: store.run(lambda uow: extension.list_and_crm(uow, actor, ref(u), lid, cid)),
    ]
    # person i % len(urls), action (i // len(urls)) % 4: every person meets every action
    jobs = [(lambda k=kinds[(i // len(urls)) % 4], u=urls[i % len(urls)]: k(u)) for i in range(n)]
    asks_delivery = sum(1 for i in range(n) if (i // len(urls)) % 4 in (2, 3))
    return jobs, asks_delivery


def counts(store, actor):
    def q(uow):
        s = uow.session
        return (
            charge_guard.balances(uow, actor.account_id)[CreditType.EMAIL] // MILLI,
            s.execute(select(func.count()).select_from(Unlock)).scalar_one(),
            s.execute(select(func.count()).select_from(ListLead)).scalar_one(),
            s.execute(select(func.count()).select_from(CrmDelivery)).scalar_one(),
        )

    return store.run(q)


def test_r12_16_threads_on_one_person_charge_exactly_one_credit(store, world):
    actor = world.account()
    [url] = world.people(1)
    lid, cid = setup_targets(store, actor)
    jobs, deliveries = mixed_actions(store, actor, [url], lid, cid, 16)
    _, errors = race(16, jobs)
    assert errors == []
    assert counts(store, actor) == (99, 1, 1, deliveries)
    assert_ledger_invariants(store)


def test_r12_32_threads_on_8_people_charge_exactly_8_credits(store, world):
    actor = world.account()
    urls = world.people(8)
    lid, cid = setup_targets(store, actor)
    jobs, deliveries = mixed_actions(store, actor, urls, lid, cid, 32)
    _, errors = race(32, jobs)
    assert errors == []
    assert counts(store, actor) == (92, 8, 8, deliveries)
    assert_ledger_invariants(store)


def test_r5_50_charges_for_the_last_10_credits(store, world):
    actor = world.account(email=10)
    urls = world.people(50)
    lid, _ = setup_targets(store, actor)
    jobs = [(lambda u=u: store.run(lambda uow: extension.add_to_list(uow, actor, lid, ref(u)))) for u in urls]
    results, errors = race(50, jobs)
    assert len(results) == 10
    assert len(errors) == 40 and all(isinstance(e, InsufficientCredits) for e in errors)
    assert counts(store, actor) == (0, 10, 10, 0)
    assert_ledger_invariants(store)


@pytest.mark.timeout(180)
def test_r12_four_processes_on_8_people_charge_exactly_8_credits(store, world, db_url):
    import multiprocessing

    actor = world.account()
    urls = world.people(8)
    lid, cid = setup_targets(store, actor)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_process_worker, args=(db_url, actor, urls, lid, cid, i, start)) for i in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    balance, unlocks, leads, deliveries = counts(store, actor)
    assert (balance, unlocks, leads) == (92, 8, 8)
    assert deliveries == 4 * 8  # each process asks one delivery per person
    assert_ledger_invariants(store)


def _process_worker(db_url, actor, urls, lid, cid, index, start):
    """One process: its own engine, 4 threads, every person through list-and-CRM or list+CRM."""
    store = make_store(db_url)
    start.wait(30)
    jobs = []
    for u in urls:
        if index % 2:
            jobs.append(
                lambda u=u: store.run(lambda uow: extension.list_and_crm(uow, actor, ref(u), lid, cid))
            )
        else:
            jobs.append(lambda u=u: store.run(lambda uow: extension.crm_export(uow, actor, ref(u), cid)))
            jobs.append(lambda u=u: store.run(lambda uow: extension.add_to_list(uow, actor, lid, ref(u))))
    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(j) for j in jobs]:
            f.result()


def test_r6_a_plain_and_a_partial_charge_of_one_person_never_wait_on_each_other(store, world, monkeypatch):
    """A reveal (plain charge) has inserted the unlock and is about to debit when a bulk job's partial
    charge of the same person starts. Balance rows are always locked before unlocks, so the job waits
    for the reveal instead of deadlocking with it (PostgreSQL would kill one: 40P01); with no retries
    allowed, both still answer, and the person is charged once."""
    actor = world.account(email=5)
    [url] = world.people(1)
    pid = store.run(lambda uow: extension.people.resolve(uow, ref(url))).id
    wanted = [charge_guard.Unlocking(pid, charge_guard.UnlockKind.EMAIL, MILLI, "v@x.example")]
    job_started, debit = threading.Event(), charge_guard._debit

    def debit_once_the_job_runs(*args, **kwargs):
        if threading.current_thread().name == "reveal":
            job_started.wait(5)
            time.sleep(0.3)  # the job reaches its first statement meanwhile
        return debit(*args, **kwargs)

    monkeypatch.setattr(charge_guard, "_debit", debit_once_the_job_runs)
    answers = {}

    def reveal():
        answers["reveal"] = store.run(
            lambda uow: charge_guard.charge_unlocks(uow, actor, "reveal", wanted, known={}), attempts=1
        )

    def job():
        job_started.set()
        answers["job"] = store.run(
            lambda uow: charge_guard.charge_unlocks(uow, actor, "job", wanted, partial=True), attempts=1
        )

    threads = [threading.Thread(target=reveal, name="reveal"), threading.Thread(target=job, name="job")]
    threads[0].start()
    time.sleep(0.2)  # the reveal holds its unlock first
    threads[1].start()
    for t in threads:
        t.join(30)
    codes = sorted(a.reasons[(pid, charge_guard.UnlockKind.EMAIL)].code for a in answers.values())
    assert codes == ["already_unlocked", "charged"]
    assert store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 4 * MILLI
    assert_ledger_invariants(store)


def test_r18_two_confirms_of_one_upload_at_the_same_moment_make_one_job(store, world, monkeypatch):
    """Both confirms read the upload as awaiting confirmation before either commits; only one may
    turn it into a job, the other is told it is already confirmed."""
    actor = world.account()
    text = b"email\n" + b"".join(b"u%d@x.example\n" % i for i in range(3))
    made = uploads.create(store, actor, io.BytesIO(text), enrich=False, validate=True, list_id=None)
    monkeypatch.setattr(jobs, "create", once_both_arrive(jobs.create))
    confirm = lambda: store.run(lambda uow: uploads.confirm(uow, actor, made["id"]))  # noqa: E731
    done, errors = race(2, [confirm, confirm])
    assert len(done) == 1 and [type(e).__name__ for e in errors] == ["Conflict"]
    assert store.run(lambda uow: uow.session.execute(select(func.count()).select_from(Job)).scalar_one()) == 1
    assert done[0]["progress"]["total"] == 3


@pytest.mark.parametrize("state, age", [("running", timedelta(minutes=10)), ("done", timedelta(hours=30))])
def test_r6_two_requests_taking_over_one_stale_idempotency_key_run_once(
    store, world, monkeypatch, state, age
):
    """A key whose request died (running past its 5 minutes) or whose answer expired is taken over by
    the next request. Two such requests at once both read the old row before either writes; only one
    may run the action, the other is told the first is in progress."""
    actor = world.account()
    old = {"account_id": actor.account_id, "key": "k", "request_hash": "h", "state": state}
    old |= {"status_code": 200, "body": "{}"} if state == "done" else {}
    store.run(lambda uow: uow.execute(idempotency.KEYS.insert().values(**old, created_at=utcnow() - age)))
    monkeypatch.setattr(idempotency, "update", once_both_arrive(idempotency.update))
    claim = lambda: store.run(  # noqa: E731
        lambda uow: idempotency._claim(uow, actor.account_id, "k", "h", timedelta(hours=24))
    )
    claimed, errors = race(2, [claim, claim])
    assert claimed == [None] and [type(e) for e in errors] == [IdempotencyInProgress]


@pytest.mark.parametrize("kind", ["post_export", "list_export"])
def test_r23_a_reveal_landing_while_a_job_sizes_its_reservation_never_makes_it_refuse_what_fits(
    store, world, db_url, monkeypatch, kind
):
    """A bulk job reserves what the account does not hold yet (R23). A reveal of one of its leads
    commits between the job's read of what is held and its reservation: the job must not reserve
    for that lead too, and then fail on credits the reveal has just spent for it."""
    from backend.config import Settings
    from backend.jobs.runner import run_job
    from backend.services import bulk, list_exports, post_exports

    [url] = world.people(1)
    if kind == "post_export":
        actor, field = world.account(email=1), "email"
        lid, _ = setup_targets(store, actor)
        engager = [{"linkedin_url": url, "full_name": None, "engagement": "like"}]
        job = store.run(
            lambda uow: post_exports.queue(uow, actor, "https://x.example/p", engager, "list", lid, False)
        )
    else:
        actor, field = world.account(phone=1), "phone"
        lid, _ = setup_targets(store, actor)
        store.run(lambda uow: extension.add_to_list(uow, actor, lid, ref(url)))
        job = store.run(lambda uow: list_exports.queue(uow, actor, lid, True, False))
    reserve = bulk.reserve

    def reserve_after_a_reveal(*args, **kwargs):
        reveal = threading.Thread(
            target=race,
            args=(1, [lambda: store.run(lambda uow: extension.reveal(uow, actor, ref(url), [field]))]),
        )
        reveal.start()
        reveal.join(1)  # SQLite, or once the job holds the balance first: the reveal waits for the job
        return reserve(*args, **kwargs)

    monkeypatch.setattr(bulk, "reserve", reserve_after_a_reveal)
    try:
        run_job(store, Settings(database_url=db_url), job["id"])
    finally:
        monkeypatch.undo()
    done = store.run(lambda uow: jobs.get(uow, actor, job["id"]))
    assert done["status"] == "succeeded", done.get("error")
    with store.engine.connect() as conn:
        debits = conn.execute(
            select(func.count())
            .select_from(LEDGER)
            .where(LEDGER.c.credit_type == field, LEDGER.c.amount < 0, LEDGER.c.person_id.is_not(None))
        ).scalar_one()
    assert debits == 1  # the lead's unlock, charged once, by whichever came first (the other is refused)
    assert_ledger_invariants(store)


def tracking_in_use(store, actor):
    """(tracked people active, tracking credits the ledger shows held), by SQL."""
    with store.engine.connect() as conn:
        active = conn.execute(
            select(func.count()).select_from(TrackedPerson).where(TrackedPerson.active.is_(True))
        ).scalar_one()
        held = -conn.execute(
            select(func.coalesce(func.sum(LEDGER.c.amount), 0)).where(
                LEDGER.c.account_id == actor.account_id,
                LEDGER.c.action.in_(("tracking_hold", "tracking_release")),
            )
        ).scalar_one()
    return active, held


def test_r20_eight_tracks_of_one_new_person_hold_one_credit(store, world):
    actor = world.account(tracking=5)
    url = "https://www.linkedin.com/in/never-seen"  # a person each track would create
    track = lambda: store.run(lambda uow: tracking.track(uow, actor, [ref(url)]))  # noqa: E731
    results, errors = race(8, [track] * 8)
    assert errors == [] and sorted(r["tracked"] for r in results) == [0] * 7 + [1]
    assert tracking_in_use(store, actor) == (1, 1 * MILLI)
    assert store.run(lambda uow: credits.summary(uow, actor))["tracking"] == {
        "total": 5,
        "in_use": 1,
        "free": 4,
    }
    assert_ledger_invariants(store)


def test_r20_r21_tracks_racing_disables_of_one_person_hold_what_is_tracked(store, world):
    actor = world.account(tracking=5)
    [url] = world.people(1)
    track = lambda: store.run(lambda uow: tracking.track(uow, actor, [ref(url)]))  # noqa: E731
    disable = lambda: store.run(lambda uow: tracking.disable(uow, actor, [ref(url)]))  # noqa: E731
    for _ in range(3):
        _, errors = race(8, [track, disable] * 4)
        assert errors == []
        active, held = tracking_in_use(store, actor)
        assert active in (0, 1) and held == active * MILLI
        free = store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.TRACKING]
        assert free == (5 - active) * MILLI
    assert_ledger_invariants(store)


def test_r2_grants_racing_charges_keep_every_balance_after_in_the_ledgers_order(store, world):
    actor = world.account(email=5)
    urls = world.people(20)
    lid, _ = setup_targets(store, actor)
    add = lambda u: store.run(lambda uow: extension.add_to_list(uow, actor, lid, ref(u)))  # noqa: E731
    grant = lambda: store.run(  # noqa: E731
        lambda uow: accounts.grant(uow, actor.account_id, CreditType.EMAIL, MILLI, "top-up")
    )
    results, errors = race(30, [lambda u=u: add(u) for u in urls] + [grant] * 10)
    assert all(isinstance(e, InsufficientCredits) for e in errors)
    charged = len(results) - 10
    assert counts(store, actor)[:3] == (15 - charged, charged, charged)
    assert_ledger_invariants(store)


def test_r12_teammates_racing_list_and_crm_and_crm_export_charge_one_credit_and_deliver_each(store, world):
    actor = world.account()
    mate = world.teammate(actor)
    [url] = world.people(1)
    lid, cid = setup_targets(store, actor)
    both = lambda who: store.run(lambda uow: extension.list_and_crm(uow, who, ref(url), lid, cid))  # noqa: E731
    export = lambda who: store.run(lambda uow: extension.crm_export(uow, who, ref(url), cid))  # noqa: E731
    calls = [lambda: both(actor), lambda: export(mate), lambda: both(mate), lambda: export(actor)] * 3
    _, errors = race(12, calls)
    assert errors == []
    assert counts(store, actor) == (99, 1, 1, 12)
    assert_ledger_invariants(store)


def test_r18_confirms_racing_cancels_of_one_upload_let_exactly_one_win(store, world):
    actor = world.account()
    text = b"email\n" + b"".join(b"u%d@x.example\n" % i for i in range(3))
    made = uploads.create(store, actor, io.BytesIO(text), enrich=False, validate=True, list_id=None)
    confirm = lambda: store.run(lambda uow: uploads.confirm(uow, actor, made["id"]))  # noqa: E731
    cancel = lambda: store.run(lambda uow: uploads.cancel(uow, actor, made["id"]))  # noqa: E731
    done, errors = race(4, [confirm, cancel, confirm, cancel])
    assert len(done) == 1 and [type(e).__name__ for e in errors] == ["Conflict"] * 3
    upload = store.run(lambda uow: uow.execute(select(uploads.UPLOADS)).one())
    made_jobs = store.run(lambda uow: uow.session.execute(select(func.count()).select_from(Job)).scalar_one())
    assert (upload.status, made_jobs) in (("confirmed", 1), ("cancelled", 0))
    assert (upload.job_id is not None) == (upload.status == "confirmed")


@pytest.mark.parametrize("step", ["_unlocked_emails", "unlock_many"])
def test_r15_r17_a_reveal_landing_inside_an_upload_chunk_is_not_validated_again(
    store, world, db_url, monkeypatch, step
):
    """An upload enriching and validating a lead reads what the account holds, then enriches, then
    charges. A reveal of the lead's email commits in between — while the chunk reads what is held
    (`_unlocked_emails`), or after that read and before its enrichment charges (`unlock_many`): the
    enrichment finds the email unlocked (free), and the email it unlocked was validated then (R15),
    so its validation is covered too — one email credit in all, as when either ran first."""
    from adapters.validation.local import LocalEmailValidator
    from backend.config import Settings
    from backend.jobs.runner import run_job

    actor = world.account(email=10)
    [url] = world.people(1)
    store.run(lambda uow: extension.people.resolve(uow, ref(url)))  # known: the reveal need not create them
    csv = io.BytesIO(f"linkedin_url,email\n{url},\n".encode())
    made = uploads.create(store, actor, csv, enrich=True, validate=True, list_id=None)
    job = store.run(lambda uow: uploads.confirm(uow, actor, made["id"]))
    original = getattr(uploads, step)

    def after_a_reveal(uow, *args, **kwargs):
        if uow.write:  # the chunk's transaction, not the read before it
            reveal = threading.Thread(
                target=race,
                args=(1, [lambda: store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["email"]))]),
            )
            reveal.start()
            reveal.join(1)  # SQLite, or once the chunk holds the balance: the reveal waits for the chunk
        return original(uow, *args, **kwargs)

    monkeypatch.setattr(uploads, step, after_a_reveal)
    try:
        run_job(store.with_ports(validator=LocalEmailValidator()), Settings(database_url=db_url), job["id"])
    finally:
        monkeypatch.undo()
    assert store.run(lambda uow: jobs.get(uow, actor, job["id"]))["status"] == "succeeded"
    assert store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 9 * MILLI
    assert_ledger_invariants(store)


def test_r20_r21_the_credits_summary_read_while_a_track_commits_adds_up(store, world, monkeypatch):
    """GET /v1/credits answers the tracking balance (the free credits) and the tracking credits in
    use. A track committing right after the summary's first statement must not make it show a total
    the account was never granted."""
    actor = world.account(tracking=5)
    [url] = world.people(1)
    track = lambda: store.run(lambda uow: tracking.track(uow, actor, [ref(url)]))  # noqa: E731
    tracked = []

    def then_a_track(run):
        def statement(uow, *args, **kwargs):
            answer = run(uow, *args, **kwargs)
            if not uow.write and not tracked:  # the summary's read, once
                tracked.append(threading.Thread(target=race, args=(1, [track])))
                tracked[0].start()
                tracked[0].join(5)
            return answer

        return statement

    monkeypatch.setattr(UnitOfWork, "fetch", then_a_track(UnitOfWork.fetch))
    monkeypatch.setattr(UnitOfWork, "execute", then_a_track(UnitOfWork.execute))
    summary = store.run(lambda uow: credits.summary(uow, actor), write=False)
    monkeypatch.undo()
    assert tracking_in_use(store, actor) == (1, MILLI)  # the track did commit meanwhile
    assert summary["tracking"]["total"] == 5 and summary["balance"]["tracking"] == summary["tracking"]["free"]


def test_ledger_pages_read_while_a_charge_of_another_credit_type_commits_lose_no_entry(store, world):
    """GET /v1/credits/ledger pages newest first by id. An email charge still open while a tracking
    hold of the same account commits must not leave its entry below a page already read: a reader
    that pages down, then reads the top again down to what it had seen, has seen every entry."""
    actor = world.account(email=10, tracking=5)
    urls = world.people(2)
    charged, page_read = threading.Event(), threading.Event()

    def slow_reveal(uow):
        extension.reveal(uow, actor, ref(urls[0]), ["email"])
        charged.set()  # its ledger entry is written, its transaction still open
        page_read.wait(10)

    reveal = threading.Thread(target=race, args=(1, [lambda: store.run(slow_reveal)]))
    reveal.start()
    assert charged.wait(10)
    track = threading.Thread(
        target=race, args=(1, [lambda: store.run(lambda uow: tracking.track(uow, actor, [ref(urls[1])]))])
    )
    track.start()
    track.join(1)  # SQLite, or once the reveal holds the account's balances: the track waits for it

    def pages():
        seen, cursor = [], None
        while True:
            page = store.run(
                lambda uow: credits.ledger(uow, actor, None, PageRequest(2, cursor)), write=False
            )
            seen += [int(e["id"]) for e in page["entries"]]
            if not page["next_cursor"]:
                return seen
            cursor = page["next_cursor"]

    first = pages()
    page_read.set()
    reveal.join(10)
    track.join(10)
    top = max(first)
    again = [i for i in pages() if i > top]
    every = store.run(
        lambda uow: [int(e["id"]) for e in credits.ledger(uow, actor, None, PageRequest(500))["entries"]]
    )
    assert sorted(first + again) == sorted(every)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one writer, nothing interleaves
def test_r6_an_upload_chunk_and_a_reveal_naming_one_person_never_deadlock(store, world, db_url, monkeypatch):
    """A reveal names a person its lookup found (an UPDATE of the people row), then takes the account's
    balance rows to charge. An upload chunk enriching that person must take them in the same order:
    holding the balance rows while it names the person waits for the reveal crosswise, a deadlock
    PostgreSQL breaks by aborting one of the two (retried, but each time one loses)."""
    from adapters.validation.local import LocalEmailValidator
    from backend.config import Settings
    from backend.jobs.runner import run_job
    from backend.persistence import unit_of_work
    from backend.services import unlocking

    actor = world.account(email=10)
    [url] = world.people(1)
    store.run(lambda uow: extension.people.resolve(uow, ref(url)))  # known, and not named yet
    made = uploads.create(
        store, actor, io.BytesIO(f"linkedin_url\n{url}\n".encode()), enrich=True, validate=False, list_id=None
    )
    job = store.run(lambda uow: uploads.confirm(uow, actor, made["id"]))
    deadlocks, transient = [], unit_of_work.is_transient
    monkeypatch.setattr(
        unit_of_work,
        "is_transient",
        lambda exc: (
            (deadlocks.append(exc) if getattr(exc.orig, "sqlstate", None) == "40P01" else None)
            or transient(exc)
        ),
    )
    named, original_name_people, reveal_thread = threading.Event(), unlocking._name_people, []

    def name_people(uow, people, contacts):
        original_name_people(uow, people, contacts)
        if threading.current_thread() is not threading.main_thread() and not named.is_set():
            named.set()  # the reveal holds the person's row and has not taken the balance rows yet
            time.sleep(1.5)

    def reveal_named_first(*args, **kwargs):
        if not reveal_thread:  # the chunk's transaction, before it reads what is held
            reveal_thread.append(
                threading.Thread(
                    target=race,
                    args=(
                        1,
                        [lambda: store.run(lambda uow: extension.reveal(uow, actor, ref(url), ["email"]))],
                    ),
                )
            )
            reveal_thread[0].start()
            assert named.wait(10)
        return people_of(*args, **kwargs)

    people_of = uploads._people
    monkeypatch.setattr(unlocking, "_name_people", name_people)
    monkeypatch.setattr(uploads, "_people", reveal_named_first)
    try:
        run_job(store.with_ports(validator=LocalEmailValidator()), Settings(database_url=db_url), job["id"])
        reveal_thread[0].join(10)
    finally:
        monkeypatch.undo()
    assert store.run(lambda uow: jobs.get(uow, actor, job["id"]))["status"] == "succeeded"
    assert deadlocks == []
    assert store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 9 * MILLI
    assert_ledger_invariants(store)


def test_deleting_a_list_racing_a_post_export_into_it_lets_exactly_one_win(store, world, monkeypatch):
    """Both have checked the list (the delete: that no job writes into it) before either writes; the
    list's row lock makes one wait: a job queued into a deleted list, or a list deleted under a queued
    job, never happens."""
    actor = world.account()
    urls = world.people(2)
    lid = store.run(lambda uow: lists.create(uow, actor, "l"))["id"]
    arrived = threading.Barrier(2)

    def after_both_checked(fn):
        def wrapped(*args, **kwargs):
            try:
                arrived.wait(timeout=2)  # the second waits on the list's lock and never arrives
            except threading.BrokenBarrierError:
                pass
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(jobs, "create", after_both_checked(jobs.create))
    monkeypatch.setattr(lists, "writing_job", after_both_checked(lists.writing_job))
    engagers = [{"linkedin_url": u, "full_name": "N", "engagement": "like"} for u in urls]
    post = "https://www.linkedin.com/posts/x-1"
    queue = lambda: store.run(lambda uow: post_exports.queue(uow, actor, post, engagers, "list", lid, False))  # noqa: E731
    delete = lambda: store.run(lambda uow: lists.delete_list(uow, actor, lid))  # noqa: E731
    done, errors = race(2, [queue, delete])
    made = store.run(lambda uow: uow.session.execute(select(func.count()).select_from(Job)).scalar_one())
    kept = store.run(lambda uow: uow.execute(select(lists.LISTS.c.id)).scalars().all())
    assert len(done) == 1 and len(errors) == 1
    assert (made, kept, type(errors[0]).__name__) in ((1, [lid], "ListInUse"), (0, [], "NotFound"))
