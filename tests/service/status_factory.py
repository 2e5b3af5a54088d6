"""``LiveStatus`` values built by hand, for the pure parts of the service."""

from __future__ import annotations

from dataclasses import replace

from orderbook_lab.core.metrics import LatencyHistogram
from orderbook_lab.engines._stats import LiveStatus, WorkerStatus


def worker(n: int, **changes) -> WorkerStatus:
    base = WorkerStatus(
        worker=n,
        alive=True,
        breaker="closed",
        depth=3,
        capacity=64,
        wait_ms=2.5,
        processed=100,
        failed=0,
        invalid=1,
        busy=0.2,
        cpu=0.3,
        rss_mb=40.0,
        last_report_s=0.4,
    )
    return replace(base, **changes)


def status(*workers: WorkerStatus, processing: LatencyHistogram | None = None, **changes) -> LiveStatus:
    base = LiveStatus(
        running=True,
        uptime_s=12.5,
        generated=250,
        processed=200,
        invalid=2,
        dropped={"shed:change": 30, "worker_fault": 18},
        restarts=0,
        workers=workers or (worker(0), worker(1)),
        processing=processing if processing is not None else LatencyHistogram(),
    )
    return replace(base, **changes)
