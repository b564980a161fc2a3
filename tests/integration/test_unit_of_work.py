"""`Store.read` runs its one statement in autocommit (persistence/unit_of_work.py): every request's
API-key lookup does. The pooled connection it used must come back as it was, or the next unit of
work on it — a charge — would run statement by statement, and a refused charge would keep the writes
made before the refusal (R5)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from backend.domain.credits import CreditType
from backend.services import charge_guard

RAISE_BALANCE = text("UPDATE balances SET amount = amount + 5000 WHERE account_id = :a")


class Refused(Exception):
    pass


def _connection_of(uow) -> int:
    return id(uow.conn.connection.dbapi_connection)


def test_a_write_after_an_autocommit_read_on_the_same_connection_still_rolls_back(store, world):
    actor = world.account(email=7)
    read_on = store.read(_connection_of)
    before = store.read(lambda uow: charge_guard.balances(uow, actor.account_id))

    written_on = []

    def write_then_refuse(uow):
        written_on.append(_connection_of(uow))
        uow.execute(RAISE_BALANCE, {"a": actor.account_id})
        raise Refused

    with pytest.raises(Refused):
        store.run(write_then_refuse)

    assert written_on == [read_on]  # the same pooled connection, handed back by the read
    assert store.read(lambda uow: charge_guard.balances(uow, actor.account_id)) == before


def test_a_read_answers_what_is_committed(store, world):
    actor = world.account(email=7)
    store.run(lambda uow: uow.execute(RAISE_BALANCE, {"a": actor.account_id}))
    balance = store.read(lambda uow: charge_guard.balances(uow, actor.account_id))
    assert balance[CreditType.EMAIL] == 12_000
