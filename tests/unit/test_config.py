"""Settings.from_env: the README's configuration table, and errors an operator can act on; a bad value
stops the server at start, never half-applies."""

import pytest

from backend.config import Settings


def test_numeric_variables_are_read_with_their_documented_defaults():
    s = Settings.from_env({})
    assert (s.crm_max_attempts, s.crm_backoff_base, s.crm_lease_seconds) == (8, 2.0, 120.0)
    assert (s.job_chunk_size, s.job_lease_seconds) == (1000, 300.0)
    s = Settings.from_env({"CRM_MAX_ATTEMPTS": "3", "CRM_BACKOFF_BASE": "0.5", "JOB_CHUNK_SIZE": "20"})
    assert (s.crm_max_attempts, s.crm_backoff_base, s.job_chunk_size) == (3, 0.5, 20)


@pytest.mark.parametrize(
    "name,value",
    [
        ("CRM_BACKOFF_BASE", "2s"),
        ("CRM_MAX_ATTEMPTS", "eight"),
        ("JOB_CHUNK_SIZE", "0"),
        ("JOB_LEASE_SECONDS", "-1"),
    ],
)
def test_a_bad_numeric_value_names_the_variable(name, value):
    """Was a bare "could not convert string to float: '2s'"; JOB_CHUNK_SIZE=0 ended jobs undone."""
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_cors_origins_are_exact_origins():
    env = {"CORS_ORIGINS": " chrome-extension://abcdefghijklmnopabcdefghijklmnop , http://localhost:5173 "}
    assert Settings.from_env(env).cors_origins == (
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        "http://localhost:5173",
    )


@pytest.mark.parametrize(
    "bad", ["*", "chrome-extension://*", "https://.*\\.example\\.com", "https://app.example/"]
)
def test_a_wildcard_pattern_or_path_in_cors_origins_refuses_to_start(bad):
    """flask-cors would read these as "any origin" or a regular expression: the API would then answer
    origins nobody configured."""
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        Settings.from_env({"CORS_ORIGINS": f"chrome-extension://abc,{bad}"})
