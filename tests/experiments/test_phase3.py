"""Lesson 3's experiments: registered, and counting what they claim to count.

Every experiment's quick run and the shape of its report are checked in
``test_experiments.py``; speeds are never asserted (the machine is shared).
"""

from __future__ import annotations

import pytest

from orderbook_lab.experiments import EXPERIMENTS, run_experiment

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
