"""Bulk job throughput and memory.

1. 10,000 engagers -> a List (R14) on SQLite and on PostgreSQL: the job's own time (claim to
   finish, run in this process), its leads/s, and the ratio to a plain executemany insert of the
   same rows into the same database, measured in the same run: every row the job wrote (people,
   unlocks, ledger entries, list entries, per-lead outcomes) is read back and inserted again, one
   executemany per table, into empty copies of those tables (same columns, keys and indexes).
   Targets: <= 1 s of job time on SQLite; ratio >= 0.3.
2. A 100,000-lead List exported to CSV (R15) and downloaded, in a fresh process: peak RSS.
   Target: < 200 MB.

    .venv/bin/python bench/bulk_export.py [--engines sqlite,postgresql] [--csv-leads 100000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import MetaData

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_KEY, database  # noqa: E402

from adapters.contacts.directory import DirectoryProvider  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.domain.credits import MILLI, CreditType  # noqa: E402
from backend.domain.suppression import Suppressor, new_suppression_key  # noqa: E402
from backend.jobs.runner import run_job  # noqa: E402
from backend.jobs.worker import settle_heap  # noqa: E402
from backend.persistence.db import make_engine  # noqa: E402
from backend.persistence.tables import JobItem, LedgerEntry, ListLead, Person, Unlock  # noqa: E402
from backend.persistence.unit_of_work import Store  # noqa: E402
from backend.services import accounts, directory, jobs, list_exports, lists, post_exports  # noqa: E402
from backend.services.charge_guard import Actor  # noqa: E402


def world(url: str, n: int, credits: int):
    store = Store(make_engine(url), DirectoryProvider(url), suppressor=Suppressor(new_suppression_key()))
    rows = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/bulk-{i}",
            "full_name": f"Bulk {i}",
            "title": "T",
            "company": "C",
            "email": f"b{i}@x.example",
            "phone": f"+1{i:09d}",
        }
        for i in range(n)
    ]
    for i in range(0, n, 20_000):
        store.run(lambda uow, i=i: directory.import_people(uow, rows[i : i + 20_000]))
    grants = {CreditType.EMAIL: credits * MILLI, CreditType.PHONE: 0, CreditType.TRACKING: 0}
    made = store.run(lambda uow: accounts.create_account(uow, "bench", "b@x.example", grants))
    actor = Actor(made["id"], made["users"][0]["id"])
    lid = store.run(lambda uow: lists.create(uow, actor, "bench"))["id"]
    return store, actor, lid, [r["linkedin_url"] for r in rows]


def post_export_rate(engine: str, n: int = 10_000) -> tuple[float, float]:
    with database(engine) as url:
        store, actor, lid, urls = world(url, n, n)
        engagers = [{"linkedin_url": u, "full_name": "E", "engagement": "like"} for u in urls]
        job = store.run(
            lambda uow: post_exports.queue(uow, actor, "https://x.example/p", engagers, "list", lid, False)
        )
        settings = Settings(database_url=url)
        settle_heap()  # as the worker does at start: the bench's own set-up is not the job's garbage
        checkpoint(store.engine)
        start = time.perf_counter()
        run_job(store, settings, job["id"])
        checkpoint(store.engine)
        job_seconds = time.perf_counter() - start
        status = store.run(lambda uow: jobs.get(uow, actor, job["id"]))
        assert status["status"] == "succeeded" and status["credits"]["charged"]["email"] == n, status
        written, plain_seconds = plain_executemany(store.engine, actor, lid, job["id"])
        store.engine.dispose()
        store.contacts.engine.dispose()
        return job_seconds, plain_seconds, written


def checkpoint(engine) -> None:
    """SQLite: write the WAL back into the database file now. Each timed part starts from an empty WAL
    and ends by paying for its own writes, whenever SQLite would otherwise have checkpointed them."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside any transaction, which a checkpoint cannot run in
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


