"""The ledger invariants, asserted by SQL: balance = sum of entries, never negative, unique unlocks, and
each entry's balance_after the sum of the entries up to it (charges of one balance take turns)."""

from sqlalchemy import text


def assert_ledger_invariants(store) -> None:
    with store.engine.connect() as conn:
        mismatched = conn.execute(
            text(
                "SELECT b.account_id, b.credit_type, b.amount, COALESCE(SUM(l.amount), 0) AS total "
                "FROM balances b LEFT JOIN ledger_entries l "
                "ON l.account_id = b.account_id AND l.credit_type = b.credit_type "
                "GROUP BY b.account_id, b.credit_type, b.amount HAVING b.amount <> COALESCE(SUM(l.amount), 0)"
            )
        ).all()
        negative = conn.execute(text("SELECT count(*) FROM balances WHERE amount < 0")).scalar_one()
        negative_after = conn.execute(
            text("SELECT count(*) FROM ledger_entries WHERE balance_after < 0")
        ).scalar_one()
        out_of_order = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT balance_after, SUM(amount) OVER "
                "(PARTITION BY account_id, credit_type ORDER BY id) AS running FROM ledger_entries) r "
                "WHERE balance_after <> running"
            )
        ).scalar_one()
        duplicates = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT account_id, person_id, kind FROM unlocks "
                "GROUP BY account_id, person_id, kind HAVING count(*) > 1) d"
            )
        ).scalar_one()
    assert mismatched == [], f"balance differs from the ledger's sum: {mismatched}"
    assert negative == 0 and negative_after == 0, "a balance went below zero"
    assert out_of_order == 0, "an entry's balance_after is not the sum of the entries up to it"
    assert duplicates == 0, "an unlock exists twice"
