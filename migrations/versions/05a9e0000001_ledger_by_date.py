"""Ledger entries indexed by account and date, for the usage report and the ledger's date filters

Revision ID: 05a9e0000001
Revises: e7a5e0000001
"""

from alembic import op

revision = "05a9e0000001"
down_revision = "e7a5e0000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.create_index("ix_ledger_account_created", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_index("ix_ledger_account_created")
