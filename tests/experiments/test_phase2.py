"""Lesson 2's experiments: registered, and counting what they claim to count.

Every experiment's quick run and the shape of its report are checked in
``test_experiments.py``; speeds are never asserted (the machine is shared)."""

from __future__ import annotations

from orderbook_lab.experiments import EXPERIMENTS, run_experiment
from orderbook_lab.experiments.phase2 import (
    batch_findings,
    cpu_findings,
    io_findings,
    query_load_findings,
    queue_findings,
)

PHASE_2 = ["2.1", "2.2", "2.3", "2.4", "2.5"]


def test_every_phase_2_experiment_is_registered():
    assert [e for e in EXPERIMENTS if e.startswith("2.")] == PHASE_2


def test_queue_sweep_counts_drops_only_where_the_policy_drops():
    report = run_experiment(EXPERIMENTS["2.2"], quick=True)
    rows = {(row[0], row[1]): row for row in report.tables[0].rows}
    assert rows["block", 10][3] == 0, "block never drops"
    assert rows["drop-newest", 10][3] > 0, "bursts of 250 cannot fit 10 slots"
    assert rows["drop-newest", 10][2] < 100


# Findings follow the figures: each builder gets contrasting figures, and
# the conclusion must flip with them.


def _io_rows(sync: float, asyn: float) -> list[list]:
    #  offered, sync, asyncio, asyncio / sync, sync p99, asyncio p99 (ms)
    return [[250, 250, 250, 1.0, 20.0, 5.0], [4000, sync, asyn, round(asyn / sync, 2), 8000.0, 900.0]]


def test_io_findings_say_whether_asyncio_won():
    faster = io_findings(_io_rows(444, 2058), lanes=5)
    same = io_findings(_io_rows(444, 460), lanes=5)
    slower = io_findings(_io_rows(444, 300), lanes=5)
    assert "the loop runs the others" in faster[0]
    assert "no difference within noise" in same[0]
    assert "asyncio was slower" in slower[0]
    assert "stopped near it" in faster[-1]
    assert "stopped at 18% of it" in same[-1]


def _queue_rows(small_p99: float, big_p99: float, block_wait: float) -> dict:
    def row(dropped: int, p99: float, wait: float, high: int) -> dict:
        return {
            "delivered (%)": 100.0 if not dropped else 13.2,
            "dropped": dropped,
            "latency p99 (ms)": p99,
            "queue wait p99 (ms)": wait,
            "queue high water": high,
        }

    return {
        ("drop-newest", 10): row(5205, small_p99, 13.7, 10),
        ("drop-newest", 1000): row(0, big_p99, 219.0, 440),
        ("drop-newest", 10_000): row(0, big_p99, 221.0, 452),
        ("block", 10): row(0, 270.0, block_wait, 10),
    }


def test_queue_findings_follow_the_trade_the_run_showed():
    sizes = [10, 100, 1000, 10_000]
    bursts = [[50, 6000, 100.0, 30.0, 5.0, 60], [5000, 10_000, 100.0, 2600.0, 2500.0, 5000]]
    traded = " ".join(queue_findings(_queue_rows(57.0, 255.0, 12.0), sizes, bursts))
    assert "trades loss for delay" in traded and "more slots change nothing" in traded
    assert "waited upstream" in traded and "the wait grows with the burst" in traded
    free = " ".join(queue_findings(_queue_rows(250.0, 255.0, 250.0), sizes, [bursts[0], bursts[0]]))
    assert "at no latency cost beyond noise" in free and "trades loss" not in free
    assert "little waited upstream" in free and "no growth beyond noise" in free


def _batch_figures(waiting_ms: float, no_wait_ms: float, spread: float, no_wait_batch: float = 1.0) -> dict:
    return {
        "unbatched_p50_ms": 0.12,
        "waiting_p50_ms": waiting_ms,
        "waiting_batch": 21.1,
        "no_wait_p50_ms": no_wait_ms,
        "no_wait_batch": no_wait_batch,
        "control_spread": spread,
    }


def test_batch_findings_call_noise_what_the_control_row_spreads_by():
    ratio = {(1, 0.0): 1.0, (1, 100.0): 0.98, (500, 0.0): 0.96, (500, 100.0): 1.05}
    noise = batch_findings(_batch_figures(50.0, 0.12, 0.3), ratio, 500, 100.0)
    assert "charges the wait" in noise[0] and "it never waits" in noise[1]
    assert "noise on this machine" in noise[2]
    gain = {**ratio, (500, 100.0): 1.6}
    real = batch_findings(_batch_figures(0.13, 0.5, 0.02, no_wait_batch=6.0), gain, 500, 100.0)
    assert "no cost beyond noise" in real[0] and "cost latency beyond noise" in real[1]
    # Slower, but one message a batch: not batching's doing.
    alone = batch_findings(_batch_figures(0.13, 0.5, 0.02, no_wait_batch=1.0), gain, 500, 100.0)
    assert "batching cannot be the cause" in alone[1] and "cost latency" not in alone[1]
    assert "some of it is batching" in real[2] and "noise on this machine" not in real[2]


def test_cpu_findings_flip_when_something_overlapped():
    none = cpu_findings({"loop_vs_sync_x": 0.93, "threads_vs_sync_x": 0.85, "most_cores": 0.99}, 2)
    more = cpu_findings({"loop_vs_sync_x": 0.95, "threads_vs_sync_x": 1.6, "most_cores": 1.7}, 2)
    assert "nothing to overlap" in none[0] and "the same as sync within noise" in none[0]
    assert "one thread of Python at a time" in none[1]
    assert "faster than sync" in more[0] and "released the GIL" in more[0]
    assert "outside the GIL" in more[1]


def _found(io_asyncio_p99: float, cpu_asyncio_p99: float, cost_x: float = 1.0) -> dict:
    def cell(p99: float, cost: float = 1.0) -> dict:
        return {"p50_us": p99 / 3, "p99_us": p99, "cost_x": cost}

    return {
        ("I/O 2 ms", "sync"): cell(2300.0),
        ("I/O 2 ms", "asyncio"): cell(io_asyncio_p99),
        ("CPU 1 ms", "sync"): cell(5700.0),
        ("CPU 1 ms", "asyncio"): cell(cpu_asyncio_p99, cost_x),
    }


def test_query_findings_say_lower_or_higher_as_measured():
    usual = query_load_findings(_found(1450.0, 10_000.0), 100.0)
    assert "was lower than sync's" in usual[0] and "runs while the lanes await" in usual[0]
    assert "higher than sync's" in usual[1] and "waits for all of their turns" in usual[1]
    assert "no difference within noise" in usual[2]
    flipped = query_load_findings(_found(4000.0, 3000.0, cost_x=0.6), 100.0)
    assert "was higher than sync's" in flipped[0] and "runs while the lanes await" not in flipped[0]
    assert "lower than sync's" in flipped[1] and "waits for all of their turns" not in flipped[1]
    assert "queries cost throughput in: asyncio, CPU 1 ms" in flipped[2]
    same = query_load_findings(_found(2200.0, 5500.0), 100.0)
    assert "the same within noise as" in same[0] and "the same within noise as" in same[1]
