"""The usage report (api.md "Usage rows"): the ledger summed per period, user, action and credit
type, in SQL, over the entries of the ledger's own vocabulary (reservation bookkeeping left out).

Periods: SQLite has no time zones, so the zone's period boundaries are worked out in Python
(backend/domain/usage.py) and each entry's period is found in SQL by a binary search over them (a
nested CASE of `created_at < boundary`: about log2(periods) comparisons per entry), the same
statement on both engines. The range's entries are read through `ix_ledger_account_created`.

Rows are in one documented order — period, then user, then action, then credit type (only the keys
grouped by) — and paged by that key (keyset, in SQL); `totals` cover the whole range."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import case, func, literal_column, select, tuple_

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
    """One page of rows, the range's totals and the average per month."""
    check_user(uow, actor, q.user_id)
    after = _position(q, unseal(LISTING, _scope(actor, q), cursor)) if cursor else None
    first, end = (after[0], after[1]) if after else date_range(q.first, q.end, _today(q, now))
    buckets = periods(first, end, q.unit or "day", q.zone) if q.unit else []
    stmt = _rows(actor, q, first, end, buckets)
    if after:
        keys = [stmt.selected_columns[k] for k in q.keys()]
        stmt = stmt.having(tuple_(*keys) > tuple_(*after[2:]))
    found = uow.execute(stmt.limit(limit + 1)).all()
    page = found[:limit]
    last = [first.isoformat(), end.isoformat(), *(getattr(page[-1], k) for k in q.keys())] if page else []
    return {
        "rows": [_row_json(r, q, buckets) for r in page],
        "totals": _totals(uow, _entries(actor, q, utc(first, q.zone), utc(end, q.zone))),
        "average_per_month": _average(uow, actor, q, _today(q, now)),
        "next_cursor": seal(LISTING, _scope(actor, q), last) if len(found) > limit else None,
        "from": first,
        "to": end,
    }


def all_rows(uow: UnitOfWork, actor: Actor, q: UsageQuery, now: datetime) -> dict:
    """Every row of the range, in the listing's order (the CSV download): `columns`, `rows` and the
    range (`from`, `to`)."""
    check_user(uow, actor, q.user_id)
    first, end = date_range(q.first, q.end, _today(q, now))
    buckets = periods(first, end, q.unit, q.zone) if q.unit else []
    rows = [_row_json(r, q, buckets) for r in uow.execute(_rows(actor, q, first, end, buckets))]
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
        if len(position) != 2 + len(q.keys()):
            raise ValueError(position)
        return [date.fromisoformat(position[0]), date.fromisoformat(position[1]), *position[2:]]
    except (TypeError, ValueError) as exc:
        raise InvalidInput("invalid cursor", fields={"cursor": ["not a cursor of this listing"]}) from exc


def _entries(actor: Actor, q: UsageQuery, start: datetime, end: datetime, buckets: list[Period] = ()):
    """The entries counted: the account's, in [start, end), of the vocabulary, filtered; with their
    period's index when there are periods."""
    wanted = [q.action] if q.action else LEDGER_ACTIONS
    columns = [LEDGER.c.credit_type, LEDGER.c.action, LEDGER.c.amount]
    if buckets:
        columns.append(_bucket(LEDGER.c.created_at, buckets).label("period"))
    if "user" in q.group_by:
        columns.append(func.coalesce(LEDGER.c.user_id, "").label("user_id"))
    stmt = select(*columns).where(
        LEDGER.c.account_id == actor.account_id,
        LEDGER.c.created_at >= start,
        LEDGER.c.created_at < end,
        LEDGER.c.action.in_(wanted),
    )
    if q.credit_type:
        stmt = stmt.where(LEDGER.c.credit_type == q.credit_type)
    if q.user_id:
        stmt = stmt.where(LEDGER.c.user_id == q.user_id)
    return stmt.subquery()


def _bucket(column, buckets: list[Period]):
    """The index of the period holding `column`: a binary search written as nested CASEs."""

    def split(lo: int, hi: int):
        if hi - lo == 1:
            return literal_column(str(lo))
        mid = (lo + hi) // 2
        return case((column < buckets[mid].start, split(lo, mid)), else_=split(mid, hi))

    return split(0, len(buckets))


def _figures(entries) -> list:
    """used (charges and holds, as a positive figure), released, granted: each the ledger's own sum."""

    def total(actions, sign):
        return func.coalesce(
            func.sum(case((entries.c.action.in_(actions), sign * entries.c.amount), else_=0)), 0
        )

    return [
        total(USED, -1).label("used"),
        total(RELEASED, 1).label("released"),
        total(GRANTED, 1).label("granted"),
    ]


def _rows(actor: Actor, q: UsageQuery, first: date, end: date, buckets: list[Period]):
    entries = _entries(actor, q, utc(first, q.zone), utc(end, q.zone), buckets)
    keys = [entries.c[k] for k in q.keys()]
    return select(*keys, *_figures(entries)).group_by(*keys).order_by(*keys)


def _row_json(row, q: UsageQuery, buckets: list[Period]) -> dict:
    out = {}
    if q.unit:
        out["period_start"] = buckets[row.period].label
    if "user" in q.group_by:
        out["user_id"] = row.user_id or None  # an operator's grant has no user
    if "action" in q.group_by:
        out["action"] = row.action
    out["credit_type"] = row.credit_type
    return out | {f: render(int(getattr(row, f))) for f in FIGURES}


def _totals(uow: UnitOfWork, entries) -> dict:
    by_type = uow.execute(select(entries.c.credit_type, *_figures(entries)).group_by(entries.c.credit_type))
    found = {r.credit_type: r for r in by_type}
    return {
        str(t): {f: render(int(getattr(found[t], f))) if t in found else 0 for f in FIGURES}
        for t in CREDIT_TYPES
    }


def _average(uow: UnitOfWork, actor: Actor, q: UsageQuery, today: date) -> dict:
    """api.md: the mean monthly `used` over the last three whole months (in the zone), per type."""
    start, end = last_whole_months(today, q.zone)
    entries = _entries(actor, q, start, end)
    used = dict(
        uow.execute(select(entries.c.credit_type, _figures(entries)[0]).group_by(entries.c.credit_type)).all()
    )
    return {str(t): render(round(int(used.get(t, 0)) / 3)) for t in CREDIT_TYPES}
