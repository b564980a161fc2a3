"""The start-up rule of api.md "Secrets at rest": SECRET_KEYS from the environment; with a PostgreSQL
DATABASE_URL and no SECRET_KEYS the server refuses to start; embedded, a key is made once under var/
(mode 0600), reused afterwards, and `flask db upgrade` (make run's first step) says where it is."""

from dataclasses import replace

import pytest

from backend.app import create_app
from backend.config import Settings
from backend.persistence.sealed import new_key


def embedded(tmp_path, **env) -> Settings:
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/db/leadledger.db", **env})
    return replace(settings, var_dir=str(tmp_path / "var"))


def dispose(*apps):
    for app in apps:
        app.extensions["store"].engine.dispose()


def test_a_postgresql_database_without_secret_keys_refuses_to_start():
    settings = Settings.from_env({"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/leadledger"})
    with pytest.raises(ValueError, match="SECRET_KEYS is not set"):
        create_app(settings)


def test_embedded_without_secret_keys_makes_a_key_once_under_var_and_reuses_it(tmp_path):
    first = create_app(embedded(tmp_path))
    key_file = tmp_path / "var" / "secret_keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    made = key_file.read_text()
    sealed = first.extensions["store"].keyring.seal("crm_connections", "c1", {"secret": "whsec_x"})
    second = create_app(embedded(tmp_path))
    try:
        assert key_file.read_text() == made
        assert second.extensions["store"].keyring.open("crm_connections", "c1", sealed) == {
            "secret": "whsec_x"
        }
        with second.app_context():
            out = second.test_cli_runner().invoke(args=["db", "upgrade"])
        assert out.exit_code == 0, out.output
        assert f"SECRET_KEYS unset: CRM credentials are sealed with the key kept in {key_file}" in out.output
        assert made.strip() not in out.output
    finally:
        dispose(first, second)


def test_secret_keys_from_the_environment_are_used_and_nothing_is_made(tmp_path):
    keys = (new_key(), new_key())
    settings = embedded(tmp_path, SECRET_KEYS=f" {keys[0]} , {keys[1]} ", SUPPRESSION_KEY="s" * 64)
    assert settings.secret_keys == keys
    app = create_app(settings)
    try:
        assert not (tmp_path / "var").exists()
        with app.app_context():
            out = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert out.exit_code == 0 and "SECRET_KEYS unset" not in out.output
        assert "SUPPRESSION_KEY unset" not in out.output
    finally:
        dispose(app)


def test_a_postgresql_database_without_a_suppression_key_refuses_to_start():
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/leadledger", "SECRET_KEYS": new_key()}
    )
    with pytest.raises(ValueError, match="SUPPRESSION_KEY is not set"):
        create_app(settings)


def test_embedded_without_a_suppression_key_makes_one_once_and_hashes_alike_after_a_restart(tmp_path):
    """R27: the records an erasure made must still match after a restart, so the made key is kept."""
    first = create_app(embedded(tmp_path))
    key_file = tmp_path / "var" / "suppression_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    second = create_app(embedded(tmp_path))
    try:
        hashes = [app.extensions["store"].suppressor.email_hash("A@x.example") for app in (first, second)]
        assert hashes[0] == hashes[1] and "x.example" not in hashes[0]
        with second.app_context():
            out = second.test_cli_runner().invoke(args=["db", "upgrade"])
        assert (
            f"SUPPRESSION_KEY unset: erasures are remembered under the key kept in {key_file}" in out.output
        )
        assert key_file.read_text().strip() not in out.output
    finally:
        dispose(first, second)


def test_a_key_that_is_not_a_fernet_key_refuses_to_start_without_repeating_it(tmp_path):
    with pytest.raises(ValueError, match="SECRET_KEYS: key 2 is not a Fernet key") as refused:
        create_app(embedded(tmp_path, SECRET_KEYS=f"{new_key()},hunter2hunter2"))
    assert "hunter2" not in str(refused.value)
