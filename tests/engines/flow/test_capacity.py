"""AdaptiveCapacity: shrinks while the wait is long, grows only when the
bound was reached and the wait is short, holds inside the band, and never
oscillates on a steady wait."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.engines._flow.capacity import AdaptiveCapacity

MS = 1_000_000
TARGET = 100 * MS


def _control(**kwargs) -> AdaptiveCapacity:
    options = {"initial": 100, "minimum": 10, "maximum": 1000, "interval_ns": 100 * MS, **kwargs}
    return AdaptiveCapacity(TARGET, **options)


def test_a_long_wait_shrinks_the_bound_step_by_step_down_to_its_minimum():
    control = _control()
    control.observe(10 * TARGET)
    capacities = [control.decide(i * 100 * MS, pressed=True).capacity for i in range(1, 30)]
    assert capacities[:3] == [75, 56, 42]
    assert capacities[-1] == 10
    assert all(a >= b for a, b in itertools.pairwise(capacities))


def test_a_short_wait_grows_the_bound_only_when_the_queue_was_full():
    control = _control()
    control.observe(0.1 * TARGET)
    assert control.decide(100 * MS, pressed=False).action == "hold"
    decision = control.decide(200 * MS, pressed=True)
    assert (decision.action, decision.capacity, decision.previous) == ("grow", 125, 100)


def test_a_wait_inside_the_band_holds():
    control = _control()
    control.observe(TARGET)
    assert {control.decide(i * 100 * MS, pressed=True).action for i in range(1, 20)} == {"hold"}
    assert control.capacity == 100


def test_one_outlier_moves_the_ewma_but_does_not_flip_the_decision():
    control = _control()
    for _ in range(20):
        control.observe(0.9 * TARGET)
    control.observe(2.5 * TARGET)  # one slow frame (alpha 0.2: the EWMA moves a fifth of the way)
    assert control.decide(100 * MS, pressed=True).action == "hold"


def test_decisions_are_due_once_per_interval():
    control = _control()
    assert not control.due(0)  # the first call starts the clock
    assert not control.due(99 * MS)
    assert control.due(100 * MS)
    control.decide(100 * MS, pressed=False)
    assert not control.due(150 * MS)


def test_a_band_that_does_not_contain_the_target_is_refused():
    with pytest.raises(ValueError, match="hold band"):
        _control(shrink_above=0.9)


@given(st.floats(min_value=0.0, max_value=20.0), st.integers(min_value=1, max_value=200))
def test_a_steady_wait_never_makes_the_bound_change_direction(wait_in_targets, decisions):
    """Against a constant wait the bound moves one way (or not at all): no
    oscillation, whatever the wait."""
    control = _control()
    moves = []
    for i in range(1, decisions + 1):
        control.observe(wait_in_targets * TARGET)
        decision = control.decide(i * 100 * MS, pressed=True)
        if decision.action != "hold":
            moves.append(decision.action)
        assert control.minimum <= decision.capacity <= control.maximum
    assert len(set(moves)) <= 1