def plain_executemany(engine, actor: Actor, list_id: str, job_id: str) -> tuple[int, float]:
    """Read back every row the job wrote and time inserting them again with the driver's own
    `executemany` (no SQLAlchemy in the timed part), one per table, into empty copies of those
    tables (same columns, keys and indexes), in one transaction."""
    written = {  # the bench database holds nothing else of these tables
        Person.__table__: "1 = 1",
        Unlock.__table__: f"account_id = '{actor.account_id}'",
        LedgerEntry.__table__: "action LIKE 'post_export%'",
        ListLead.__table__: f"list_id = '{list_id}'",
        JobItem.__table__: f"job_id = '{job_id}'",
    }
    schema = MetaData()
    for table in Person.metadata.sorted_tables:  # what the copies' foreign keys point at (not created)
        table.to_metadata(schema)
    rows = {}
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, where in written.items():
            copy = table.to_metadata(schema, name=f"bench_{table.name}")
            for named in (*copy.indexes, *copy.constraints):
                if named.name:
                    named.name = f"bench_{named.name}"
            copy.create(engine)  # foreign keys point at the real tables, as the job's rows did
            cur.execute(f"SELECT * FROM {table.name} WHERE {where}")
            rows[copy.name] = cur.fetchall()
        raw.commit()
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        if engine.dialect.name != "sqlite":  # psycopg hands JSON columns back as dicts
            from psycopg.types.json import Json

            rows = {
                n: [tuple(Json(v) if isinstance(v, dict) else v for v in r) for r in rs]
                for n, rs in rows.items()
            }
        checkpoint(engine)
        start = time.perf_counter()
        if engine.dialect.name == "sqlite":  # our engine's connections leave BEGIN to us
            cur.execute("BEGIN")
        for name, table_rows in rows.items():
            cur.executemany(
                f"INSERT INTO {name} VALUES ({', '.join([mark] * len(table_rows[0]))})", table_rows
            )
        raw.commit()
        checkpoint(engine)
        seconds = time.perf_counter() - start
    finally:
        raw.close()
    return sum(len(r) for r in rows.values()), seconds


def csv_export_rss(n: int) -> None:
    """Run in a child process: build the list, export it, stream the download; print peak RSS."""
    with database("sqlite") as url:
        store, actor, lid, urls = world(url, n, n)
        for i in range(0, n, 5000):

            def add(uow, chunk=urls[i : i + 5000]):
                from backend.persistence.statements import insert_ignoring_conflicts
                from backend.persistence.tables import ListLead, utcnow
                from backend.services.people import resolve_many

                found = resolve_many(uow, chunk)
                uow.execute(
                    insert_ignoring_conflicts(uow.dialect, ListLead.__table__),
                    [{"list_id": lid, "person_id": p.id, "created_at": utcnow()} for p in found.values()],
                )

            store.run(add)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        job = store.run(lambda uow: list_exports.queue(uow, actor, lid, False, False))
        start = time.perf_counter()
        run_job(store, Settings(database_url=url), job["id"])
        seconds = time.perf_counter() - start
        from backend.app import create_app
        from backend.services.accounts import add_user

        token = store.run(lambda uow: add_user(uow, actor.account_id, "dl@x.example", "member"))["api_token"]
        client = create_app(Settings(database_url=url, secret_keys=(BENCH_KEY,))).test_client()
        response = client.get(f"/v1/jobs/{job['id']}/download", headers={"Authorization": f"Bearer {token}"})
        size = sum(len(chunk) for chunk in response.response)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"list CSV export: {n} leads in {seconds:.1f} s, CSV {size / 2**20:.1f} MB; "
            f"peak RSS {peak:.0f} MB (before the export {before:.0f} MB; target < 200 MB)"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--csv-leads", type=int, default=100_000)
    ap.add_argument("--csv-child", action="store_true")
    args = ap.parse_args()
    if args.csv_child:
        csv_export_rss(args.csv_leads)
        return
    for engine in args.engines.split(","):
        job_s, plain_s, written = post_export_rate(engine)
        print(
            f"{engine:<11} 10,000 engagers -> list: job {job_s:.2f} s ({10_000 / job_s:,.0f} leads/s); "
            f"plain executemany of the {written:,} rows it wrote {plain_s:.3f} s "
            f"({written / plain_s:,.0f} rows/s); "
            f"ratio {plain_s / job_s:.2f} (targets: <= 1 s on SQLite, ratio >= 0.3)"
        )
    if args.csv_leads:
        subprocess.run(
            [sys.executable, __file__, "--csv-child", "--csv-leads", str(args.csv_leads)], check=True
        )


if __name__ == "__main__":
    main()
