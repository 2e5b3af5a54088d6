"""CircuitBreaker: opens on a failing share, sheds while open, probes after
the cool-down, closes on healthy probes and reopens on failing ones."""

from __future__ import annotations

from orderbook_lab.engines._flow.breaker import CircuitBreaker

MS = 1_000_000
S = 1_000 * MS


def _breaker(**kwargs) -> CircuitBreaker:
    return CircuitBreaker(**{"min_calls": 20, "failure_ratio": 0.25, "open_ns": S, "probes": 10, **kwargs})


def _probe(breaker: CircuitBreaker, now: int) -> int:
    return sum(breaker.allow(now) for _ in range(50))


def test_it_stays_closed_below_the_failure_ratio_and_below_min_calls():
    breaker = _breaker()
    breaker.record(0, ok=19, failed=0)
    breaker.record(1, ok=0, failed=0)
    assert breaker.state == "closed"
    breaker.record(2, ok=0, failed=5)  # 5 of 24: under a quarter
    assert breaker.state == "closed"
    small = _breaker()
    small.record(0, ok=0, failed=19)  # all failed, but fewer than min_calls
    assert small.state == "closed"


def test_half_the_messages_failing_opens_it_and_nothing_passes_while_open():
    breaker = _breaker()
    breaker.record(10 * MS, ok=10, failed=10)
    assert breaker.state == "open"
    assert breaker.transitions[-1].reason == "10 of 20 failed in the window"
    assert _probe(breaker, 10 * MS + S - 1) == 0


def test_after_the_cool_down_healthy_probes_close_it():
    breaker = _breaker()
    breaker.record(0, ok=10, failed=10)
    assert _probe(breaker, S) == 10  # ten probes, then nothing until they report
    assert breaker.state == "half-open"
    breaker.record(S + MS, ok=10, failed=0)
    assert breaker.state == "closed"
    assert [t.state for t in breaker.transitions] == ["open", "half-open", "closed"]


def test_a_failing_probe_opens_it_again_for_another_cool_down():
    breaker = _breaker()
    breaker.record(0, ok=10, failed=10)
    _probe(breaker, S)
    breaker.record(S + MS, ok=5, failed=5)
    assert breaker.state == "open"
    assert breaker.opened == 2
    assert _probe(breaker, S + MS + S - 1) == 0
    assert _probe(breaker, S + MS + S) == 10


def test_old_outcomes_slide_out_of_the_window():
    breaker = _breaker()
    breaker.record(0, ok=0, failed=15)  # too few to judge...
    breaker.record(2 * S, ok=20, failed=0)  # ...and gone a window later
    breaker.record(2 * S + 1, ok=0, failed=5)  # 5 of 25 now: closed
    assert breaker.state == "closed"


def test_outside_evidence_can_force_it_open():
    breaker = _breaker()
    breaker.force_open(5 * MS, "no health report for 3 s")
    assert (breaker.state, breaker.transitions[-1].reason) == ("open", "no health report for 3 s")
