"""Erasures and suppressions (R27); people's erased_at

Revision ID: e7a5e0000001
Revises: 9a9e00000001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "e7a5e0000001"
down_revision = "9a9e00000001"
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("erased_at", UTCDateTime(), nullable=True))
    op.create_table(
        "erasures",
        sa.Column("id", AutoString(length=36), nullable=False),
        sa.Column("person_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_erasures_created_at"), "erasures", ["created_at"], unique=False)
    op.create_table(
        "suppressions",
        sa.Column("value_hash", AutoString(length=64), nullable=False),
        sa.Column("erasure_id", AutoString(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["erasure_id"], ["erasures.id"]),
        sa.PrimaryKeyConstraint("value_hash"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index(op.f("ix_erasures_created_at"), table_name="erasures")
    op.drop_table("erasures")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("erased_at")
