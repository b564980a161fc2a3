"""THE place credits move (R2–R6). Nothing else writes balances or the ledger.

How it stays race-free on both engines:
- every transaction that may charge first locks the account's balance rows, of every credit type
  (`SELECT … FOR UPDATE` in a fixed order on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already
  makes the transaction the only writer): one account's charges run one after the other, and no two
  charging transactions wait on each other crosswise (balance rows before unlocks, always);
- the primary key of `unlocks` (account, person, kind) decides who pays: a plain charge inserts the
  unlocks with `ON CONFLICT DO NOTHING` and charges only the rows that insert created;
- the debit is one conditional `UPDATE … WHERE amount >= :x`, and a CHECK keeps the balance >= 0.
On PostgreSQL a plain charge runs all of that, R24's count and the ledger rows as one call
(persistence/charge_statement.py), so a hot account's balance rows stay locked for database time only;
SQLite, whose one writer pays no round trips, keeps the statements below.
The caller's own writes (list entry, delivery, enrollment) share the transaction, so a refusal
(InsufficientCredits) rolls all of them back together (R5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from sqlalchemy import bindparam, insert, select, update

from backend.domain.credits import CREDIT_TYPES, CreditType, UnlockKind
from backend.domain.errors import InsufficientCredits, UserLimitReached
from backend.domain.reasons import Reason, ReasonCode
from backend.domain.rules import TRACKING_HOLD
from backend.persistence import charge_statement
from backend.persistence.statements import insert_ignoring_conflicts, insert_many
from backend.persistence.tables import Balance, LedgerEntry, TrackedPerson, Unlock, utcnow
from backend.persistence.unit_of_work import UnitOfWork
from backend.services import alerts, user_limits

BALANCES = Balance.__table__
LEDGER = LedgerEntry.__table__
UNLOCKS = Unlock.__table__
TRACKED = TrackedPerson.__table__

# The statements every charge runs, built once: a statement built per call costs SQLAlchemy ~46 µs
# per execution, a prebuilt one with bound parameters ~12 µs (measured).
_ACCOUNT_TYPE = (BALANCES.c.account_id == bindparam("a")) & (BALANCES.c.credit_type == bindparam("t"))
_NEW_AMOUNT = {"amount": BALANCES.c.amount + bindparam("d")}
_DEBIT = (
    update(BALANCES)
    .where(_ACCOUNT_TYPE & (BALANCES.c.amount >= -bindparam("d")))
    .values(_NEW_AMOUNT)
    .returning(BALANCES.c.amount)
)
_CREDIT = update(BALANCES).where(_ACCOUNT_TYPE).values(_NEW_AMOUNT).returning(BALANCES.c.amount)
_BALANCES = select(BALANCES.c.credit_type, BALANCES.c.amount).where(BALANCES.c.account_id == bindparam("a"))
_HELD_OF_PERSON = select(UNLOCKS).where(
    UNLOCKS.c.account_id == bindparam("a"), UNLOCKS.c.person_id == bindparam("p")
)
_HELD_AMONG = select(UNLOCKS).where(  # the list is a parameter: no per-value work building the statement
    UNLOCKS.c.account_id == bindparam("a"), UNLOCKS.c.person_id.in_(bindparam("ps", expanding=True))
)


@dataclass(frozen=True)
class Actor:
    """Who acts: the account, the user (None for the operator and the system) and the user's role
    (api.md "Roles": account-admin routes refuse a `member` with 403 `forbidden`)."""

    account_id: str
    user_id: str | None = None
    role: str = "member"


class Unlocking(NamedTuple):
    """One thing an action wants the account to hold, and what it costs if not yet held (a named
    tuple: a bulk job makes one per lead)."""

    person_id: str
    kind: UnlockKind
    amount: int
    value: str | None = None


class After(NamedTuple):
    """The account's balances and the user's R24 limits (limit, used this month) just after a charge,
    as the charge read them back: the answer shows them without reading them again."""

    balance: dict[CreditType, int]
    limits: dict[CreditType, tuple[int, int]]


@dataclass
class Outcome:
    reasons: dict[tuple[str, UnlockKind], Reason] = field(default_factory=dict)
    values: dict[tuple[str, UnlockKind], str | None] = field(default_factory=dict)  # held, found unlocked
    after: After | None = None  # when the charge read them back


def held(uow: UnitOfWork, account_id: str, person_ids: Iterable[str], kinds: Iterable[UnlockKind]):
    """The unlocks the account holds among these people and kinds, keyed by (person_id, kind)."""
    person_ids, kinds = list(dict.fromkeys(person_ids)), {str(k) for k in kinds}
    if len(person_ids) == 1:  # one person: the hot path
        rows = uow.fetch(_HELD_OF_PERSON, {"a": account_id, "p": person_ids[0]})
        return {(r.person_id, UnlockKind(r.kind)): r for r in rows if r.kind in kinds}
    found = {}
    for i in range(0, len(person_ids), 500):  # bounded statements, whatever the list's size
        rows = uow.execute(_HELD_AMONG, {"a": account_id, "ps": person_ids[i : i + 500]})
        found.update({(r.person_id, UnlockKind(r.kind)): r for r in rows if r.kind in kinds})
    return found


def already_unlocked(row, actor: Actor) -> Reason:
    """R3's answer: when it was unlocked and, when a teammate did it, by whom."""
    by = row.user_id if row.user_id and row.user_id != actor.user_id else None
    return Reason(ReasonCode.ALREADY_UNLOCKED, unlocked_at=row.created_at, unlocked_by=by)


