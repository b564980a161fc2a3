"""OAuth states; CRM connections' token lease and version

Revision ID: 0a0700000001
Revises: 5ec2e7000001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0a0700000001"
down_revision = "5ec2e7000001"
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("crm_connections") as batch:
        batch.add_column(sa.Column("token_lease_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("token_lease_owner", AutoString(length=36), nullable=True))
        batch.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "oauth_states",
        sa.Column("id", AutoString(length=36), nullable=False),
        sa.Column("state_hash", AutoString(length=64), nullable=False),
        sa.Column("account_id", AutoString(length=36), nullable=False),
        sa.Column("user_id", AutoString(length=36), nullable=False),
        sa.Column("kind", AutoString(length=40), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("connection_id", AutoString(length=36), nullable=True),
        sa.Column("return_to", AutoString(length=2000), nullable=True),
        sa.Column("code_verifier", AutoString(length=1000), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    op.create_index(op.f("ix_oauth_states_account_id"), "oauth_states", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_states_account_id"), table_name="oauth_states")
    op.drop_table("oauth_states")
    with op.batch_alter_table("crm_connections") as batch:
        batch.drop_column("token_version")
        batch.drop_column("token_lease_owner")
        batch.drop_column("token_lease_until")
