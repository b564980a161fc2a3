"""Settings from the environment, with defaults for the embedded (SQLite) mode."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from limits import parse_many

ROOT = Path(__file__).resolve().parent.parent


# scheme://host[:port] and nothing else: flask-cors reads a value holding '*', '?', '(' … as a regular
# expression, and "*" as any origin at all, which api.md forbids ("never `*`, never any origin echoed")
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[a-z0-9.-]+(:[0-9]{1,5})?$", re.IGNORECASE)


def comma_separated(value: str | None) -> tuple[str, ...]:
    """A comma separated variable's values, blanks dropped."""
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _origins(value: str | None) -> tuple[str, ...]:
    """CORS_ORIGINS, comma separated; refuses to start on a value that is not one exact origin."""
    origins = comma_separated(value)
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"CORS_ORIGINS: {origin!r} is not an exact origin (scheme://host[:port], e.g. "
                "chrome-extension://<extension id>); wildcards and patterns are not accepted"
            )
    return origins


OAUTH_KINDS = ("hubspot", "salesforce", "pipedrive")


def _text(env, name: str) -> str | None:
    return (env.get(name) or "").strip() or None


def _base_url(env, name: str) -> str | None:
    """An http(s) URL without a trailing slash, query or fragment; anything else refuses to start."""
    value = _text(env, name)
    if value is None:
        return None
    if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value, re.IGNORECASE):
        raise ValueError(f"{name}={value!r}: expected an http(s) URL such as https://leads.example.com")
    return value.rstrip("/")