def charge_unlocks(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    wanted: list[Unlocking],
    *,
    reserved: dict[CreditType, int] | None = None,
    partial: bool = False,
    known: dict | None = None,
) -> Outcome:
    """Unlock what is not yet held and charge for it, once; report why each item cost what it did.

    Raises InsufficientCredits naming the first credit type the balance cannot cover; the
    transaction must then be rolled back (the unit of work does), so nothing changes (R5).
    `reserved`: credits a bulk job set aside beforehand (R23); charges of those types draw on it
    (the caller keeps the mutated remainder). `partial`: charge items in order while credits last
    and report the rest as skipped, instead of refusing them all. `known`: what the caller read the
    account held among these, in this transaction or just before it (an unlock is never taken back).

    A plain charge inserts the unlocks and charges only for the rows the insert created: the primary
    key, not an earlier read, decides who pays, so an unlock made since the caller looked is met by
    the insert and never charged twice, and what the account holds is not read again.
    """
    outcome = Outcome()
    if not wanted:
        return outcome
    if partial or reserved is not None:
        return _charge_from_amounts(uow, actor, action, wanted, reserved, partial, known, outcome)
    fresh = _not_held(wanted, known or {}, actor, outcome)
    if not fresh:
        return outcome
    if uow.dialect == "postgresql":
        return _charge_in_one_statement(uow, actor, action, fresh, outcome)
    now = utcnow()  # SQLite: BEGIN IMMEDIATE made this transaction the only writer, the balances' lock
    created = _insert_unlocks(uow, actor, fresh.values(), now)
    _met_by_the_insert(uow, actor, fresh, created, outcome)
    for credit_type in sorted({w.kind.credit_type for w in fresh.values()}, key=CREDIT_TYPES.index):
        items = [w for w in fresh.values() if w.kind.credit_type == credit_type and w.amount]
        if items:
            _debit(uow, actor, action, credit_type, items, now)
    return outcome


