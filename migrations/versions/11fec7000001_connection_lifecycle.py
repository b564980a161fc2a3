"""CRM connection lifecycle: soft delete, delivery attempts, give-up clock, person-less notices

Revision ID: 11fec7000001
Revises: 0a0700000001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "11fec7000001"
down_revision = "0a0700000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_connections") as batch:
        batch.add_column(sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table("crm_deliveries") as batch:
        batch.add_column(sa.Column("first_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.alter_column(
            "person_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True
        )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("detail", sa.JSON(), nullable=True))
        batch.alter_column(
            "person_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True
        )
        batch.alter_column(
            "kind",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
            type_=sqlmodel.sql.sqltypes.AutoString(length=32),
            existing_nullable=False,
        )
    op.create_table(
        "crm_delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["crm_deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "crm_delivery_attempts", ["delivery_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_delivery_id", table_name="crm_delivery_attempts")
    op.drop_table("crm_delivery_attempts")
    op.execute("DELETE FROM notifications WHERE person_id IS NULL")
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column(
            "kind",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
            type_=sqlmodel.sql.sqltypes.AutoString(length=16),
            existing_nullable=False,
        )
        batch.alter_column(
            "person_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False
        )
        batch.drop_column("detail")
    op.execute("DELETE FROM crm_deliveries WHERE person_id IS NULL")
    with op.batch_alter_table("crm_deliveries") as batch:
        batch.alter_column(
            "person_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False
        )
        batch.drop_column("first_attempt_at")
    with op.batch_alter_table("crm_connections") as batch:
        batch.drop_column("deleted_at")
