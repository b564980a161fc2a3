"""alert_levels: R25 account balance levels that alert

Revision ID: a1e7a5000001
Revises: 4e1500000001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "a1e7a5000001"
down_revision = "4e1500000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_levels",
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("credit_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("level", sa.BigInteger(), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("account_id", "credit_type", "level"),
    )


def downgrade() -> None:
    op.drop_table("alert_levels")
