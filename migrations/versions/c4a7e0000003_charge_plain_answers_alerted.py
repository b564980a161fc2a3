"""charge_plain() answers each limit's alerted mark too (R25's user alert)

Revision ID: c4a7e0000003
Revises: c4a7e0000002

The function answers the user's limits as they are after its count (R24), but without the mark of
the user alerts already sent this month, so the guard read the limit's row again for R25 (one more
statement, and round trip, while the account's balance rows stay locked) for every charge of a user
who has a limit. Now each row of `"limits"` is `[credit_type, cap, used, period, alerted]` and the
guard judges the user's alert from it (alerts.judge_user). Everything else is c4a7e0000002's.
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "c4a7e0000003"
down_revision = "c4a7e0000002"
branch_labels = None
depends_on = None

ANCHOR = "jsonb_build_array(credit_type, cap, used, period)"


def _previous_definition() -> str:
    path = Path(__file__).with_name("c4a7e0000002_charge_plain_judges_levels.py")
    spec = importlib.util.spec_from_file_location("charge_plain_c4a7e0000002", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._with_levels(module._previous_definition())


def definition() -> str:
    previous = _previous_definition()
    assert previous.count(ANCHOR) == 1, f"charge_plain's definition changed at {ANCHOR!r}"
    return previous.replace(ANCHOR, "jsonb_build_array(credit_type, cap, used, period, alerted)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(definition())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_previous_definition())
