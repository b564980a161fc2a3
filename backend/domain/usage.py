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
    """One bucket of the report: its label (the instant the period truly starts, in the zone's local
    time: midnight, or 01:00 on a day a DST gap swallows midnight) and the UTC instants of the
    entries it counts, `start` included, `end` excluded."""

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


def utc(day: date, zone: ZoneInfo) -> datetime:
    """The first instant whose local date in the zone is `day`. Usually its midnight; where
    midnight falls in a DST gap (the clock jumps 00:00 -> 01:00) the day starts at 01:00, and where
    it comes twice (23:00-24:00 repeated, America/Santiago in April) the day starts at the second,
    after which the local date no longer goes back."""
    starts = [datetime.combine(day, time(0, fold=f), tzinfo=zone).astimezone(UTC) for f in (0, 1)]
    return min(t for t in starts if t.astimezone(zone).date() == day)


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
        out.append(Period(utc(label, zone).astimezone(zone), utc(day, zone), utc(stop, zone)))
        day = stop
    return out


def last_whole_months(today: date, zone: ZoneInfo, count: int = 3) -> tuple[datetime, datetime]:
    """The UTC instants bounding the `count` whole calendar months (in the zone) before this one."""
    end = today.replace(day=1)
    start = end
    for _ in range(count):
        start = (start - timedelta(days=1)).replace(day=1)
    return utc(start, zone), utc(end, zone)
