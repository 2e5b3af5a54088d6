"""Lesson 3's experiments, quick: the tables have the shape the lesson reads
and the findings quote measured numbers. Speed is never asserted."""

import math

import pytest

from orderbook_lab.experiments import EXPERIMENTS, run_experiment

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def reports():
    return {
        experiment_id: run_experiment(EXPERIMENTS[experiment_id], quick=True)
        for experiment_id in ("3.1", "3.2", "3.3", "3.4", "3.5")
    }


def _column(table, name):
    return [row[table.columns.index(name)] for row in table.rows]


def test_every_phase3_experiment_reports_numbers(reports):
    for report in reports.values():
        assert report.quick and report.tables and report.findings
        for table in report.tables:
            assert table.rows
            numbers = [v for row in table.rows for v in row if isinstance(v, (int, float))]
            assert numbers and all(math.isfinite(v) and v >= 0 for v in numbers)
        assert all(any(ch.isdigit() for ch in finding) for finding in report.findings)


def test_scaling_runs_sync_then_each_engine_at_each_count(reports):
    [table] = reports["3.1"].tables
    engines = _column(table, "engine")
    assert engines[0] == "sync"
    counts = _column(table, "workers")[1:]
    assert sorted(set(engines[1:])) == ["multiprocessing", "threads"]
    assert counts[: len(counts) // 2] == counts[len(counts) // 2 :] == [1, 2, 4]


def test_ipc_cost_covers_100_bytes_to_a_megabyte(reports):
    [table] = reports["3.2"].tables
    assert _column(table, "payload (B)") == [100, 1_000, 10_000, 100_000, 1_000_000]


def test_load_balance_crosses_routing_and_popularity(reports):
    [table] = reports["3.4"].tables
    pairs = list(zip(_column(table, "routing"), _column(table, "popularity"), strict=True))
    assert sorted(pairs) == sorted((r, p) for r in ("directory", "hash") for p in ("uniform", "zipf"))
    # The table keeps a market's tokens together: it never cuts a message.
    for (routing, _), split in zip(pairs, _column(table, "split msgs"), strict=True):
        if routing == "directory":
            assert split == 0


def test_query_latency_rows_go_from_light_load_to_flat_out(reports):
    [table] = reports["3.5"].tables
    assert _column(table, "offered (msg/s)")[-1] == "flat out"
    assert all(q > 0 for q in _column(table, "queries"))