def _charge_in_one_statement(uow: UnitOfWork, actor: Actor, action: str, fresh: dict, outcome: Outcome):
    """PostgreSQL's plain charge: lock, insert, debit, count (R24), ledger and the balance levels (R25)
    in one call, the same steps in the same order as the statements; this decides what is wanted and
    what the types' order and R24's limited types are, and turns the call's answer into the outcome,
    the crossings to report or the refusal."""
    now = utcnow()
    items = [
        charge_statement.Item(w.person_id, str(w.kind), str(w.kind.credit_type), w.amount, w.value)
        for w in fresh.values()
    ]
    done = charge_statement.charge(
        uow,
        actor.account_id,
        actor.user_id,
        action,
        now,
        user_limits.period_of(now),
        [str(t) for t in user_limits.LIMITED],
        [str(t) for t in CREDIT_TYPES],
        items,
    )
    if done.refused:  # the unit of work rolls back what the call did (R5)
        raise _refusal(done.refused)
    created = {(p, UnlockKind(k)) for p, k in done.created}
    _met_by_the_insert(uow, actor, fresh, created, outcome)
    balance = {CreditType(t): amount for t, amount in done.balance.items()}
    outcome.after = After(balance, user_limits.this_month([r[:4] for r in done.limits], now))
    # R24's rows as the call's count left them: what R25's user alert is judged from
    counts = {CreditType(t): (cap, used, alerted) for t, cap, used, _, alerted in done.limits}
    for credit_type in {w.kind.credit_type for key, w in fresh.items() if key in created and w.amount}:
        total = sum(w.amount for w in fresh.values() if w.kind.credit_type == credit_type)
        uow.charges.append((str(credit_type), action, total))  # counted once committed (/metrics)
        judged = [(level, armed) for t, level, armed in done.levels if t == credit_type]  # R25
        alerts.report_levels(uow, actor.account_id, credit_type, balance[credit_type], judged)
        if credit_type in outcome.after.limits:  # a user without a limit has nothing to judge
            alerts.judge_user(uow, actor.account_id, actor.user_id, credit_type, now, counts[credit_type])
    return outcome


def _refusal(refused: dict) -> Exception:
    if refused["refused"] == "user_limit_reached":
        return UserLimitReached(
            refused["credit_type"], refused["limit"], refused["used"], refused["required"]
        )
    return InsufficientCredits(refused["credit_type"], refused["required"], refused["available"])


def _met_by_the_insert(uow: UnitOfWork, actor: Actor, fresh: dict, created: set, outcome: Outcome) -> None:
    """Items the insert did not create were unlocked since the caller looked: held, not charged."""
    raced = [key for key in fresh if key not in created]
    if raced:
        rows = held(uow, actor.account_id, {p for p, _ in raced}, {k for _, k in raced})
        for key in raced:
            del fresh[key]
            outcome.reasons[key] = already_unlocked(rows[key], actor)
            outcome.values[key] = rows[key].value


def _charge_from_amounts(uow, actor, action, wanted, reserved, partial, known, outcome) -> Outcome:
    """Bulk charges (R23): a reservation to draw on, or a partial run that keeps what fits. Both need
    the balances' amounts first, so the account's balance rows are taken before anything else."""
    types = sorted({w.kind.credit_type for w in wanted}, key=CREDIT_TYPES.index)
    balance = lock_balances(uow, actor.account_id, types)
    if known is not None and uow.dialect == "sqlite":  # BEGIN IMMEDIATE: the caller's read is final
        existing = known
    else:
        existing = held(uow, actor.account_id, (w.person_id for w in wanted), {w.kind for w in wanted})
    fresh = _not_held(wanted, existing, actor, outcome)
    if partial:
        room = user_limits.room(uow, actor.user_id, utcnow())
        _skip_what_does_not_fit(fresh, outcome, balance, reserved or {}, room)
    if not fresh:
        return outcome
    now = utcnow()
    insert_many(uow, UNLOCKS, [_unlock_row(actor, w, now) for w in fresh.values()])
    for credit_type in types:
        items = [w for w in fresh.values() if w.kind.credit_type == credit_type and w.amount]
        if not items:
            continue
        if reserved is not None and credit_type in reserved:
            _draw(uow, actor, action, credit_type, items, balance[credit_type], reserved, now)
        else:
            _debit(uow, actor, action, credit_type, items, now)
    return outcome


def _not_held(wanted: list[Unlocking], existing: dict, actor: Actor, outcome: Outcome) -> dict:
    """The items to unlock (each once), with the reason each would cost what it costs."""
    fresh: dict[tuple[str, UnlockKind], Unlocking] = {}
    for w in wanted:
        key = (w.person_id, w.kind)
        if key in existing:
            outcome.reasons[key] = already_unlocked(existing[key], actor)
        elif key not in fresh:
            fresh[key] = w
            outcome.reasons[key] = Reason(ReasonCode.CHARGED, amount=w.amount)
    return fresh


