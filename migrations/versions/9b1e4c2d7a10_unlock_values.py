"""unlocks: index the lower-cased value (uploads ask which emails an account holds)

Revision ID: 9b1e4c2d7a10
Revises: f362bf7460ee
Create Date: 2026-12-01 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9b1e4c2d7a10"
down_revision = "f362bf7460ee"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_unlocks_account_kind_value", "unlocks", ["account_id", "kind", sa.text("lower(value)")]
    )


def downgrade() -> None:
    op.drop_index("ix_unlocks_account_kind_value", table_name="unlocks")
