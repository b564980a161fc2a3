"""Settings from the environment, with defaults for the embedded (SQLite) mode."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{ROOT / 'var' / 'leadledger.db'}"
    admin_token: str | None = None
    cors_origins: tuple[str, ...] = ()
    redis_url: str | None = None
    contact_provider: str = "directory"
    crm_allow_private_networks: bool = False
    idempotency_ttl_hours: int = 24

    @classmethod
    def from_env(cls, env=os.environ) -> Settings:
        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            admin_token=env.get("CREDITS_ADMIN_TOKEN") or None,
            cors_origins=tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()),
            redis_url=env.get("REDIS_URL") or None,
            contact_provider=env.get("CONTACT_PROVIDER") or defaults.contact_provider,
            crm_allow_private_networks=_flag(env.get("CRM_ALLOW_PRIVATE_NETWORKS")),
        )