def _insert_unlocks(uow: UnitOfWork, actor: Actor, items, now) -> set[tuple[str, UnlockKind]]:
    """Insert the unlocks that are absent; the keys this statement created. In key order, as every
    bulk insert: two statements inserting the same keys cannot wait on each other crosswise."""
    rows = [_unlock_row(actor, w, now) for w in sorted(items, key=lambda w: (w.person_id, w.kind))]
    stmt = _inserting_unlocks(uow.dialect)
    created = uow.fetch(stmt, rows[0]) if len(rows) == 1 else uow.execute(stmt, rows)
    return {(r.person_id, UnlockKind(r.kind)) for r in created}


@cache
def _inserting_unlocks(dialect: str):
    columns = ("account_id", "person_id", "kind", "credit_type", "value", "user_id", "created_at")
    stmt = insert_ignoring_conflicts(dialect, UNLOCKS).values({c: bindparam(c) for c in columns})
    return stmt.returning(UNLOCKS.c.person_id, UNLOCKS.c.kind)


def _skip_what_does_not_fit(fresh: dict, outcome: Outcome, balance: dict, reserved: dict, room: dict) -> None:
    """R23 partial runs: keep people in order while credits (and the user's limit, R24) last and skip
    the rest. A person is kept or skipped whole: never a phone charged for a lead whose email could
    not be paid for."""
    left = {t: min(reserved.get(t, amount), room.get(t, amount)) for t, amount in balance.items()}
    by_person: dict[str, list] = {}
    for key, w in fresh.items():
        by_person.setdefault(w.person_id, []).append((key, w))
    for items in by_person.values():
        need = Counter()
        for _, w in items:
            need[w.kind.credit_type] += w.amount
        if all(amount <= left[t] for t, amount in need.items()):
            for t, amount in need.items():
                left[t] -= amount
            continue
        for key, _ in items:
            del fresh[key]
            outcome.reasons[key] = Reason(ReasonCode.SKIPPED)


def _unlock_row(actor: Actor, w: Unlocking, now) -> dict:
    return {
        "account_id": actor.account_id,
        "person_id": w.person_id,
        "kind": str(w.kind),
        "credit_type": str(w.kind.credit_type),
        "value": w.value,
        "user_id": actor.user_id,
        "created_at": now,
    }


def reserve(uow: UnitOfWork, actor: Actor, credit_type: CreditType, amount: int, action: str) -> None:
    """R23: set credits aside before a bulk job charges anything; all or nothing."""
    if amount <= 0:
        return
    lock_balances(uow, actor.account_id, [credit_type])
    after = _move(uow, actor.account_id, credit_type, -amount)
    if after is None:
        raise InsufficientCredits(str(credit_type), amount, balances(uow, actor.account_id)[credit_type])
    now = utcnow()
    user_limits.count(uow, actor.user_id, credit_type, amount, now)  # R24: released later if unspent
    insert_many(uow, LEDGER, [_entry(actor, credit_type, -amount, after, f"{action}_reserve", None, now)])


def release(uow: UnitOfWork, actor: Actor, credit_type: CreditType, amount: int, action: str) -> None:
    """Give back what a bulk job set aside and did not spend; the job's action is complete, so its
    alerts are judged now (R25), even when nothing is left to give back."""
    balance = lock_balances(uow, actor.account_id, [credit_type])[credit_type]
    now = utcnow()
    if amount > 0:
        balance = _move(uow, actor.account_id, credit_type, amount)
        user_limits.give_back(uow, actor.user_id, credit_type, amount, now)
        insert_many(
            uow, LEDGER, [_entry(actor, credit_type, amount, balance, f"{action}_release", None, now)]
        )
    alerts.judge_balance(uow, actor.account_id, credit_type, balance)  # R25: the job's action completes
    alerts.judge_user(uow, actor.account_id, actor.user_id, credit_type, now)


