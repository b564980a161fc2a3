"""Checks that must answer in bounded time: a database or queue that hangs is a failed check after
CHECK_SECONDS, not a probe (or a starting worker) that hangs with it."""

from __future__ import annotations

import threading

CHECK_SECONDS = 2.0


def bounded(check, seconds: float = CHECK_SECONDS):
    """(True, value) when `check()` answered within `seconds`, else (False, why). The check runs in a
    daemon thread: one stuck on a dead socket is left behind, never waited for."""
    outcome: list = []

    def attempt():
        try:
            outcome.append((True, check()))
        except Exception as exc:  # noqa: BLE001  (any failure is a failed check)
            outcome.append((False, type(exc).__name__))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else (False, f"no answer within {seconds:g}s")
