"""The usage report against a bare SQL GROUP BY, on SQLite and on PostgreSQL.

Inserts ENTRIES ledger entries spread over a year into one account (plus a tenth as many for a
second account, so the account filter has something to leave out) — executemany on SQLite, COPY on
PostgreSQL — then, in alternating rounds (medians printed), times:
  (a) a bare `SELECT day, credit_type, sum(amount) … GROUP BY day, credit_type` over the year (UTC
      days, the engine's own date function: what the database does with no time zone and no rules);
  (b) our usage report by day for the same year in Europe/Paris (services/usage.py: `report`, one
      page of 500 rows with the year's totals and the average per month);
  (c) every row of (b) at once (`all_rows`, the CSV download).
Prints the ratios a/b and a/c (target >= 0.5: ../shared/guides/performance.md).

    .venv/bin/python bench/usage_report.py [--entries 1000000] [--rounds 5] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import database  # noqa: E402

from backend.domain.credits import MILLI, CreditType  # noqa: E402
from backend.domain.usage import UsageQuery  # noqa: E402
from backend.persistence.db import make_engine  # noqa: E402
from backend.persistence.unit_of_work import Store  # noqa: E402
from backend.services import accounts, usage  # noqa: E402
from backend.services.charge_guard import Actor  # noqa: E402

FIRST, END = date(2025, 1, 1), date(2026, 1, 1)
# (action, credit type, amount, weight): mostly charges, some holds and releases, grants, and a bulk
# job's bookkeeping, which the report must read past
MIX = [
    ("reveal", "email", -MILLI, 40),
    ("reveal", "phone", -MILLI, 10),
    ("add_to_list", "email", -MILLI, 10),
    ("upload_enrich", "email", -MILLI // 2, 10),
    ("list_export", "email", -MILLI, 10),
    ("list_export_reserve_applied", "email", 5 * MILLI, 3),
    ("tracking_hold", "tracking", -MILLI, 8),
    ("tracking_release", "tracking", MILLI, 5),
    ("grant", "email", 100 * MILLI, 1),
    ("list_export_reserve", "email", -5 * MILLI, 3),
]
COLUMNS = (
    "account_id",
    "credit_type",
    "amount",
    "balance_after",
    "action",
    "person_id",
    "user_id",
    "created_at",
)
BARE = {
    "sqlite": "SELECT date(created_at) AS day, credit_type, sum(amount) FROM ledger_entries "
    "WHERE account_id = :a AND created_at >= :s AND created_at < :e GROUP BY day, credit_type",
    "postgresql": "SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, credit_type, sum(amount) "
    "FROM ledger_entries WHERE account_id = :a AND created_at >= :s AND created_at < :e "
    "GROUP BY day, credit_type",
}


def entries(account_id: str, users: list[str], n: int, seed: int):
    """`n` entries at random instants of the year, in time order (as a ledger is written)."""
    rng = random.Random(seed)
    span = (END - FIRST).days * 86_400
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    kinds = rng.choices(MIX, weights=[m[3] for m in MIX], k=n)
    for offset, (action, credit_type, amount, _) in zip(
        sorted(rng.randrange(span) for _ in range(n)), kinds, strict=True
    ):
        at = start + timedelta(seconds=offset, microseconds=rng.randrange(1_000_000))
        yield (account_id, credit_type, amount, 0, action, None, rng.choice(users), at)


def fill(url: str, rows) -> None:
    """The fastest path each engine has: one executemany transaction, or COPY."""
    if make_url(url).get_backend_name() == "sqlite":
        import sqlite3

        conn = sqlite3.connect(make_url(url).database)
        stamp = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
        conn.executemany(
            f"INSERT INTO ledger_entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (r[:-1] + (r[-1].strftime(stamp),) for r in rows),
        )
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as conn:
        with conn.cursor().copy(f"COPY ledger_entries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE ledger_entries")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench(engine: str, n: int, rounds: int) -> dict:
    with database(engine) as url:
        store = Store(make_engine(url))
        grants = {t: 0 for t in CreditType}
        made = [
            store.run(lambda uow: accounts.create_account(uow, "bench", "a@b.example", grants))
            for _ in range(2)
        ]
        actor = Actor(made[0]["id"], made[0]["users"][0]["id"])
        mates = [
            store.run(lambda uow: accounts.add_user(uow, actor.account_id, "m@b.example", "member"))["id"]
            for _ in range(9)
        ]
        started = time.perf_counter()
        fill(url, entries(actor.account_id, [actor.user_id, *mates], n, 1))
        fill(url, entries(made[1]["id"], [made[1]["users"][0]["id"]], n // 10, 2))
        filled = time.perf_counter() - started
        query = UsageQuery(group_by=("day",), zone=ZoneInfo("Europe/Paris"), first=FIRST, end=END)
        now = datetime(2026, 1, 15, tzinfo=UTC)
        bounds = {
            "a": actor.account_id,
            "s": datetime(2025, 1, 1, tzinfo=UTC),
            "e": datetime(2026, 1, 1, tzinfo=UTC),
        }
        if engine == "sqlite":  # compared as stored: text
            bounds.update(s="2025-01-01 00:00:00.000000", e="2026-01-01 00:00:00.000000")
        runs = {
            "bare": lambda: store.run(lambda uow: uow.execute(text(BARE[engine]), bounds).all(), write=False),
            "page": lambda: store.run(
                lambda uow: usage.report(uow, actor, query, now, 500, None), write=False
            ),
            "all": lambda: store.run(lambda uow: usage.all_rows(uow, actor, query, now), write=False),
        }
        check = runs["all"]()
        assert len(check["rows"]) >= 365, len(check["rows"])
        times = {k: [] for k in runs}
        for _ in range(rounds):
            for k, fn in runs.items():
                times[k].append(timed(fn))
        store.engine.dispose()
    out = {k: statistics.median(v) for k, v in times.items()}
    return {**out, "filled": filled, "rows": len(check["rows"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    for engine in args.engines.split(","):
        r = bench(engine, args.entries, args.rounds)
        print(
            f"{engine:10} {args.entries:,} entries (+10% another account) inserted in {r['filled']:.1f} s; "
            f"{r['rows']} rows a year by day; medians of {args.rounds}:\n"
            f"  (a) bare GROUP BY          {r['bare'] * 1000:8.1f} ms\n"
            f"  (b) usage report, a page   {r['page'] * 1000:8.1f} ms   a/b = {r['bare'] / r['page']:.2f}\n"
            f"  (c) usage report, all rows {r['all'] * 1000:8.1f} ms   a/c = {r['bare'] / r['all']:.2f}"
            "  (target >= 0.5)",
            flush=True,
        )


if __name__ == "__main__":
    main()
