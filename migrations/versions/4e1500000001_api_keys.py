"""API keys as their own table; users can be deactivated

Every user's token hash becomes that user's first key (name "first key", prefix null: the token was
made before keys had names), so the tokens already handed out keep working; `users.token_hash` goes.

Revision ID: 4e1500000001
Revises: 05a9e0000001
"""

import hashlib
import secrets
import uuid

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "4e1500000001"
down_revision = "05a9e0000001"
branch_labels = None
depends_on = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime
FIRST_KEY = "first key"

USERS = sa.table(
    "users",
    sa.column("id", sa.String),
    sa.column("account_id", sa.String),
    sa.column("token_hash", sa.String),
    sa.column("created_at", UTCDateTime()),
)
KEYS = sa.table(
    "api_keys",
    sa.column("id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("account_id", sa.String),
    sa.column("name", sa.String),
    sa.column("prefix", sa.String),
    sa.column("scope", sa.String),
    sa.column("hash", sa.String),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", AutoString(length=36), nullable=False),
        sa.Column("user_id", AutoString(length=36), nullable=False),
        sa.Column("account_id", AutoString(length=36), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("prefix", AutoString(length=16), nullable=True),
        sa.Column("scope", AutoString(length=8), nullable=False),
        sa.Column("hash", AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("scope IN ('full', 'read')", name="ck_api_keys_scope"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"], unique=False)
    conn = op.get_bind()
    users = conn.execute(sa.select(USERS.c.id, USERS.c.account_id, USERS.c.token_hash, USERS.c.created_at))
    keys = [
        {
            "id": str(uuid.uuid4()),
            "user_id": u.id,
            "account_id": u.account_id,
            "name": FIRST_KEY,
            "prefix": None,
            "scope": "full",
            "hash": u.token_hash,
            "created_at": u.created_at,
        }
        for u in users
    ]
    if keys:
        conn.execute(KEYS.insert(), keys)
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deactivated_at", UTCDateTime(), nullable=True))
        batch.drop_column("token_hash")


def downgrade() -> None:
    """Back to one token per user: each keeps the hash of their oldest key that is not revoked (their
    other keys stop working); a user without one gets a hash of a token nobody holds."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_hash", AutoString(length=64), nullable=True))
    conn = op.get_bind()
    kept = {}
    rows = conn.execute(
        sa.text(
            "SELECT user_id, hash FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at DESC, id DESC"
        )
    )
    for user_id, hash_ in rows:
        kept[user_id] = hash_  # the last one seen per user is their oldest
    for (user_id,) in conn.execute(sa.select(USERS.c.id)).all():
        token_hash = kept.get(user_id) or hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        conn.execute(USERS.update().where(USERS.c.id == user_id).values(token_hash=token_hash))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("token_hash", existing_type=AutoString(length=64), nullable=False)
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])
        batch.drop_column("deactivated_at")
    op.drop_index(op.f("ix_api_keys_user_id"), table_name="api_keys")
    op.drop_table("api_keys")
