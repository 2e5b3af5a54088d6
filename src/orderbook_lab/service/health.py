"""Readiness and the status document: what a load balancer and a person ask.

Liveness and readiness answer different questions. Live: is the process
able to answer at all (if not, restart it). Ready: should traffic be sent
here now (if not, wait; restarting would not help). A service that is
still starting, or whose pipeline is degraded, is live but not ready.

Degraded means some books cannot be trusted to be current: a worker's
breaker is open (its messages are being shed), a worker process is gone,
or a worker has not reported for ``STALE_AFTER_S`` (it may be stuck). All
three come from one ``LiveStatus``, so readiness is a pure function of it
and is tested without a process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engines._flow.health import STALE_AFTER_S
from ..engines._stats import LiveStatus

__all__ = ["Readiness", "readiness", "status_document"]


@dataclass(frozen=True)
class Readiness:
    """``ready`` and, when not, every reason why (one short sentence each)."""

    ready: bool
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "reasons": list(self.reasons)}


def readiness(status: LiveStatus, started: bool) -> Readiness:
    """Ready once ``started`` (the engine's workers are up) and the run is
    under way, and while no worker is degraded (module docstring). O(workers).

    A worker that has not reported yet is not stale: phases 3 to 6 send no
    health reports at all, and a phase 7 worker's first one comes within a
    second of starting.
    """
    if not started:
        return Readiness(False, ("the engine is starting",))
    if not status.running:
        return Readiness(False, ("the run is not under way (not begun, or ended)",))
    reasons = []
    for worker in status.workers:
        if not worker.alive:
            reasons.append(f"worker {worker.worker} is not alive")
        if worker.breaker == "open":
            reasons.append(f"worker {worker.worker}'s breaker is open")
        if worker.last_report_s is not None and worker.last_report_s > STALE_AFTER_S:
            reasons.append(
                f"worker {worker.worker} last reported {worker.last_report_s:.1f} s ago "
                f"(more than {STALE_AFTER_S:g} s)"
            )
    return Readiness(not reasons, tuple(reasons))


def status_document(status: LiveStatus, started: bool) -> dict[str, Any]:
    """``/health/status``: readiness with its reasons, the engine's counts
    and each worker's state, in JSON types (times in s and ms as named)."""
    ready = readiness(status, started)
    return {
        **ready.as_dict(),
        "engine": {
            "started": started,
            "running": status.running,
            "uptime_s": round(status.uptime_s, 3),
            "counts": {
                "generated": status.generated,
                "processed": status.processed,
                "dropped": sum(status.dropped.values()),
                "invalid": status.invalid,
                "dropped_by_reason": dict(sorted(status.dropped.items())),
            },
            "restarts": status.restarts,
        },
        "workers": [
            {
                "worker": w.worker,
                "alive": w.alive,
                "breaker": w.breaker,
                "depth": w.depth,
                "capacity": w.capacity,
                "wait_ms": round(w.wait_ms, 3),
                "processed": w.processed,
                "failed": w.failed,
                "invalid": w.invalid,
                "busy": round(w.busy, 3),
                "cpu": round(w.cpu, 3),
                "rss_mb": round(w.rss_mb, 1),
                "last_report_s": None if w.last_report_s is None else round(w.last_report_s, 3),
            }
            for w in status.workers
        ],
    }