def _draw(uow, actor, action, credit_type, items, balance_now, reserved, now) -> None:
    """Charge from a reservation: the balance row does not move; the ledger shows the reserved credits
    coming back (`…_reserve_applied`) and each person's charge, so the entries still sum to the balance."""
    total = sum(w.amount for w in items)
    if total > reserved[credit_type]:
        raise InsufficientCredits(str(credit_type), total, reserved[credit_type])
    reserved[credit_type] -= total
    uow.charges.append((str(credit_type), action, total))
    rows = [_entry(actor, credit_type, total, balance_now + total, f"{action}_reserve_applied", None, now)]
    running = balance_now + total
    for w in items:
        running -= w.amount
        rows.append(_entry(actor, credit_type, -w.amount, running, action, w.person_id, now))
    insert_many(uow, LEDGER, rows)


def lock_balances(uow: UnitOfWork, account_id: str, types: Iterable[CreditType]) -> dict[CreditType, int]:
    """Take the account's balance rows, all of them, in a fixed order (no deadlock between two
    charging transactions), and answer the amounts of these types. All of them: a charge of one type
    then waits for a charge of another, so one account's ledger entries commit in the order of their
    ids, and a reader paging the ledger by id never finds an entry committed below a page it read."""
    wanted = {str(t) for t in types}
    rows = uow.fetch(_locking(uow.dialect), {"a": account_id})
    return {CreditType(t): amount for t, amount in rows if t in wanted}


@cache
def _locking(dialect: str):
    """`lock_balances`' statement, built once per engine (every charge runs it)."""
    column = BALANCES.c.credit_type
    stmt = select(column, BALANCES.c.amount).where(BALANCES.c.account_id == bindparam("a")).order_by(column)
    return stmt if dialect == "sqlite" else stmt.with_for_update()


def _debit(
    uow: UnitOfWork, actor: Actor, action: str, credit_type: CreditType, items: list[Unlocking], now
) -> None:
    total = sum(w.amount for w in items)
    after = _move(uow, actor.account_id, credit_type, -total)
    if after is None:
        available = balances(uow, actor.account_id)[credit_type]
        raise InsufficientCredits(str(credit_type), total, available)
    counted = user_limits.count(uow, actor.user_id, credit_type, total, now)  # R24, under the same lock
    uow.charges.append((str(credit_type), action, total))
    running = after + total
    rows = []
    for w in items:
        running -= w.amount
        rows.append(_entry(actor, credit_type, -w.amount, running, action, w.person_id, now))
    insert_many(uow, LEDGER, rows)
    alerts.judge_balance(uow, actor.account_id, credit_type, after)  # R25, as the action completes
    if counted:  # nothing counted: no limit on this type, nothing to judge
        alerts.judge_user(uow, actor.account_id, actor.user_id, credit_type, now, counted)


def _move(uow: UnitOfWork, account_id: str, credit_type: CreditType, delta: int) -> int | None:
    """Add `delta` to a balance unless that would take it below zero; the new amount, or None."""
    stmt = _DEBIT if delta < 0 else _CREDIT
    rows = uow.fetch(stmt, {"a": account_id, "t": str(credit_type), "d": delta})
    return rows[0].amount if rows else None


def _entry(actor: Actor, credit_type, amount, balance_after, action, person_id, now, note=None) -> dict:
    return {
        "account_id": actor.account_id,
        "credit_type": str(credit_type),
        "amount": amount,
        "balance_after": balance_after,
        "action": action,
        "person_id": person_id,
        "user_id": actor.user_id,
        "note": note,
        "created_at": now,
    }


def grant(uow: UnitOfWork, actor: Actor, credit_type: CreditType, amount: int, note: str | None = None):
    """Operator grant: credits in. Returns the ledger entry's row."""
    lock_balances(uow, actor.account_id, [credit_type])
    after = _move(uow, actor.account_id, credit_type, amount)
    entry = _entry(actor, credit_type, amount, after, "grant", None, utcnow(), note)
    alerts.judge_balance(uow, actor.account_id, credit_type, after)  # R25: a rise arms levels again
    return uow.execute(insert(LEDGER).values(entry).returning(*LEDGER.c)).one()


