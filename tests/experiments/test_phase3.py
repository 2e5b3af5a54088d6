"""Lesson 3's experiments: registered, and counting what they claim to count.

Every experiment's quick run and the shape of its report are checked in
``test_experiments.py``; speeds are never asserted (the machine is shared).
"""

from __future__ import annotations

import pytest

from orderbook_lab.experiments import EXPERIMENTS, run_experiment
from orderbook_lab.experiments.phase3 import (
    balance_findings,
    ipc_findings,
    pickle_findings,
    query_findings,
    scaling_findings,
)

pytestmark = pytest.mark.timeout(300)

PHASE_3 = ["3.1", "3.2", "3.3", "3.4", "3.5"]


def _column(table, name):
    return [row[table.columns.index(name)] for row in table.rows]


def test_every_phase_3_experiment_is_registered():
    assert [e for e in EXPERIMENTS if e.startswith("3.")] == PHASE_3


def test_ipc_cost_covers_100_bytes_to_a_megabyte():
    [table] = run_experiment(EXPERIMENTS["3.2"], quick=True).tables
    assert _column(table, "payload (B)") == [100, 1_000, 10_000, 100_000, 1_000_000]
    assert all(trip > 0 for trip in _column(table, "pipe round trip (µs)"))


def test_load_balance_crosses_routing_and_popularity():
    [table] = run_experiment(EXPERIMENTS["3.4"], quick=True).tables
    pairs = list(zip(_column(table, "routing"), _column(table, "popularity"), strict=True))
    assert sorted(pairs) == sorted((r, p) for r in ("directory", "hash") for p in ("uniform", "zipf"))
    splits = dict(zip(pairs, _column(table, "split msgs"), strict=True))
    # The table keeps a market's tokens together: it never cuts a message.
    # The hash puts some pairs apart (seed 1, 16 assets, 2 workers).
    assert splits["directory", "uniform"] == splits["directory", "zipf"] == 0
    assert splits["hash", "uniform"] > 0
    # Placement does not depend on timing: the uniform table split is even.
    counts = dict(zip(pairs, _column(table, "msgs per worker"), strict=True))
    low, high = (int(c.replace(",", "")) for c in counts["directory", "uniform"].split(" / "))
    assert abs(low - high) <= 0.1 * (low + high)


# Findings follow their figures: contrasting figures, contrasting words.


def _scaling(same_speed: float, threads: float = 1.0, beyond: float | None = None, busy_cpu=(95.0, 93.0)):
    runs = {}
    for count in (1, 2, 4):
        runs["multiprocessing", count] = dict(ratio=same_speed * 0.9, same_speed=same_speed, cpu_ms=1.1,
                                              busy_cpu=busy_cpu)  # fmt: skip
        runs["threads", count] = dict(ratio=threads, same_speed=threads, cpu_ms=1.0, busy_cpu=(99.0, 99.0))
    if beyond is not None:
        runs["multiprocessing", 4]["ratio"] = beyond
    return {"cores": 2, "sync_cpu_ms": 1.0, "runs": runs}


def test_scaling_verdict_follows_the_same_speed_ratio():
    scaled = " ".join(scaling_findings(_scaling(1.95)))
    short = " ".join(scaling_findings(_scaling(1.5)))
    flat = " ".join(scaling_findings(_scaling(1.02)))
    assert "scaled to the 2 cores" in scaled
    assert "scaled, but to 75% of 2 cores' worth" in short
    assert "no faster than sync (within noise" in flat


def test_scaling_past_the_cores_says_whether_throughput_fell():
    fell = " ".join(scaling_findings(_scaling(1.9, beyond=1.2)))
    level = " ".join(scaling_findings(_scaling(1.9, beyond=1.72)))
    assert "throughput fell" in fell and "x lower than at 2" in fell
    assert "stayed level (within noise" in level


def test_scaling_threads_and_stolen_time_follow_the_figures():
    gil = " ".join(scaling_findings(_scaling(1.9, threads=1.03)))
    little = " ".join(scaling_findings(_scaling(1.9, threads=1.2)))
    parallel = " ".join(scaling_findings(_scaling(1.9, threads=1.8)))
    assert "no faster than sync (within noise" in gil and "one GIL" in gil
    assert "a little faster than sync" in little and "free-threaded" not in little
    assert "ran in parallel" in parallel
    stolen = " ".join(scaling_findings(_scaling(1.9, busy_cpu=(95.0, 60.0))))
    assert "other processes on this shared machine took" in stolen
    assert "took from them" not in gil


