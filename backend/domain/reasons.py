"""Why an action cost what it cost, per credit type: the `credits.reasons` the extension shows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class ReasonCode(StrEnum):
    CHARGED = "charged"
    ALREADY_UNLOCKED = "already_unlocked"
    NOT_FOUND = "not_found"
    SUPPLIED = "supplied"
    FREE_ACTION = "free_action"
    HELD = "held"
    RELEASED = "released"
    ALREADY_TRACKED = "already_tracked"
    SKIPPED = "skipped"


class Reason(NamedTuple):
    """A named tuple: a bulk job makes one per lead."""

    code: ReasonCode
    amount: int = 0
    unlocked_at: datetime | None = None
    unlocked_by: str | None = None

    def as_json(self) -> dict:
        out: dict = {"code": str(self.code)}
        if self.unlocked_at is not None:
            out["unlocked_at"] = self.unlocked_at.isoformat()
        if self.unlocked_by is not None:
            out["unlocked_by"] = self.unlocked_by
        return out
