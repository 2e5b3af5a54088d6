"""Health: what each worker says about itself every second, and what the
parent makes of it.

A worker knows how much it served, failed and computed, and how much memory
it holds; only the parent knows how much waits for it (its queue and the
frames in flight), what its breaker says and how long messages wait. Each
side reports what it knows: the worker sends a ``Health`` (cumulative
counters and a clock reading) riding on a frame's reply when one is due,
or on its own when it has been idle that long, so reporting never makes
the worker wait for anything. The parent's ``HealthBoard`` turns two
consecutive reports into rates, adds its own view, and keeps one
``HealthSample`` per worker per report: the run's health time series, the
live table and the input of two decisions (a worker silent for
``STALE_AFTER_S`` is presumed stuck and its breaker opened).

Worker side, ``health_now`` costs two clock reads and one small file read
(``/proc/self/statm``), about 10 µs, once a second.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

import msgspec

from ...core.metrics import LatencyHistogram

__all__ = ["HEALTH_EVERY_NS", "STALE_AFTER_S", "Health", "HealthBoard", "HealthSample", "resident_bytes"]

HEALTH_EVERY_NS = 1_000_000_000
"""A worker reports at least this often while it is alive."""
STALE_AFTER_S = 3.0
"""A worker silent this long (with work in flight) is presumed stuck."""

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Health(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """A worker's own counters, cumulative since it started (so a lost or
    late report costs resolution, never a wrong rate). ``processing`` is
    its whole service-time histogram so far (a few dozen buckets): what a
    scrape of the run's metrics reads while it runs."""

    worker: int
    at_ns: int
    processed: int
    failed: int
    busy_ns: int
    cpu_ns: int
    rss_bytes: int
    invalid: int = 0
    processing: LatencyHistogram | None = None


def health_now(
    worker: int, processed: int, failed: int, busy_ns: int, invalid: int, processing: LatencyHistogram
) -> Health:
    return Health(
        worker,
        time.perf_counter_ns(),
        processed,
        failed,
        busy_ns,
        time.process_time_ns(),
        resident_bytes(),
        invalid,
        processing,
    )


@dataclass(frozen=True)
class HealthSample:
    """One worker over one reporting interval, as the parent sees it."""

    t_s: float
    worker: int
    msgs_per_s: float
    error_rate: float
    busy: float
    cpu: float
    rss_mb: float
    depth: int
    capacity: int
    wait_ms: float
    breaker: str

    def as_dict(self) -> dict:
        return {
            "t_s": round(self.t_s, 3),
            "worker": self.worker,
            "msgs_per_s": round(self.msgs_per_s, 1),
            "error_rate": round(self.error_rate, 4),
            "busy": round(self.busy, 3),
            "cpu": round(self.cpu, 3),
            "rss_mb": round(self.rss_mb, 1),
            "depth": self.depth,
            "capacity": self.capacity,
            "wait_ms": round(self.wait_ms, 3),
            "breaker": self.breaker,
        }


class HealthBoard:
    """The parent's view of every worker's health (see the module docstring)."""

    def __init__(self, workers: int, start_ns: int) -> None:
        self.start_ns = start_ns
        self.reports: list[Health | None] = [None] * workers
        """Each worker's latest report (``None`` until its first)."""
        self.last_heard_ns = [start_ns] * workers
        self.latest: list[HealthSample | None] = [None] * workers
        self.samples: list[HealthSample] = []

    def receive(
        self, health: Health, arrived_ns: int, depth: int, capacity: int, wait_ms: float, breaker: str
    ) -> HealthSample | None:
        """File one report; a sample once the worker has reported twice."""
        worker = health.worker
        self.last_heard_ns[worker] = arrived_ns
        before, self.reports[worker] = self.reports[worker], health
        if before is None or health.at_ns <= before.at_ns:
            return None
        span = health.at_ns - before.at_ns
        served = health.processed - before.processed
        failed = health.failed - before.failed
        sample = HealthSample(
            t_s=(health.at_ns - self.start_ns) / 1e9,
            worker=worker,
            msgs_per_s=served * 1e9 / span,
            error_rate=failed / (served + failed) if served + failed else 0.0,
            busy=(health.busy_ns - before.busy_ns) / span,
            cpu=(health.cpu_ns - before.cpu_ns) / span,
            rss_mb=health.rss_bytes / 2**20,
            depth=depth,
            capacity=capacity,
            wait_ms=wait_ms,
            breaker=breaker,
        )
        self.latest[worker] = sample
        self.samples.append(sample)
        return sample

    def silent(self, now_ns: int) -> list[int]:
        """Workers not heard from for ``STALE_AFTER_S``."""
        limit = STALE_AFTER_S * 1e9
        return [w for w, heard in enumerate(self.last_heard_ns) if now_ns - heard > limit]
