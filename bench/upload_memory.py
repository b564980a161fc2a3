"""Peak memory and time of estimating a 1,000,000-row upload (R18) — the path `POST /v1/uploads`
takes: one streaming parse with duplicates folded and bad rows kept, the distinct rows stored for
confirmation, the maximum cost answered. Target: peak RSS < 200 MB.

Run: .venv/bin/python bench/upload_memory.py [rows]. The CSV is written to a temp file line by line
(the figure measures the upload, not the generator); every tenth row repeats an earlier lead under
another spelling of its URL and every hundredth has no identity.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.contacts.directory import DirectoryProvider  # noqa: E402
from backend.domain.credits import CreditType  # noqa: E402
from backend.domain.suppression import Suppressor, new_suppression_key  # noqa: E402
from backend.persistence import migrations  # noqa: E402
from backend.persistence.db import make_engine  # noqa: E402
from backend.persistence.unit_of_work import Store  # noqa: E402
from backend.services import accounts, uploads  # noqa: E402
from backend.services.charge_guard import Actor  # noqa: E402

TARGET_MB = 200


def write_csv(path: str, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("Full Name,LinkedIn URL,Email,Company,Job Title\n")
        for i in range(rows):
            if i % 100 == 99:
                out.write(f"Nobody {i},,,Acme {i % 977},Engineer\n")
            elif i % 10 == 9:
                out.write(f"Again {i},http://linkedin.com/in/person-{i - 5}/,,Acme,Engineer\n")
            else:
                out.write(
                    f"Person {i},https://www.linkedin.com/in/person-{i},person{i}@example.com,"
                    f"Acme {i % 977},Engineer\n"
                )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path, url = os.path.join(tmp, "leads.csv"), f"sqlite:///{tmp}/bench.db"
        write_csv(path, rows)
        size_mb = os.path.getsize(path) / 2**20
        engine = make_engine(url)
        migrations.upgrade(engine)
        store = Store(engine, DirectoryProvider(url), suppressor=Suppressor(new_suppression_key()))
        grants = {t: 0 for t in CreditType}
        made = store.run(lambda uow: accounts.create_account(uow, "bench", "b@x.example", grants))
        actor = Actor(made["id"], made["users"][0]["id"])
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        with open(path, "rb") as stream:
            answer = uploads.create(store, actor, stream, True, True, None)
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"file: {rows:,} data rows, {size_mb:.1f} MB")
    print(
        f"estimate: {elapsed:.1f} s; {answer['rows']:,} distinct leads, {answer['duplicates']:,} duplicates, "
        f"{answer['bad_rows']['count']:,} bad rows; max {answer['estimate']['max']['email']:,} email credits"
    )
    print(
        f"peak RSS: {peak:.0f} MB (before the upload {base:.0f} MB; target < {TARGET_MB} MB): "
        f"{'OK' if peak < TARGET_MB else 'OVER TARGET'}"
    )


if __name__ == "__main__":
    main()
