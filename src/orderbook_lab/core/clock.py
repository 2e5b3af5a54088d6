"""Time as a dependency: engines and sources read a ``Clock``, tests pass a
``ManualClock`` and never sleep.

All times are integer nanoseconds from an arbitrary origin (monotonic).
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock", "ManualClock", "SYSTEM_CLOCK"]


class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""
        ...

    def sleep_until_ns(self, deadline_ns: int) -> None:
        """Block until ``now_ns() >= deadline_ns`` (at once if already past)."""
        ...


class SystemClock:
    """``time.perf_counter_ns`` and ``time.sleep``: the real thing."""

    now_ns = staticmethod(time.perf_counter_ns)

    def sleep_until_ns(self, deadline_ns: int) -> None:
        remaining = deadline_ns - time.perf_counter_ns()
        if remaining > 0:
            time.sleep(remaining / 1e9)


class ManualClock:
    """A clock that moves only when told (or when something sleeps on it).

    >>> clock = ManualClock()
    >>> clock.sleep_until_ns(5_000)
    >>> clock.now_ns()
    5000
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_ns(self, delta_ns: int) -> None:
        self._now += delta_ns

    def sleep_until_ns(self, deadline_ns: int) -> None:
        self._now = max(self._now, deadline_ns)


SYSTEM_CLOCK = SystemClock()
