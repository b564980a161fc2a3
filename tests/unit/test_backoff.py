"""The outbox's retry schedule: exponential with full jitter, capped, never sooner than Retry-After."""

from backend.services.outbox import Policy

POLICY = Policy(max_attempts=8, backoff_base=2.0, backoff_cap=60.0, lease_seconds=120)


def test_delays_grow_exponentially_within_full_jitter():
    assert [POLICY.backoff(n, None, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert POLICY.backoff(3, None, rng=lambda: 0.25) == 2.0


def test_delays_are_capped():
    assert POLICY.backoff(30, None, rng=lambda: 1.0) == 60.0


def test_a_crm_retry_after_is_honoured_even_when_jitter_picks_sooner():
    assert POLICY.backoff(1, 30.0, rng=lambda: 0.0) == 30.0


def test_a_huge_retry_after_waits_a_day_at_most():
    """Retry-After: 1000000000000 overflowed the next attempt's date and broke the sender's batch."""
    assert POLICY.backoff(1, 1e12, rng=lambda: 0.0) == 86_400.0
