"""The usage report's vocabulary and calendar (api.md "Usage rows"): which ledger actions are use,
release or grant, and where periods begin in a time zone. No SQL here: SQLite has no time zones, so
the boundaries are worked out in Python (zoneinfo, DST-correct) and the database only compares.

A bulk job's reservation is bookkeeping (`<kind>_reserve`, `<kind>_reserve_applied`,
`<kind>_release`, written by charge_guard.reserve/_draw/release): over a finished job they sum to
zero, and only the charges drawn from it (entries with the job's own action) are use. So the report
reads the entries whose action is in LEDGER_ACTIONS and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# The ledger's own vocabulary, as api.md lists it (the OpenAPI enum of `action`).
LEDGER_ACTIONS = (
    "reveal",
    "search_reveal",
    "add_to_list",
    "crm_export",
    "list_and_crm",
    "enroll",
    "post_export",
    "list_export",
    "upload_enrich",
    "upload_validate",
    "tracking_hold",
    "tracking_release",
    "grant",
)
RELEASED = ("tracking_release",)  # R21: tracking credits freed
GRANTED = ("grant",)
USED = tuple(a for a in LEDGER_ACTIONS if a not in RELEASED + GRANTED)  # charges and tracking holds (R20)

PERIODS = ("day", "week", "month")
GROUPS = (*PERIODS, "user", "action")
MAX_DAYS = 400
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """One bucket of the report: its label (midnight in the zone, at the period's true start) and the
    UTC instants of the entries it counts, `start` included, `end` excluded."""

    label: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True)
class UsageQuery:
    """What the caller asked for; `first`/`end` (local dates, end excluded) default to the last 30
    days, today included."""

    group_by: tuple[str, ...] = ("day",)
    zone: ZoneInfo = ZoneInfo("UTC")
    first: date | None = None
    end: date | None = None
    credit_type: str | None = None
    user_id: str | None = None
    action: str | None = None

    @property
    def unit(self) -> str | None:
        return next((g for g in self.group_by if g in PERIODS), None)

    def keys(self) -> list[str]:
        """The row's key columns, in the listing's order."""
        named = {"user": "user_id", "action": "action"}
        return [
            *(["period"] if self.unit else []),
            *(named[g] for g in ("user", "action") if g in self.group_by),
            "credit_type",
        ]


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day begins. Where midnight falls in a DST gap (America/Santiago), fold=0
    reads it with the offset before the jump: the first instant that exists that day."""
    return datetime.combine(day, time(0), tzinfo=zone)


def utc(day: date, zone: ZoneInfo) -> datetime:
    return midnight(day, zone).astimezone(UTC)


def period_of(day: date, unit: str) -> date:
    """The first day of the period holding `day`: itself, its ISO week's Monday, its month's 1st."""
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def next_period(first: date, unit: str) -> date:
    if unit == "week":
        return first + timedelta(days=7)
    if unit == "month":
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first + timedelta(days=1)


def periods(first: date, end: date, unit: str, zone: ZoneInfo) -> list[Period]:
    """The buckets covering the local days [first, end): a week or month the range cuts is labelled
    by its true start and counts only the days inside the range."""
    out, day = [], first
    while day < end:
        label = period_of(day, unit)
        stop = min(next_period(label, unit), end)
        out.append(Period(midnight(label, zone), utc(day, zone), utc(stop, zone)))
        day = stop
    return out


def last_whole_months(today: date, zone: ZoneInfo, count: int = 3) -> tuple[datetime, datetime]:
    """The UTC instants bounding the `count` whole calendar months (in the zone) before this one."""
    end = today.replace(day=1)
    start = end
    for _ in range(count):
        start = (start - timedelta(days=1)).replace(day=1)
    return utc(start, zone), utc(end, zone)
