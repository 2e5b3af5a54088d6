"""Clocks: the manual one moves only when told; the system one is monotonic."""

from orderbook_lab.core.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(start_ns=100)
    assert clock.now_ns() == 100
    assert clock.now_ns() == 100
    clock.advance_ns(50)
    assert clock.now_ns() == 150


def test_manual_clock_sleep_jumps_forward_never_back():
    clock = ManualClock()
    clock.sleep_until_ns(1_000)
    assert clock.now_ns() == 1_000
    clock.sleep_until_ns(10)  # already past: returns at once, time stays
    assert clock.now_ns() == 1_000


def test_system_clock_is_monotonic_and_does_not_sleep_for_the_past():
    assert isinstance(SYSTEM_CLOCK, SystemClock)
    first = SYSTEM_CLOCK.now_ns()
    SYSTEM_CLOCK.sleep_until_ns(first - 10**9)  # a deadline in the past: no sleep
    assert SYSTEM_CLOCK.now_ns() >= first


def test_both_clocks_fit_the_protocol():
    def read(clock: Clock) -> int:
        clock.sleep_until_ns(clock.now_ns())
        return clock.now_ns()

    assert read(ManualClock(5)) == 5
    assert read(SYSTEM_CLOCK) > 0
