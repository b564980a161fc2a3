"""user_limits: R24 per-user monthly limits and their counters

Revision ID: c0ffee000002
Revises: c0ffee000001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "c0ffee000002"
down_revision = "c0ffee000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_limits",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("credit_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("alerted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id", "credit_type"),
    )
    op.create_index("ix_user_limits_account_id", "user_limits", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_user_limits_account_id", table_name="user_limits")
    op.drop_table("user_limits")
