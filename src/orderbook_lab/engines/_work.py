"""Simulated per-message work: CPU that holds the GIL, and waiting.

``--work-ms`` must cost real CPU, not wall time. A loop that spins until a
deadline would finish on time even while another thread holds the GIL,
hiding exactly the contention the lab sets out to show. So the work is a
fixed number of loop iterations, calibrated once per process to take the
requested time when the process has a core to itself.
"""

from __future__ import annotations

import statistics
import time
from functools import lru_cache

__all__ = ["CpuWork", "iterations_per_ms"]


def _spin(iterations: int) -> int:
    # Every iteration costs the same: the value stays a small int, so no
    # iteration pays for big-integer arithmetic.
    value = 0
    for _ in range(iterations):
        value = (value * 31 + 7) & 0xFFFF
    return value


@lru_cache(maxsize=1)
def iterations_per_ms() -> float:
    """How many ``_spin`` iterations this process runs in 1 ms: the median
    of nine 2 ms samples, so one lucky or one disturbed sample does not set
    the pace. About 20 ms, once per process.

    On a shared virtual machine the CPU's speed drifts by several percent
    over seconds; experiments report the work time they measured next to
    the work time they asked for.
    """
    iterations = 40_000
    _spin(iterations)  # warm up
    samples = []
    for _ in range(9):
        start = time.perf_counter()
        _spin(iterations)
        samples.append(time.perf_counter() - start)
    return iterations / (statistics.median(samples) * 1e3)


class CpuWork:
    """Burns ``work_ms`` of CPU per call (0 = free).

    >>> CpuWork(0.0)()   # no work, no calibration
    0
    """

    __slots__ = ("work_ms", "_iterations")

    def __init__(self, work_ms: float, per_ms: float | None = None) -> None:
        self.work_ms = work_ms
        if work_ms > 0:
            per_ms = per_ms if per_ms is not None else iterations_per_ms()
            self._iterations = max(1, round(work_ms * per_ms))
        else:
            self._iterations = 0

    def __call__(self) -> int:
        return _spin(self._iterations) if self._iterations else 0
