"""``CircuitBreaker``: stop sending work to a worker that keeps failing.

Three states, as in the classic pattern:

* **closed**: messages flow; every outcome the worker reports is counted in
  a sliding window (``window_ns``, in ten buckets). Once the window holds at
  least ``min_calls`` outcomes and the failed share reaches
  ``failure_ratio``, the breaker opens.
* **open**: nothing is sent; what arrives for the worker is shed (the caller
  counts it). After ``open_ns`` the breaker lets a probe through.
* **half-open**: up to ``probes`` messages go; when all their outcomes are
  back, a failed share below ``failure_ratio`` closes the breaker (with a
  fresh window), anything else opens it again for another ``open_ns``.

A *failure* is whatever the caller reports as one: here, a message that
raised in its worker, or one served slower than ``--breaker-latency-ms``.
Why a ratio over a window rather than a count of consecutive failures: a
worker that fails half its messages never fails ten in a row for long, yet
it is plainly broken; a ratio sees it within ``min_calls`` outcomes.

Every change of state is kept (``transitions``), with the figures that
caused it, for the run's time series. Pure: the caller passes the clock's
readings in. ``allow`` and ``record`` are O(1) (O(buckets) when the window
slides).

    >>> breaker = CircuitBreaker(min_calls=10, open_ns=1_000)
    >>> breaker.record(0, ok=6, failed=4)
    >>> breaker.state, breaker.allow(500), breaker.allow(1_000), breaker.state
    ('open', False, True, 'half-open')
    >>> sum(breaker.allow(1_000) for _ in range(20))  # the first one above, then nine more
    9
    >>> breaker.record(1_100, ok=10, failed=0)
    >>> breaker.state
    'closed'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker", "Transition"]

BreakerState = Literal["closed", "open", "half-open"]

_BUCKETS = 10


@dataclass(frozen=True)
class Transition:
    """One change of state and why."""

    at_ns: int
    state: BreakerState
    reason: str

    def as_dict(self, start_ns: int) -> dict:
        return {"t_s": round((self.at_ns - start_ns) / 1e9, 3), "state": self.state, "reason": self.reason}


class CircuitBreaker:
    """One worker's breaker (see the module docstring)."""

    def __init__(
        self,
        *,
        failure_ratio: float = 0.25,
        min_calls: int = 20,
        window_ns: int = 1_000_000_000,
        open_ns: int = 1_000_000_000,
        probes: int = 10,
    ) -> None:
        self.failure_ratio = failure_ratio
        self.min_calls = min_calls
        self.bucket_ns = max(1, window_ns // _BUCKETS)
        self.open_ns = open_ns
        self.probes = probes
        self.state: BreakerState = "closed"
        self.transitions: list[Transition] = []
        self.opened = 0
        self._ok = [0] * _BUCKETS
        self._failed = [0] * _BUCKETS
        self._bucket = 0  # index of the current bucket, counted from time 0
        self._opened_at = 0
        self._probes_sent = 0
        self._probe_ok = 0
        self._probe_failed = 0

    # ------------------------------------------------------------ sending

    def allow(self, now_ns: int) -> bool:
        """May one message go to the worker now? (In half-open, each True
        spends one of the ``probes``.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            if now_ns - self._opened_at < self.open_ns:
                return False
            self._move(now_ns, "half-open", f"{self.open_ns / 1e9:g} s open: probing")
            self._probes_sent = self._probe_ok = self._probe_failed = 0
        if self._probes_sent < self.probes:
            self._probes_sent += 1
            return True
        return False

    # ------------------------------------------------------------ outcomes

    def record(self, now_ns: int, ok: int, failed: int) -> None:
        """Outcomes the worker reported (messages served, messages failed)."""
        if self.state == "closed":
            self._slide(now_ns)
            index = self._bucket % _BUCKETS
            self._ok[index] += ok
            self._failed[index] += failed
            total_failed = sum(self._failed)
            total = sum(self._ok) + total_failed
            if total >= self.min_calls and total_failed >= self.failure_ratio * total:
                self._open(now_ns, f"{total_failed} of {total} failed in the window")
        elif self.state == "half-open":
            self._probe_ok += ok
            self._probe_failed += failed
            done = self._probe_ok + self._probe_failed
            if self._probe_failed and self._probe_failed >= self.failure_ratio * max(done, self.probes):
                self._open(now_ns, f"probe: {self._probe_failed} of {done} failed")
            elif done >= self._probes_sent and self._probes_sent >= self.probes:
                self._ok = [0] * _BUCKETS
                self._failed = [0] * _BUCKETS
                self._move(now_ns, "closed", f"probe: {self._probe_ok} of {done} served")
        # open: outcomes of messages sent before it opened; they decide nothing

    def force_open(self, now_ns: int, reason: str) -> None:
        """Open on outside evidence (the worker stopped reporting health)."""
        if self.state != "open":
            self._open(now_ns, reason)

    # ------------------------------------------------------------ inside

    def _open(self, now_ns: int, reason: str) -> None:
        self._opened_at = now_ns
        self.opened += 1
        self._move(now_ns, "open", reason)

    def _move(self, now_ns: int, state: BreakerState, reason: str) -> None:
        self.state = state
        self.transitions.append(Transition(now_ns, state, reason))

    def _slide(self, now_ns: int) -> None:
        """Empty the buckets the window has moved past."""
        bucket = now_ns // self.bucket_ns
        passed = bucket - self._bucket
        if passed <= 0:
            return
        for step in range(1, min(passed, _BUCKETS) + 1):
            index = (self._bucket + step) % _BUCKETS
            self._ok[index] = self._failed[index] = 0
        self._bucket = bucket