def _ipc(trip_100: float, trip_1k: float, copy_1m: float = 100.0, trip_1m: float = 1000.0):
    return [
        [100, 0.05, 0.1, trip_100, trip_100 / 2, 100 / (trip_100 / 2), 0],
        [1_000, 0.05, 0.2, trip_1k, trip_1k / 2, 1000 / (trip_1k / 2), 0],
        [1_000_000, 0.05, copy_1m, trip_1m, trip_1m / 2, 1e6 / (trip_1m / 2), 0],
    ]


def test_ipc_batching_advice_follows_how_the_cost_grows_with_bytes():
    fixed = " ".join(ipc_findings(_ipc(40.0, 42.0)))
    per_byte = " ".join(ipc_findings(_ipc(40.0, 120.0)))
    assert "the fixed cost" in fixed and "batching many small messages" in fixed
    assert "batching saves less" in per_byte
    assert "in-process copy of the same bytes: 10.00x slower" in fixed
    faster = " ".join(ipc_findings(_ipc(40.0, 42.0, copy_1m=1250.0)))
    assert "same bytes: 1.25x faster" in faster and "0.8" not in faster


def _pickle(typed_us: float, wire_us: float, parse_us: float, batch_us: float = 0.5, single_us: float = 1.5):
    return {"typed": (150, 1.0, 1.0, typed_us), "dict": (300, 2.0, 2.0, 4.0), "wire": (250, 0.2, 0.2, wire_us),
            "batch": (9000, 20.0, 12.0, batch_us), "single": (9600, 50.0, 46.0, single_us),
            "parse_us": parse_us}  # fmt: skip


def test_pickle_verdict_is_chosen_by_the_costs():
    typed = " ".join(pickle_findings(_pickle(typed_us=2.0, wire_us=0.5, parse_us=4.0)))
    wire = " ".join(pickle_findings(_pickle(typed_us=6.0, wire_us=0.5, parse_us=2.0)))
    same = " ".join(pickle_findings(_pickle(typed_us=2.5, wire_us=0.5, parse_us=2.0)))
    assert "typed messages it is" in typed
    assert (
        "wire text and parsing in the worker would be cheaper" in wire and "typed messages it is" not in wire
    )
    assert "no difference within noise" in same


def test_pickle_frame_saving_follows_the_ratio():
    saves = " ".join(pickle_findings(_pickle(2.0, 0.5, 4.0, batch_us=0.5, single_us=1.5)))
    none = " ".join(pickle_findings(_pickle(2.0, 0.5, 4.0, batch_us=1.48, single_us=1.5)))
    assert "3.0x cheaper" in saves
    assert "framing saves pickling nothing" in none


def test_balance_verdicts_follow_the_skews():
    rows = {
        ("directory", "uniform"): (1.0, 1.8),
        ("hash", "uniform"): (1.5, 1.3),
        ("directory", "zipf"): (1.4, 1.3),
    }
    table_wins = " ".join(balance_findings(rows))
    assert (
        "the table spread the load more evenly" in table_wins and "even the table reached only" in table_wins
    )
    rows = {
        ("directory", "uniform"): (1.02, 1.8),
        ("hash", "uniform"): (1.0, 1.8),
        ("directory", "zipf"): (1.03, 1.8),
    }
    even = " ".join(balance_findings(rows))
    assert "as even as each other" in even and "the hot markets happened to land apart" in even


def _latency(light_p99: float, heavy_p99: float):
    means = {"total": 500.0, "send": 10.0, "queue": 300.0, "worker": 150.0, "reply": 40.0}
    return [{"where": "200 msg/s", "p99_us": light_p99, "means_us": means},
            {"where": "flat out", "p99_us": heavy_p99, "means_us": {**means, "send": 400.0}}]  # fmt: skip


def test_query_latency_trend_follows_the_p99s():
    grew = query_findings(_latency(800.0, 5000.0))
    flat = query_findings(_latency(800.0, 900.0))
    assert "grew with load" in grew[-1]
    assert "did not change beyond noise" in flat[-1]
    assert "in 'queue'" in grew[0] and "in 'send'" in grew[1]
