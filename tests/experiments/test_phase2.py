"""Lesson 2's experiments: registered, and counting what they claim to count.

Every experiment's quick run and the shape of its report are checked in
``test_experiments.py``; speeds are never asserted (the machine is shared)."""

from __future__ import annotations

from orderbook_lab.experiments import EXPERIMENTS, run_experiment

PHASE_2 = ["2.1", "2.2", "2.3", "2.4", "2.5"]


def test_every_phase_2_experiment_is_registered():
    assert [e for e in EXPERIMENTS if e.startswith("2.")] == PHASE_2


def test_queue_sweep_counts_drops_only_where_the_policy_drops():
    report = run_experiment(EXPERIMENTS["2.2"], quick=True)
    rows = {(row[0], row[1]): row for row in report.tables[0].rows}
    assert rows["block", 10][3] == 0, "block never drops"
    assert rows["drop-newest", 10][3] > 0, "bursts of 250 cannot fit 10 slots"
    assert rows["drop-newest", 10][2] < 100
