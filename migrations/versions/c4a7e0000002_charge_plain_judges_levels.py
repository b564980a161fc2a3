"""charge_plain() also judges the account's balance levels (R25)

Revision ID: c4a7e0000002
Revises: c4a7e0000001

A hot account's charges queue behind its balance rows' lock, held from charge_plain() to the commit.
The guard judged R25's balance levels after the call with one more statement (alerts.judge_balance),
so the lock also spanned that round trip and the Python on either side of it, which under load waits
for the interpreter behind the process's other threads. Now the function runs that same conditional
UPDATE right after each type's debit and answers the levels whose state it flipped, as
`"levels": [[credit_type, level, armed], ...]`; the guard reports the crossings from them
(alerts.report_levels). Everything else in the function is c4a7e0000001's, unchanged.
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "c4a7e0000002"
down_revision = "c4a7e0000001"
branch_labels = None
depends_on = None


def _previous_definition() -> str:
    path = Path(__file__).with_name("c4a7e0000001_charge_plain_function.py")
    spec = importlib.util.spec_from_file_location("charge_plain_c4a7e0000001", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CHARGE_PLAIN


# (the text it follows in the previous definition, what comes after it now)
ADDED = (
    ("    cap_used record;\n", "    levels jsonb := '[]';\n"),
    (
        "        ORDER BY w.ord;\n",
        """
        -- 5. R25: the levels this type's balance fell to (armed -> false) or rose above (-> true)
        WITH judged AS (
            UPDATE alert_levels SET armed = (level < after)
            WHERE account_id = p_account AND credit_type = debit.credit_type
              AND armed <> (level < after)
            RETURNING level, armed
        )
        SELECT levels || coalesce(jsonb_agg(jsonb_build_array(debit.credit_type, level, armed)), '[]')
        INTO levels FROM judged;
""",
    ),
    ("                   FROM user_limits WHERE user_id = p_user)", ",\n        'levels', levels"),
)


def _with_levels(previous: str) -> str:
    for anchor, added in ADDED:
        assert previous.count(anchor) == 1, f"charge_plain's definition changed at {anchor!r}"
        previous = previous.replace(anchor, anchor + added)
    return previous


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_with_levels(_previous_definition()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_previous_definition())
