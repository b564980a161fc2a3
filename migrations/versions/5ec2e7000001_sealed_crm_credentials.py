"""CRM connections: credentials sealed in `secrets` (api.md "Secrets at rest")

The fields each adapter names in `secret_fields` leave the `config` JSON and are sealed, bound to
their row, with the keys the app uses (`flask db upgrade` hands them over: SECRET_KEYS, or the key
the embedded mode keeps under var/). Downgrade opens them back into `config`.

Revision ID: 5ec2e7000001
Revises: c0ffee000001
"""

import sqlalchemy as sa
from alembic import context, op

from backend.services.crm import open_config, seal_config

revision = "5ec2e7000001"
down_revision = "c0ffee000001"
branch_labels = None
depends_on = None

CONNECTIONS = sa.table(
    "crm_connections",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("config", sa.JSON),
    sa.column("secrets", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("crm_connections") as batch:
        batch.add_column(sa.Column("secrets", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(CONNECTIONS.c.id, CONNECTIONS.c.kind, CONNECTIONS.c.config)).all()
    for row in rows:
        plain, sealed = seal_config(_keyring(rows), row.id, row.kind, row.config)
        bind.execute(
            CONNECTIONS.update().where(CONNECTIONS.c.id == row.id).values(config=plain, secrets=sealed)
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(CONNECTIONS.c.id, CONNECTIONS.c.config, CONNECTIONS.c.secrets).where(
            CONNECTIONS.c.secrets.is_not(None)
        )
    ).all()
    for row in rows:
        config = open_config(_keyring(rows), row.id, row.config, row.secrets)
        bind.execute(CONNECTIONS.update().where(CONNECTIONS.c.id == row.id).values(config=config))
    with op.batch_alter_table("crm_connections") as batch:
        batch.drop_column("secrets")


def _keyring(rows):
    keyring = context.config.attributes.get("keyring")
    if keyring is None:
        raise RuntimeError(
            f"{len(rows)} CRM connection(s) hold credentials and no keys were given to seal or open "
            "them: migrate with `flask db upgrade`, SECRET_KEYS set (embedded: the key kept under var/)"
        )
    return keyring
