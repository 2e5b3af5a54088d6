"""``AdaptiveCapacity``: a queue bound that follows the wait it causes.

A bounded queue trades two losses: too small and a burst is shed that a
moment later could have been served; too large and, under overload, every
message waits behind the whole backlog. By Little's law the wait of a full
queue is its capacity over its service rate (``W = L / λ``), so the bound
that keeps the wait near a target ``W*`` is ``μ · W*``, and ``μ`` changes
with the load, the machine and the worker's health. Rather than estimate
``μ``, the controller watches the wait itself and nudges the bound:

* the wait is smoothed by an EWMA (``alpha`` per observation), so one slow
  frame does not move the bound;
* every ``interval_ns`` it decides: above ``shrink_above × target`` the
  capacity shrinks by ``step`` (waits too long: hold less); below
  ``grow_below × target`` *and* the queue was full since the last decision
  it grows by ``step`` (room to absorb the next burst, which only matters
  if the bound was reached);
* in between it holds. The gap between 0.3x and 1.5x is the hysteresis: a
  capacity that makes the wait land anywhere in it is left alone, so the
  bound settles instead of hunting around one value.

Steps are multiplicative and bounded by ``minimum``/``maximum``, so from any
capacity the right one is a few decisions away and no decision is a jump.
Why shrink on a long wait (and not grow, as a throughput-minded controller
would): this queue's job is bounded latency under overload; what does not
fit is shed by priority (``shedding``), and it is counted.

Pure: the caller passes the clock's readings in. O(1) per call.

    >>> control = AdaptiveCapacity(100_000_000, initial=100, minimum=10, maximum=1000)
    >>> for _ in range(5):
    ...     control.observe(400_000_000)  # 4x the target, for a while
    >>> control.decide(1_000_000_000, pressed=True).capacity
    75
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AdaptiveCapacity", "CapacityDecision"]


@dataclass(frozen=True)
class CapacityDecision:
    """One decision and what it was based on (a point of the time series)."""

    at_ns: int
    wait_ewma_ms: float
    capacity: int
    previous: int
    pressed: bool
    action: str
    """``grow``, ``shrink`` or ``hold``."""

    def as_dict(self, start_ns: int) -> dict:
        return {
            "t_s": round((self.at_ns - start_ns) / 1e9, 3),
            "wait_ewma_ms": round(self.wait_ewma_ms, 3),
            "capacity": self.capacity,
            "previous": self.previous,
            "pressed": self.pressed,
            "action": self.action,
        }


class AdaptiveCapacity:
    """The bound of one queue, steered toward ``target_wait_ns`` (see the
    module docstring)."""

    def __init__(
        self,
        target_wait_ns: float,
        *,
        initial: int,
        minimum: int,
        maximum: int,
        alpha: float = 0.2,
        shrink_above: float = 1.5,
        grow_below: float = 0.3,
        step: float = 0.25,
        interval_ns: int = 100_000_000,
    ) -> None:
        if not 0 < minimum <= initial <= maximum:
            raise ValueError("need 0 < minimum <= initial <= maximum")
        if not grow_below < 1 < shrink_above:
            raise ValueError("the hold band must contain the target: grow_below < 1 < shrink_above")
        self.target_wait_ns = target_wait_ns
        self.capacity = initial
        self.minimum = minimum
        self.maximum = maximum
        self.alpha = alpha
        self.shrink_above = shrink_above
        self.grow_below = grow_below
        self.step = step
        self.interval_ns = interval_ns
        self.wait_ewma_ns: float | None = None
        self.next_decision_ns: int | None = None

    def observe(self, wait_ns: float) -> None:
        """One observed wait (a frame's mean, or one message's)."""
        ewma = self.wait_ewma_ns
        self.wait_ewma_ns = wait_ns if ewma is None else ewma + self.alpha * (wait_ns - ewma)

    def due(self, now_ns: int) -> bool:
        """Whether a decision is due (the first call starts the clock)."""
        if self.next_decision_ns is None:
            self.next_decision_ns = now_ns + self.interval_ns
            return False
        return now_ns >= self.next_decision_ns

    def decide(self, now_ns: int, pressed: bool) -> CapacityDecision:
        """Grow, shrink or hold; ``pressed``: the queue reached its bound
        since the last decision."""
        self.next_decision_ns = now_ns + self.interval_ns
        previous = self.capacity
        ewma = self.wait_ewma_ns
        action = "hold"
        if ewma is not None:
            if ewma > self.shrink_above * self.target_wait_ns:
                self.capacity = max(self.minimum, math.floor(previous * (1 - self.step)))
                action = "shrink"
            elif ewma < self.grow_below * self.target_wait_ns and pressed:
                self.capacity = min(self.maximum, math.ceil(previous * (1 + self.step)))
                action = "grow"
        if self.capacity == previous and action != "hold":
            action = "hold"  # at a bound already
        return CapacityDecision(now_ns, (ewma or 0.0) / 1e6, self.capacity, previous, pressed, action)
