"""Settings read from the environment: a bad value stops the server at start, never half-applies."""

import pytest

from backend.config import Settings


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
