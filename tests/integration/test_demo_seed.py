"""`make run`'s demo seed: the token it prints must open the demo account in the database it seeded."""

from __future__ import annotations

import shutil

from sqlalchemy import func, select

from backend import demo
from backend.domain.credits import MILLI, CreditType
from backend.persistence.tables import Account
from backend.services import api_keys, charge_guard
from tests.conftest import make_store


def _opens(store, token: str):
    caller = store.run(lambda uow: api_keys.authenticate(uow, token), write=False)
    return caller and caller.actor


def test_the_printed_token_opens_the_demo_account(store, tmp_path):
    token, sample = demo.seed(store, 20, tmp_path / "demo-token")
    actor = _opens(store, token)
    assert actor is not None
    assert (
        store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 100 * MILLI
    )
    assert sample.startswith("https://www.linkedin.com/in/")


def test_seeding_again_keeps_the_token_and_the_one_account(store, tmp_path):
    first, _ = demo.seed(store, 20, tmp_path / "demo-token")
    again, _ = demo.seed(store, 20, tmp_path / "demo-token")
    assert again == first
    assert store.run(lambda uow: uow.execute(select(func.count()).select_from(Account)).scalar()) == 1


def test_a_token_kept_from_another_database_is_not_printed(store, sqlite_template, tmp_path):
    """A reset database (or another DATABASE_URL) with var/demo-token still there: the old token would
    answer 401, so the seed makes the demo account here and prints its token."""
    token_file = tmp_path / "demo-token"
    other_path = tmp_path / "other.db"
    shutil.copy(sqlite_template, other_path)
    other = make_store(f"sqlite:///{other_path}")
    try:
        old, _ = demo.seed(other, 20, token_file)
    finally:
        other.engine.dispose()
        other.contacts.engine.dispose()
    token, _ = demo.seed(store, 20, token_file)
    assert token != old
    assert _opens(store, token) is not None
    assert token_file.read_text().strip() == token
