"""charge_plain() keeps its statements' plans

Revision ID: c4a7e0000002
Revises: c4a7e0000001

Every PostgreSQL connection runs with plan_cache_mode=force_custom_plan (persistence/db.py: a
prepared 500-key IN list's generic plan scans). Inside charge_plain() that setting planned each of its
statements anew on every call. Its statements are keyed lookups and inserts whose best plan does not
depend on the values, so the function plans as PostgreSQL does by default (`auto`: a generic plan
once the custom ones show it costs no more). Measured on this machine, one charge_plain() call with
its BEGIN and COMMIT: 1,460-1,630 µs -> 920-1,035 µs. The account's balance rows are locked for that
long less.
"""

from alembic import op

revision = "c4a7e0000002"
down_revision = "c4a7e0000001"
branch_labels = None
depends_on = None

SIGNATURE = (
    "charge_plain(text, text, text, timestamptz, text, text[], text[],"
    " text[], text[], text[], bigint[], text[])"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER FUNCTION {SIGNATURE} SET plan_cache_mode = auto")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER FUNCTION {SIGNATURE} RESET plan_cache_mode")
