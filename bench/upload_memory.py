"""Peak memory and time of `summarize` on a 1,000,000-row upload (target: peak RSS < 200 MB).

Run: .venv/bin/python bench/upload_memory.py [rows]. The CSV is written to a temp file line by
line, so the figure measures the reader, not the generator. Every tenth row repeats an earlier
lead under another spelling of its URL and every hundredth has no identity, so the duplicate and
bad-row paths are exercised too.

Realistic rows take ~90 bytes, so a million of them exceed the default 50 MB `max_bytes`; the
bench raises that one limit to the file's size to measure the row count the reader must handle.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

from backend.domain.lead_files import Limits, summarize

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
    fd, path = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    try:
        write_csv(path, rows)
        size = os.path.getsize(path)
        size_mb = size / 2**20
        started = time.perf_counter()
        with open(path, "rb") as stream:
            summary = summarize(stream, Limits(max_bytes=max(size, Limits().max_bytes)))
        elapsed = time.perf_counter() - started
    finally:
        os.unlink(path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    verdict = "OK" if peak_mb < TARGET_MB else "OVER TARGET"
    print(f"file: {rows:,} data rows, {size_mb:.1f} MB")
    print(f"summarize: {elapsed:.1f} s")
    print(
        f"result: {summary.rows:,} distinct leads, {summary.duplicates:,} duplicates, "
        f"{summary.bad_count:,} bad rows"
    )
    print(f"peak RSS: {peak_mb:.0f} MB (target < {TARGET_MB} MB): {verdict}")


if __name__ == "__main__":
    main()
