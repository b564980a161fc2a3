"""CRM connections: status, paused_until, status_reason

Revision ID: c0ffee000001
Revises: 9b1e4c2d7a10
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "c0ffee000001"
down_revision = "9b1e4c2d7a10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_connections") as batch:
        batch.add_column(
            sa.Column(
                "status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="active"
            )
        )
        batch.add_column(sa.Column("paused_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_connections") as batch:
        batch.drop_column("status_reason")
        batch.drop_column("paused_until")
        batch.drop_column("status")