def open_balances(uow: UnitOfWork, account_id: str) -> None:
    """Every account has one balance row per credit type from its creation (they are the lock)."""
    uow.execute(
        insert(BALANCES),
        [{"account_id": account_id, "credit_type": str(t), "amount": 0} for t in CREDIT_TYPES],
    )


def balances(uow: UnitOfWork, account_id: str) -> dict[CreditType, int]:
    return {CreditType(t): amount for t, amount in uow.fetch(_BALANCES, {"a": account_id})}


def hold_tracking(uow: UnitOfWork, actor: Actor, person_ids: list[str]) -> tuple[list[str], list[str]]:
    """R20: hold one tracking credit per person newly tracked; someone already tracked costs nothing.
    All or nothing: when the free tracking credits cannot cover every new person, InsufficientCredits.
    Answers (newly tracked, already tracked)."""
    person_ids = sorted(set(person_ids))
    lock_balances(uow, actor.account_id, [CreditType.TRACKING])
    active = set(tracked(uow, actor.account_id, person_ids, active=True))
    new = [p for p in person_ids if p not in active]
    if not new:
        return [], sorted(active)
    total = TRACKING_HOLD * len(new)
    after = _move(uow, actor.account_id, CreditType.TRACKING, -total)
    if after is None:
        available = balances(uow, actor.account_id)[CreditType.TRACKING]
        raise InsufficientCredits(str(CreditType.TRACKING), total, available)
    now = utcnow()
    known = set(tracked(uow, actor.account_id, new, active=False))
    if known:
        uow.execute(
            update(TRACKED)
            .where(TRACKED.c.account_id == actor.account_id, TRACKED.c.person_id.in_(known))
            .values(active=True, since=now)
        )
    fresh = [p for p in new if p not in known]
    if fresh:
        uow.execute(
            insert(TRACKED),
            [{"account_id": actor.account_id, "person_id": p, "active": True, "since": now} for p in fresh],
        )
    uow.charges.append((str(CreditType.TRACKING), "tracking_hold", total))
    running, rows = after + total, []
    for p in new:
        running -= TRACKING_HOLD
        rows.append(_entry(actor, CreditType.TRACKING, -TRACKING_HOLD, running, "tracking_hold", p, now))
    insert_many(uow, LEDGER, rows)
    alerts.judge_balance(uow, actor.account_id, CreditType.TRACKING, after)
    return new, sorted(active)


def release_tracking(uow: UnitOfWork, actor: Actor, person_ids: list[str]) -> list[str]:
    """R21: disabling tracking frees its credit at once. Answers the people actually released."""
    person_ids = sorted(set(person_ids))
    lock_balances(uow, actor.account_id, [CreditType.TRACKING])
    active = tracked(uow, actor.account_id, person_ids, active=True)
    if not active:
        return []
    now = utcnow()
    uow.execute(
        update(TRACKED)
        .where(TRACKED.c.account_id == actor.account_id, TRACKED.c.person_id.in_(active))
        .values(active=False)
    )
    total = TRACKING_HOLD * len(active)
    after = _move(uow, actor.account_id, CreditType.TRACKING, total)
    running, rows = after - total, []
    for p in active:
        running += TRACKING_HOLD
        rows.append(_entry(actor, CreditType.TRACKING, TRACKING_HOLD, running, "tracking_release", p, now))
    insert_many(uow, LEDGER, rows)
    alerts.judge_balance(uow, actor.account_id, CreditType.TRACKING, after)
    return active


def tracked(uow: UnitOfWork, account_id: str, person_ids: list[str], active: bool) -> list[str]:
    found: list[str] = []
    for i in range(0, len(person_ids), 500):
        found += uow.execute(
            select(TRACKED.c.person_id).where(
                TRACKED.c.account_id == account_id,
                TRACKED.c.active.is_(active),
                TRACKED.c.person_id.in_(person_ids[i : i + 500]),
            )
        ).scalars()
    return sorted(found)
