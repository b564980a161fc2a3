"""A plain charge as ONE statement on PostgreSQL: the `charge_plain` function (migrations c4a7e0000001,
c4a7e0000002, which added R25's balance levels, and c4a7e0000003, each limit's alert mark).

A hot account's charges queue behind its balance rows' lock. Spelled as statements, the lock is held
across five round trips and the Python between them (lock, unlock insert, debit, R24's count, ledger,
then the balances and limits the answer shows); as one call it is held for database time and the
commit only (../shared/guides/performance.md). The charge guard still decides everything — what is
wanted at what price, which types R24 limits, the order types are debited in — and reads the outcome
back from this call: the unlocks created, the balances and limits after, or why it was refused."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import BigInteger, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel.sql.sqltypes import UTCDateTime

_CALL = (
    text(
        "SELECT charge_plain(:account, :user, :action, :now, :period, :limited, :type_order,"
        " :people, :kinds, :types, :amounts, :values) AS outcome"
    )
    .bindparams(
        bindparam("now", type_=UTCDateTime()),
        bindparam("amounts", type_=ARRAY(BigInteger)),
        *(
            bindparam(n, type_=ARRAY(Text))
            for n in ("limited", "type_order", "people", "kinds", "types", "values")
        ),
    )
    .columns(outcome=JSONB)
)


class Item(NamedTuple):
    """One unlock wanted: who, which kind, charged to which credit type, at what price, with what value."""

    person_id: str
    kind: str
    credit_type: str
    amount: int
    value: str | None


class Charged(NamedTuple):
    """What the call did. `refused`: None, or the call's refusal ({"refused": "insufficient_credits" |
    "user_limit_reached", "credit_type", "required", and "available" or "limit" and "used"}), after
    which the caller must raise and roll back. Else `created` (person_id, kind) keys, the `balance` of
    every credit type after, the user's `limits` rows (credit_type, cap, used, period, alerted), and the
    balance `levels` whose state the debits flipped (credit_type, level, armed: R25)."""

    refused: dict | None
    created: set[tuple[str, str]]
    balance: dict[str, int]
    limits: list[tuple[str, int, int, str, int]]
    levels: list[tuple[str, int, bool]]


def charge(
    uow,
    account_id: str,
    user_id: str | None,
    action: str,
    now: datetime,
    period: str,
    limited: list[str],
    type_order: list[str],
    items: list[Item],
) -> Charged:
    """Lock the account's balance rows, insert the unlocks absent, and debit, count (R24), ledger the
    ones created and judge the balance levels (R25), in one round trip. `items` in the order the
    ledger should list them."""
    params = {
        "account": account_id,
        "user": user_id,
        "action": action,
        "now": now,
        "period": period,
        "limited": limited,
        "type_order": type_order,
        "people": [i.person_id for i in items],
        "kinds": [i.kind for i in items],
        "types": [i.credit_type for i in items],
        "amounts": [i.amount for i in items],
        "values": [i.value for i in items],
    }
    out = uow.fetch(_CALL, params)[0].outcome
    if "refused" in out:
        return Charged(out, set(), {}, [], [])
    created = {(p, k) for p, k in out["created"]}
    limits, levels = [tuple(r) for r in out["limits"]], [tuple(r) for r in out["levels"]]
    return Charged(None, created, out["balance"], limits, levels)