def _rate_limits(env, name: str, default: str) -> str:
    """RATE_LIMIT / RATE_LIMIT_BULK: one or more limits such as `50/second;2000/minute` (api.md "Rate
    limits"), parsed by the limiter's own parser here, so that a bad value refuses to start naming
    the variable instead of failing on the first request."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        parsed = parse_many(raw)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise ValueError(f"{name}={raw!r}: expected limits such as 50/second;2000/minute (at least 1 each)")
    return raw


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _number(env, name: str, kind: type, default):
    """A numeric variable; a value that is not one names the variable instead of a bare ValueError."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or (value < 1 if kind is int else value < 0):
        expected = "a whole number of at least 1" if kind is int else "a number of seconds (e.g. 2 or 0.5)"
        raise ValueError(f"{name}={raw!r}: expected {expected}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{ROOT / 'var' / 'leadledger.db'}"
    admin_token: str | None = None
    metrics_token: str | None = None  # /metrics wants it as a bearer token when set
    cors_origins: tuple[str, ...] = ()
    redis_url: str | None = None
    contact_provider: str = "directory"
    crm_allow_private_networks: bool = False
    idempotency_ttl_hours: int = 24
    # api.md "Rate limits": per API key (else per client address), moving window; the bulk and upload
    # routes (backend/api/limits.py) count against RATE_LIMIT_BULK as well (backend/api/rate_limits.py)
    rate_limit: str = "50/second;2000/minute"
    rate_limit_bulk: str = "5/second;100/minute"
    crm_max_attempts: int = 8
    crm_backoff_base: float = 2.0  # seconds; doubled per attempt, with full jitter
    crm_backoff_cap: float = 3600.0
    crm_lease_seconds: float = 120.0  # a claimed delivery whose worker died is retried after this
    crm_timeout: float = 15.0
    crm_refresh_margin: float = 300.0  # seconds before a stated expiry that an access token is refreshed
    crm_rate_limit_pause: float = 60.0  # a vendor's rate-limit answer that names no time pauses this long
    crm_give_up_after: float = 86_400.0  # a delivery is dead only after its attempts AND this long
    worker_poll_seconds: float = 0.5
    queue_name: str = "leadledger"
    queue_immediate: bool = False  # tests: run a job's task in the enqueuing thread
    job_chunk_size: int = 1000
    job_lease_seconds: float = 300.0  # a running job whose worker died is resumed after this
    job_pause_file: str | None = None  # crash tests: the file names a chunk to pause after
    email_validator_url: str | None = None  # a validation service; without it, the local validator
    email_validator_key: str | None = None
    # api.md "Secrets at rest": Fernet keys, the first seals, all open (backend/server_secrets.py);
    # unset and embedded, a key is made once under var_dir
    secret_keys: tuple[str, ...] = ()
    # R27: the key of the erasure suppression hashes (backend/server_secrets.py); never rotated
    suppression_key: tuple[str, ...] = ()
    # retention (backend/services/retention.py): finished jobs' per-lead results are removed after this
    job_result_retention_days: float = 30.0
    var_dir: str = str(ROOT / "var")
    # api.md "OAuth 2 connect": where the server is reached (callback: <PUBLIC_URL>/v1/crm/oauth/callback)
    # and the operator's app per vendor; <KIND>_OAUTH_BASE_URL replaces the vendor's real hosts
    public_url: str | None = None
    hubspot_client_id: str | None = None
    hubspot_client_secret: str | None = None
    hubspot_oauth_base_url: str | None = None
    salesforce_client_id: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_oauth_base_url: str | None = None  # default https://login.salesforce.com
    pipedrive_client_id: str | None = None
    pipedrive_client_secret: str | None = None
    pipedrive_oauth_base_url: str | None = None

    def oauth_client(self, kind: str) -> tuple[str, str, str | None] | None:
        """(client id, client secret, base URL override) of the operator's app for `kind`, when set."""
        client_id = getattr(self, f"{kind}_client_id", None)
        secret = getattr(self, f"{kind}_client_secret", None)
        if not client_id or not secret:
            return None
        return client_id, secret, getattr(self, f"{kind}_oauth_base_url", None)

    @classmethod
    def from_env(cls, env=os.environ) -> Settings:
        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            admin_token=env.get("CREDITS_ADMIN_TOKEN") or None,
            metrics_token=env.get("METRICS_TOKEN") or None,
            cors_origins=_origins(env.get("CORS_ORIGINS")),
            redis_url=env.get("REDIS_URL") or None,
            rate_limit=_rate_limits(env, "RATE_LIMIT", defaults.rate_limit),
            rate_limit_bulk=_rate_limits(env, "RATE_LIMIT_BULK", defaults.rate_limit_bulk),
            contact_provider=env.get("CONTACT_PROVIDER") or defaults.contact_provider,
            crm_max_attempts=_number(env, "CRM_MAX_ATTEMPTS", int, defaults.crm_max_attempts),
            crm_backoff_base=_number(env, "CRM_BACKOFF_BASE", float, defaults.crm_backoff_base),
            crm_lease_seconds=_number(env, "CRM_LEASE_SECONDS", float, defaults.crm_lease_seconds),
            crm_refresh_margin=_number(env, "CRM_REFRESH_MARGIN", float, defaults.crm_refresh_margin),
            crm_rate_limit_pause=_number(env, "CRM_RATE_LIMIT_PAUSE", float, defaults.crm_rate_limit_pause),
            crm_give_up_after=_number(env, "CRM_GIVE_UP_AFTER", float, defaults.crm_give_up_after),
            queue_name=env.get("QUEUE_NAME") or defaults.queue_name,
            job_chunk_size=_number(env, "JOB_CHUNK_SIZE", int, defaults.job_chunk_size),
            job_lease_seconds=_number(env, "JOB_LEASE_SECONDS", float, defaults.job_lease_seconds),
            job_pause_file=env.get("JOB_PAUSE_FILE") or None,
            email_validator_url=env.get("EMAIL_VALIDATOR_URL") or None,
            email_validator_key=env.get("EMAIL_VALIDATOR_KEY") or None,
            crm_allow_private_networks=_flag(env.get("CRM_ALLOW_PRIVATE_NETWORKS")),
            secret_keys=comma_separated(env.get("SECRET_KEYS")),
            suppression_key=comma_separated(env.get("SUPPRESSION_KEY")),
            job_result_retention_days=_number(
                env, "JOB_RESULT_RETENTION_DAYS", float, defaults.job_result_retention_days
            ),
            public_url=_base_url(env, "PUBLIC_URL"),
            **{
                f"{kind}_{key}": (_base_url if key == "oauth_base_url" else _text)(
                    env, f"{kind}_{key}".upper()
                )
                for kind in OAUTH_KINDS
                for key in ("client_id", "client_secret", "oauth_base_url")
            },
        )
