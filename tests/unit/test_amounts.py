"""Amounts are integer milli-credits in exact 0.5 steps; no float holds money."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.credits import render, to_milli


@pytest.mark.parametrize("value,milli", [(0, 0), (1, 1000), (0.5, 500), ("2.5", 2500), (100, 100_000)])
def test_amounts_parse_to_exact_milli_credits(value, milli):
    assert to_milli(value) == milli


@pytest.mark.parametrize("value", [0.3, 0.25, "abc", True, None, float("nan"), float("inf"), [1]])
def test_amounts_off_the_half_step_are_refused(value):
    with pytest.raises(ValueError):
        to_milli(value)


@given(st.integers(min_value=0, max_value=10**9))
def test_rendering_half_steps_round_trips_exactly(halves):
    milli = halves * 500
    assert to_milli(render(milli)) == milli
