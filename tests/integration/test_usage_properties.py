"""Property (api.md "Usage rows"): over random ledgers made through the real services — reveals by
two users, tracking holds and releases, grants, a list export job that reserves, draws and releases,
and a reservation still open — spread over random instants, for random time zones, ranges,
groupings and filters, every row and every total equals the ledger's own sum over the same entries,
worked out here entry by entry in Python; the reservation bookkeeping appears in no row, and a
finished job's bookkeeping sums to zero."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from backend.config import Settings
from backend.domain.credits import MILLI, CreditType, render
from backend.domain.errors import InsufficientCredits
from backend.domain.usage import GRANTED, LEDGER_ACTIONS, PERIODS, RELEASED, USED, UsageQuery, period_of, utc
from backend.jobs.runner import run_job
from backend.persistence.tables import LedgerEntry
from backend.services import accounts, charge_guard, extension, list_exports, lists, tracking, usage
from backend.services.people import PersonRef

LEDGER = LedgerEntry.__table__
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Santiago",  # midnight skipped in September, twice in April
    "America/Havana",  # DST at midnight too
    "Asia/Kolkata",
    "Pacific/Chatham",  # +12:45 / +13:45
    "Australia/Lord_Howe",  # a 30-minute DST shift
]
EPOCH = datetime(2025, 9, 1, tzinfo=UTC)
SPAN_MINUTES = 300 * 24 * 60
ACTIONS = ["reveal_email", "reveal_phone", "reveal_both", "add_to_list", "track", "untrack", "grant"]

steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 4), st.booleans()), min_size=1, max_size=12
)
groupings = st.sampled_from(
    [(g,) for g in ("day", "week", "month", "user", "action")]
    + [(p, k) for p in PERIODS for k in ("user", "action")]
    + [("user", "action")]
)
queries = st.fixed_dictionaries(
    {
        "group_by": groupings,
        "zone": st.sampled_from(ZONES),
        "first": st.integers(-5, 300),
        "days": st.integers(1, 400),
        "credit_type": st.sampled_from([None, "email", "phone", "tracking"]),
        "action": st.sampled_from([None, None, *LEDGER_ACTIONS]),
        "by_bob": st.sampled_from([None, False, True]),
        "limit": st.integers(1, 7),
    }
)


def make_ledger(store, world, steps, export) -> tuple:
    """The random ledger, through the services; (alice, bob, the open reservation's amount)."""
    alice = world.account(email=6, phone=3, tracking=2)
    bob = world.teammate(alice)
    urls = world.people(5)
    lid = store.run(lambda uow: lists.create(uow, alice, "L"))["id"]
    for action, who, by_bob in steps:
        actor, ref = (bob if by_bob else alice), PersonRef.parse({"linkedin_url": urls[who]})
        run = {
            "reveal_email": lambda uow: extension.reveal(uow, actor, ref, ["email"]),
            "reveal_phone": lambda uow: extension.reveal(uow, actor, ref, ["phone"]),
            "reveal_both": lambda uow: extension.reveal(uow, actor, ref, ["email", "phone"]),
            "add_to_list": lambda uow: extension.add_to_list(uow, actor, lid, ref),
            "track": lambda uow: tracking.track(uow, actor, [ref]),
            "untrack": lambda uow: tracking.disable(uow, actor, [ref]),
            "grant": lambda uow: accounts.grant(uow, alice.account_id, CreditType.EMAIL, MILLI, None),
        }[action]
        try:
            store.run(run)
        except InsufficientCredits:
            pass
    if export:  # a bulk job: reserves its maximum, draws the phones it finds, releases the rest
        job = store.run(lambda uow: list_exports.queue(uow, bob, lid, True, False))
        run_job(store, Settings(job_chunk_size=2), job["id"])
    open_amount = 500 if export else 0  # a reservation a job has not released yet
    store.run(lambda uow: charge_guard.reserve(uow, alice, CreditType.EMAIL, open_amount, "upload"))
    return alice, bob, open_amount


def spread(store, account_id: str, minutes: list[int]) -> list:
    """Move the account's entries to random instants (kept in id order); answer them all."""
    ids = store.run(
        lambda uow: uow.execute(select(LEDGER.c.id).where(LEDGER.c.account_id == account_id)).scalars().all()
    )
    at = sorted(EPOCH + timedelta(minutes=m) for m in (minutes * (len(ids) // len(minutes) + 1))[: len(ids)])
    for entry_id, when in zip(sorted(ids), at, strict=True):
        store.run(
            lambda uow, i=entry_id, w=when: uow.execute(
                update(LEDGER).where(LEDGER.c.id == i).values(created_at=w)
            )
        )
    return store.run(lambda uow: uow.execute(select(LEDGER).where(LEDGER.c.account_id == account_id)).all())


def expected(entries, q: UsageQuery) -> tuple[list[dict], dict]:
    """The rows and totals, entry by entry: each entry's local date, its period's first day."""
    rows: dict = defaultdict(lambda: dict.fromkeys(("used", "released", "granted"), 0))
    for e in entries:
        day = e.created_at.astimezone(q.zone).date()
        if not (q.first <= day < q.end) or e.action not in LEDGER_ACTIONS:
            continue
        if any(
            v is not None and getattr(e, k) != v
            for k, v in (("credit_type", q.credit_type), ("action", q.action), ("user_id", q.user_id))
        ):
            continue
        key = []
        if q.unit:
            key.append(utc(period_of(day, q.unit), q.zone))
        if "user" in q.group_by:
            key.append(e.user_id or "")
        if "action" in q.group_by:
            key.append(e.action)
        key.append(e.credit_type)
        row = rows[tuple(key)]
        row["used"] -= e.amount if e.action in USED else 0
        row["released"] += e.amount if e.action in RELEASED else 0
        row["granted"] += e.amount if e.action in GRANTED else 0
    totals = {str(t): dict.fromkeys(("used", "released", "granted"), 0) for t in CreditType}
    out = []
    for key in sorted(rows):
        names = [{"period": "period_start"}.get(k, k) for k in q.keys()]
        row = dict(zip(names, key, strict=True)) | {f: render(v) for f, v in rows[key].items()}
        if "user_id" in row:
            row["user_id"] = row["user_id"] or None
        out.append(row)
        for f, v in rows[key].items():
            totals[key[-1]][f] += v
    return out, {t: {f: render(v) for f, v in figs.items()} for t, figs in totals.items()}


def paged(store, actor, q, limit) -> tuple[list[dict], dict]:
    now, rows, cursor, totals = datetime(2026, 12, 1, tzinfo=UTC), [], None, None
    for _ in range(500):
        page = store.run(lambda uow, c=cursor: usage.report(uow, actor, q, now, limit, c), write=False)
        assert totals in (None, page["totals"])
        rows, totals, cursor = rows + page["rows"], page["totals"], page["next_cursor"]
        if cursor is None:
            return rows, totals
    raise AssertionError("the cursors never ended")


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    steps=steps,
    export=st.booleans(),
    minutes=st.lists(st.integers(0, SPAN_MINUTES), min_size=1, max_size=40),
    asked=st.lists(queries, min_size=1, max_size=3),
)
def test_usage_rows_and_totals_are_the_ledgers_own_sums(store, world, steps, export, minutes, asked):
    alice, bob, open_amount = make_ledger(store, world, steps, export)
    entries = spread(store, alice.account_id, minutes)
    bookkeeping = [e.amount for e in entries if e.action not in LEDGER_ACTIONS]
    assert sum(bookkeeping) == -open_amount  # a finished job's reservation nets out
    balances = store.run(lambda uow: charge_guard.balances(uow, alice.account_id))
    for t in CreditType:  # every entry of the vocabulary is in the report over all time
        counted = sum(e.amount for e in entries if e.credit_type == t and e.action in LEDGER_ACTIONS)
        assert balances[t] == counted + (sum(bookkeeping) if t == CreditType.EMAIL else 0)
    for a in asked:
        first = EPOCH.date() + timedelta(days=a["first"])
        user = {None: None, False: alice.user_id, True: bob.user_id}[a["by_bob"]]
        q = UsageQuery(
            group_by=a["group_by"],
            zone=ZoneInfo(a["zone"]),
            first=first,
            end=first + timedelta(days=a["days"]),
            credit_type=a["credit_type"],
            user_id=user,
            action=a["action"],
        )
        want_rows, want_totals = expected(entries, q)
        rows, totals = paged(store, alice, q, a["limit"])
        assert rows == want_rows
        assert totals == want_totals
        whole = store.run(lambda uow, q=q: usage.all_rows(uow, alice, q, EPOCH), write=False)
        assert whole["rows"] == want_rows


def test_a_year_by_day_in_paris_counts_every_entry_once(store, world):
    """The periods partition the range exactly, DST changes included: every entry of the vocabulary
    lands in one day's row, and the days' labels are Paris midnights."""
    alice, _, _ = make_ledger(store, world, [("reveal_both", i, False) for i in range(5)], False)
    entries = spread(store, alice.account_id, list(range(0, 365 * 24 * 60, 7919)))
    q = UsageQuery(
        group_by=("day",), zone=ZoneInfo("Europe/Paris"), first=date(2025, 9, 1), end=date(2026, 9, 1)
    )
    rows = store.run(lambda uow: usage.all_rows(uow, alice, q, EPOCH), write=False)["rows"]
    assert all(r["period_start"].hour == 0 for r in rows)
    used = sum(r["used"] for r in rows if r["credit_type"] == "email")
    assert used * MILLI == -sum(e.amount for e in entries if e.credit_type == "email" and e.action in USED)
