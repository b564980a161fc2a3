"""Indexes for the listings' keyset pages: a list's leads, deliveries and tracked people, each in its
one order (backend/services/pages.py)

Revision ID: 9a9e00000001
Revises: 11fec7000001
"""

from alembic import op

revision = "9a9e00000001"
down_revision = "11fec7000001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_list_leads_list_created": ("list_leads", ["list_id", "created_at", "person_id"]),
    "ix_deliveries_account_created": ("crm_deliveries", ["account_id", "created_at", "id"]),
    "ix_tracked_account_since": ("tracked_people", ["account_id", "since", "person_id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
