"""pyperf's method, small: fresh worker processes, calibration, warm-ups.

Why not pyperf itself: its ``Runner`` owns ``sys.argv`` (it parses the
command line of the script it runs and re-executes that script as its
workers), which fights a Typer CLI with its own options, and it measures
one timed function per benchmark, while one contender here yields several
related figures from one prepared state (updates, then reads of the books
the updates built). The method is what matters, and it is short:

* every contender runs in its own fresh interpreter
  (``python -m orderbook_lab.bench._worker``), so no contender inherits
  another's warmed caches, allocator state or garbage;
* inside a worker each timed function is first **calibrated** (the loop
  count doubles until one sample lasts ``min_sample_s``), then run once
  as a **warm-up** that is thrown away, then sampled ``repeats`` times;
* the figure kept is the **median** of the samples of all workers, which
  shrugs off the odd sample another process on the machine disturbed;
* workers of different contenders are interleaved, and the order turns
  each round (A B C, B C A, C A B...), so a slow minute on a shared
  machine, or the first worker's cold start, hurts every contender alike.

A worker prints one JSON object on stdout; nothing else is read from it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Timing",
    "WorkerError",
    "calibrate",
    "sample",
    "rotated",
    "run_worker",
    "python_version",
    "machine",
]


@dataclass(frozen=True)
class Timing:
    """How hard to measure: ``repeats`` samples per worker after one
    warm-up, each at least ``min_sample_s`` long, in ``processes`` workers
    per contender."""

    repeats: int = 5
    min_sample_s: float = 0.05
    processes: int = 3

    @classmethod
    def quick(cls) -> Timing:
        return cls(repeats=5, min_sample_s=0.002, processes=1)


class WorkerError(RuntimeError):
    """A worker process failed; ``str()`` holds its last stderr lines."""


def calibrate(run: Callable[[int], int], min_sample_s: float, max_loops: int = 1 << 24) -> int:
    """Loops such that ``run(loops)`` (returns elapsed ns) lasts at least
    ``min_sample_s``: start at 1 and double, as pyperf does."""
    loops = 1
    while loops < max_loops:
        if run(loops) >= min_sample_s * 1e9:
            return loops
        loops *= 2
    return loops


def sample(run: Callable[[int], int], loops: int, repeats: int) -> list[int]:
    """One warm-up, then ``repeats`` samples of ``run(loops)`` in ns."""
    run(loops)
    return [run(loops) for _ in range(repeats)]


def run_worker(args: dict, timeout_s: float = 600.0) -> dict:
    """Run one worker in a fresh interpreter and return its JSON answer."""
    command = [sys.executable, "-m", "orderbook_lab.bench._worker", json.dumps(args)]
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")  # same dict layouts in every worker
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise WorkerError(f"worker {args.get('bench')}/{args.get('contender')} failed: {tail}")
    answer = json.loads(done.stdout)
    answer["worker_s"] = round(time.perf_counter() - began, 3)
    return answer


def rotated(names, round_no: int) -> list:
    """``names`` turned left by ``round_no``: who goes first changes each round.

    >>> rotated(["a", "b", "c"], 1)
    ['b', 'c', 'a']
    """
    names = list(names)
    shift = round_no % len(names) if names else 0
    return names[shift:] + names[:shift]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def python_version() -> str:
    """E.g. "CPython 3.11.7"."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def machine() -> str:
    """What the numbers were measured on: OS, architecture, CPU, cores."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu or 'unknown CPU'}, {os.cpu_count()} cores"
