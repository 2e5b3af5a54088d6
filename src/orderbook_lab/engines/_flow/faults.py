"""Fault injection: a worker that fails some of its messages on purpose.

``--fault-rate F --fault-worker N [--fault-window A:B]``: worker N raises
``InjectedFault`` on a share F of the messages it takes in, from A to B
seconds into the run (the parent turns the window into two readings of the
monotonic clock, which every process on the machine shares). The message
is not applied; the worker counts it failed, the parent counts it dropped
(``worker_fault``) and its breaker sees a failure. The draws are seeded
(``--seed``), so a run's faults strike the same messages every time.
"""

from __future__ import annotations

import random

import msgspec

__all__ = ["FaultInjector", "FaultPlan", "InjectedFault"]


class InjectedFault(Exception):
    """A failure made on purpose (``--fault-rate``)."""


class FaultPlan(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Sent to the struck worker with its first frame."""

    rate: float
    from_ns: int
    until_ns: int
    seed: int


class FaultInjector:
    """Raises on a share of calls inside the plan's window. O(1)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._draw = random.Random(plan.seed).random

    def check(self, now_ns: int) -> None:
        plan = self.plan
        if plan.from_ns <= now_ns < plan.until_ns and self._draw() < plan.rate:
            raise InjectedFault("injected fault (--fault-rate)")
