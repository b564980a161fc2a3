"""Server secrets (api.md "Secrets at rest"): values only the server holds, such as SECRET_KEYS.

Each comes from its environment variable. With a PostgreSQL DATABASE_URL a missing one refuses to
start: several hosts share that database, and a key each made for itself would seal what the others
cannot open. Embedded (SQLite, one host), a missing one is made once in a file under var/ (mode
0600, named after the variable) and read from there afterwards, so `make run` works on a fresh
clone and keeps working across restarts. The file holds what the variable would (comma separated).
SUPPRESSION_KEY (R27) is another."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from backend.config import Settings, comma_separated
from backend.domain.suppression import Suppressor, new_suppression_key
from backend.persistence.sealed import Keyring, new_key


def keyring(settings: Settings) -> Keyring:
    """The keys that seal CRM credentials: SECRET_KEYS, else (embedded) var/secret_keys."""
    return Keyring(server_secret("SECRET_KEYS", settings.secret_keys, settings, new_key))


def suppressor(settings: Settings) -> Suppressor:
    """R27's hashing key: SUPPRESSION_KEY, else (embedded) var/suppression_key. Never rotated."""
    return Suppressor(
        server_secret("SUPPRESSION_KEY", settings.suppression_key, settings, new_suppression_key)[0]
    )


def server_secret(
    name: str, configured: tuple[str, ...], settings: Settings, make: Callable[[], str]
) -> tuple[str, ...]:
    if configured:
        return configured
    if make_url(settings.database_url).get_backend_name() != "sqlite":
        raise ValueError(
            f"{name} is not set: with a PostgreSQL DATABASE_URL the server needs it from the "
            "environment (every process must share it); see the README's Configuration table"
        )
    return _kept(key_file(settings, name), make)


def key_file(settings: Settings, name: str) -> Path:
    return Path(settings.var_dir) / name.lower()


def _kept(path: Path, make: Callable[[], str]) -> tuple[str, ...]:
    """The file's values; made first when it does not exist. Two processes starting at once (the
    worker and gunicorn) both write a candidate, and the hard link lets exactly one become the file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{make()}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    values = comma_separated(path.read_text())
    if not values:
        raise ValueError(f"{path} is empty: remove it to have a new key made, or set its variable")
    return values
