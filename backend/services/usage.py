"""The usage report (api.md "Usage rows"): the ledger summed per period, user, action and credit
type, in SQL, over the entries of the ledger's own vocabulary (reservation bookkeeping left out).

Periods: SQLite has no time zones, so the zone's period boundaries are worked out in Python
(backend/domain/usage.py) and the ledger is joined, in SQL, against that small list (a VALUES
table of at most 401 rows): each period reads its own slice of `ix_ledger_account_created`, in
one statement on both engines (bench/usage_report.py measures it against a bare GROUP BY). Grouped by
period alone, SQLite sums each period in a subquery of its own instead (`_per_period`): its GROUP BY
sorted every entry in a temporary B-tree first (a year's million entries: 1.0 s against 0.75 s).
The range is grouped once per request: a page is cut from its rows and the totals are their sums.

Rows are in one documented order — period, then user, then action, then credit type (only the keys
grouped by) — and paged by that key (the cursor carries the last row's key); `totals` cover the
whole range."""

from __future__ import annotations

import json
from bisect import bisect_right
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Integer, and_, case, column, func, select, text, values

from backend.domain.credits import CREDIT_TYPES, render
from backend.domain.cursors import seal, unseal
from backend.domain.errors import InvalidInput, NotFound
from backend.domain.usage import (
    DEFAULT_DAYS,
    GRANTED,
    LEDGER_ACTIONS,
    MAX_DAYS,
    RELEASED,
    USED,
    Period,
    UsageQuery,
    last_whole_months,
    periods,
    utc,
)
from backend.persistence.tables import LedgerEntry, User
from backend.persistence.unit_of_work import UnitOfWork
from backend.services.charge_guard import Actor

LEDGER = LedgerEntry.__table__
USERS = User.__table__
LISTING = "usage"
FIGURES = ("used", "released", "granted")


def report(uow: UnitOfWork, actor: Actor, q: UsageQuery, now: datetime, limit: int, cursor: str | None):
    """One page of rows, the range's totals and the average per month. The range is grouped once
    (at most periods x users x actions x types rows): the page is cut from it and the totals are its
    sums, so the ledger is read once for both."""
    check_user(uow, actor, q.user_id)
    after = _position(q, unseal(LISTING, _scope(actor, q), cursor)) if cursor else None
    first, end = date_range(*(after[:2] if after else (q.first, q.end)), _today(q, now))
    buckets = periods(first, end, q.unit, q.zone) if q.unit else []
    rows = _grouped(uow, actor, q, first, end, buckets)
    start = bisect_right(rows, tuple(after[2:]), key=_key(q)) if after else 0
    page = rows[start : start + limit]
    more = start + limit < len(rows)
    return {
        "rows": [_row_json(r, q, buckets) for r in page],
        "totals": _totals(rows),
        "average_per_month": _average(uow, actor, q, _today(q, now)),
        "next_cursor": seal(LISTING, _scope(actor, q), [str(first), str(end), *_key(q)(page[-1])])
        if more
        else None,
        "from": first,
        "to": end,
    }


def all_rows(uow: UnitOfWork, actor: Actor, q: UsageQuery, now: datetime) -> dict:
    """Every row of the range, in the listing's order (the CSV download): `columns`, `rows` and the
    range (`from`, `to`)."""
    check_user(uow, actor, q.user_id)
    first, end = date_range(q.first, q.end, _today(q, now))
    buckets = periods(first, end, q.unit, q.zone) if q.unit else []
    rows = [_row_json(r, q, buckets) for r in _grouped(uow, actor, q, first, end, buckets)]
    columns = [{"period": "period_start"}.get(k, k) for k in q.keys()] + list(FIGURES)
    return {"columns": columns, "rows": rows, "from": first, "to": end}


def date_range(first: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The local days asked for, `end` excluded: `to` defaults to tomorrow (today included), `from`
    to 30 days before `to`."""
    end = end or today + timedelta(days=1)
    first = first or end - timedelta(days=DEFAULT_DAYS)
    if first >= end:
        raise InvalidInput(
            "`to` must be after `from`",
            fields={"to": ["must be after `from` (`to` is excluded: for one day, pass the day after)"]},
        )
    if (end - first).days > MAX_DAYS:
        raise InvalidInput(
            f"the range is over {MAX_DAYS} days",
            fields={"to": [f"at most {MAX_DAYS} days after `from`: ask for a longer span in several ranges"]},
        )
    return first, end


def check_user(uow: UnitOfWork, actor: Actor, user_id: str | None) -> None:
    """A user filter names a user of the caller's account; any other id is a 404, whether it is
    another account's or nobody's (api.md: never reveal that it exists)."""
    if user_id is None:
        return
    owned = select(USERS.c.id).where(USERS.c.id == user_id, USERS.c.account_id == actor.account_id)
    if uow.execute(owned).first() is None:
        raise NotFound("no user with this id in your account; GET /v1/users lists them")


def _today(q: UsageQuery, now: datetime) -> date:
    return now.astimezone(q.zone).date()


def _scope(actor: Actor, q: UsageQuery) -> str:
    """What a cursor is bound to: the account and every filter (not the range, which it carries, so
    that paging across midnight keeps the range the first page had)."""
    return repr(
        (actor.account_id, q.group_by, q.zone.key, q.first, q.end, q.credit_type, q.user_id, q.action)
    )


def _position(q: UsageQuery, position: list) -> list:
    """A cursor's [from, to, *key], read back; a position of another shape is not one of ours."""
    try:
        kinds = [int if k == "period" else str for k in q.keys()]
        if len(position) != 2 + len(kinds) or not all(map(isinstance, position[2:], kinds)):
            raise ValueError(position)
        return [date.fromisoformat(position[0]), date.fromisoformat(position[1]), *position[2:]]
    except (TypeError, ValueError) as exc:
        raise InvalidInput("invalid cursor", fields={"cursor": ["not a cursor of this listing"]}) from exc


def _without_jit(uow: UnitOfWork) -> None:
    """PostgreSQL cannot estimate a range join and would JIT-compile the aggregate for seconds (an
    estimate of 40 M rows for 1 M): the report is a short read, compiled code never pays back."""
    if uow.dialect == "postgresql":
        uow.execute(text("SET LOCAL jit = off"))


def _counted(actor: Actor, q: UsageQuery, start: datetime, end: datetime) -> list:
    """Which entries count: the account's, in [start, end), of the vocabulary, filtered."""
    found = [
        LEDGER.c.account_id == actor.account_id,
        LEDGER.c.created_at >= start,
        LEDGER.c.created_at < end,
        LEDGER.c.action.in_([q.action] if q.action else LEDGER_ACTIONS),
    ]
    if q.credit_type:
        found.append(LEDGER.c.credit_type == q.credit_type)
    if q.user_id:
        found.append(LEDGER.c.user_id == q.user_id)
    return found


def _grouped(uow: UnitOfWork, actor: Actor, q: UsageQuery, first: date, end: date, buckets: list[Period]):
    """The range's rows, in the listing's order (sorted here, so the order and the cursor's key
    compare the same way whatever the engine's collation)."""
    _without_jit(uow)
    if uow.dialect == "sqlite" and buckets and q.keys() == ["period", "credit_type"]:
        rows = _per_period(uow, actor, q, first, end, buckets)
    else:
        rows = uow.execute(_statement(actor, q, first, end, buckets)).all()
    return sorted(rows, key=_key(q))


class PeriodRow(NamedTuple):
    """A row of `_per_period`, shaped as the GROUP BY's rows are."""

    period: int
    credit_type: str
    used: int
    released: int
    granted: int


def _per_period(uow: UnitOfWork, actor: Actor, q: UsageQuery, first: date, end: date, buckets: list[Period]):
    """SQLite, by period alone: each period's entries summed by a correlated subquery over its own
    slice of the index, every credit type's count and figures in one JSON array (a scalar subquery
    answers one value), so that no sort of every entry precedes the sums. A type with no counted
    entry in a period has no row, as with GROUP BY."""
    bounds = _bounds(buckets)
    counted = _without_range(_counted(actor, q, utc(first, q.zone), utc(end, q.zone)))
    counted += [LEDGER.c.created_at >= bounds.c.start, LEDGER.c.created_at < bounds.c.stop]
    width = 1 + len(FIGURES)  # each credit type's count, then its figures
    columns = []
    for t in CREDIT_TYPES:
        columns.append(func.count(case((LEDGER.c.credit_type == str(t), 1))))
        columns += [_figure(*FIGURE_OF[f], credit_type=str(t)) for f in FIGURES]
    figures = select(func.json_array(*columns)).where(*counted).scalar_subquery()
    rows = []
    for period, found in uow.execute(select(bounds.c.period, figures)):
        sums = json.loads(found)
        for i, t in enumerate(CREDIT_TYPES):
            count, *of_type = sums[i * width : (i + 1) * width]
            if count:
                rows.append(PeriodRow(period, str(t), *of_type))
    return rows


def _key(q: UsageQuery):
    width = len(q.keys())
    return lambda row: tuple(row[:width])


def _statement(actor: Actor, q: UsageQuery, first: date, end: date, buckets: list[Period]):
    source, keys = LEDGER, []
    if buckets:  # each entry meets the one period whose [start, stop) holds it
        bounds = _bounds(buckets)
        source = bounds.join(
            LEDGER, and_(LEDGER.c.created_at >= bounds.c.start, LEDGER.c.created_at < bounds.c.stop)
        )
        keys.append(bounds.c.period)
    if "user" in q.group_by:
        keys.append(func.coalesce(LEDGER.c.user_id, ""))  # an operator's grant has no user
    if "action" in q.group_by:
        keys.append(LEDGER.c.action)
    keys.append(LEDGER.c.credit_type)
    named = [k.label(name) for k, name in zip(keys, q.keys(), strict=True)]
    counted = _counted(actor, q, utc(first, q.zone), utc(end, q.zone))
    if buckets:
        counted = _without_range(counted)
    return select(*named, *_figures()).select_from(source).where(*counted).group_by(*keys)


def _without_range(counted: list) -> list:
    """The filters without the range's bounds, when the periods bound it: a second bound lets SQLite
    loop over the range outside."""
    return [c for c in counted if LEDGER.c.created_at not in c.get_children()]


def _bounds(buckets: list[Period]):
    when = LEDGER.c.created_at.type
    table = values(column("period", Integer), column("start", when), column("stop", when), name="bounds")
    return table.data([(i, p.start, p.end) for i, p in enumerate(buckets)]).cte("bounds")


def _figure(actions: tuple[str, ...], sign: int, credit_type: str | None = None):
    """The ledger's own sum over these actions (of one credit type), signed so that use is positive."""
    counted = LEDGER.c.action.in_(actions)
    if credit_type:
        counted = and_(LEDGER.c.credit_type == credit_type, counted)
    return func.coalesce(func.sum(case((counted, sign * LEDGER.c.amount), else_=0)), 0)


FIGURE_OF = {"used": (USED, -1), "released": (RELEASED, 1), "granted": (GRANTED, 1)}


def _figures() -> list:
    """used (charges and tracking holds), released (tracking credits freed), granted (grants)."""
    return [_figure(*FIGURE_OF[f]).label(f) for f in FIGURES]


def _row_json(row, q: UsageQuery, buckets: list[Period]) -> dict:
    out = {}
    if q.unit:
        out["period_start"] = buckets[row.period].label
    if "user" in q.group_by:
        out["user_id"] = row.user_id or None
    if "action" in q.group_by:
        out["action"] = row.action
    out["credit_type"] = row.credit_type
    return out | {f: render(int(getattr(row, f))) for f in FIGURES}


def _totals(rows) -> dict:
    """The range's figures per credit type: the sums of its rows (every counted entry is in one)."""
    sums = {str(t): dict.fromkeys(FIGURES, 0) for t in CREDIT_TYPES}
    for row in rows:
        for f in FIGURES:
            sums[row.credit_type][f] += int(getattr(row, f))
    return {t: {f: render(v) for f, v in figures.items()} for t, figures in sums.items()}


def _used(uow: UnitOfWork, counted: list) -> dict[str, int]:
    """Each credit type's `used` (milli-credits) over the counted entries, in one pass and without
    sorting (conditional sums, no GROUP BY)."""
    sums = [_figure(USED, -1, credit_type=str(t)) for t in CREDIT_TYPES]
    row = uow.execute(select(*sums).where(*counted)).one()
    return {str(t): int(v) for t, v in zip(CREDIT_TYPES, row, strict=True)}


def _average(uow: UnitOfWork, actor: Actor, q: UsageQuery, today: date) -> dict:
    """api.md: the mean monthly `used` over the last three whole months (in the zone), per type."""
    start, end = last_whole_months(today, q.zone)
    return {t: render(round(used / 3)) for t, used in _used(uow, _counted(actor, q, start, end)).items()}
