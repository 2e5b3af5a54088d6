"""Lesson 4's experiments run quick, report what they measured, and leave
nothing in /dev/shm."""

from __future__ import annotations

from typer.testing import CliRunner

from orderbook_lab.cli import app
from orderbook_lab.experiments import EXPERIMENTS, run_experiment


def _column(table, name: str) -> list:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


def test_phase4_experiments_are_all_registered():
    assert [e for e in EXPERIMENTS if e.startswith("4.")] == ["4.1", "4.2", "4.3", "4.4", "4.5"]


def test_query_latency_quick_compares_phase_3_with_three_askers_in_phase_4(quick_reports):
    report = quick_reports["4.1"]
    runs, parts, costs = report.tables
    assert [(phase, asked) for phase, asked in zip(_column(runs, "phase"), _column(runs, "asked from"), strict=True)] == [
        ("3 multiprocessing", "dispatch loop"), ("4 shared-memory", "dispatch loop"),
        ("4 shared-memory", "query thread"), ("4 shared-memory", "another process"),
    ]  # fmt: skip
    assert all(q > 0 for q in _column(runs, "queries"))
    for row in runs.rows:  # a query's path is part of its time from due
        assert 0 < row[runs.columns.index("path p50 (µs)")] <= row[runs.columns.index("path p99 (µs)")]
    assert "queue" in parts.rows[0][-1] and "read" in parts.rows[1][-1]
    steps = dict(costs.rows)
    assert steps["phase 4: read depth 0 (find, copy, check seq + crc32, header)"] > 0
    assert len(report.findings) == 5


def test_sync_interval_quick_publishes_less_as_the_interval_grows(quick_reports):
    report = quick_reports["4.3"]
    (table,) = report.tables
    assert _column(table, "--sync-ms") == ["0 (every frame)", "1", "10", "100", "1000"]
    publishes = _column(table, "publishes")
    assert publishes[-1] < publishes[0]  # fewer rounds can only mean fewer (or as many) publishes
    assert _column(table, "same books") == ["yes"] * 5  # a drain publishes whatever is pending
    assert all(q > 0 for q in _column(table, "queries"))


def test_memory_quick_counts_shared_pages_only_in_phase_4(quick_reports):
    report = quick_reports["4.4"]
    per_worker, per_book = report.tables
    engines = _column(per_worker, "engine")
    assert engines[:2] == ["phase 3 multiprocessing"] * 2 and engines[2:] == ["phase 4 shared-memory"] * 2
    assert _column(per_worker, "shm used (KB)")[:2] == ["-", "-"]
    used = _column(per_worker, "shm used (KB)")[2:]
    assert 0 < used[0] < used[1]  # more books, more slots in use
    assert _column(per_book, "shm used per book (B)")[1] > 0


def test_interference_quick_accepts_no_torn_read_behind_a_seqlock():
    report = run_experiment(EXPERIMENTS["4.2"], quick=True)
    writer, protocols, costs = report.tables
    assert _column(writer, "readers") == [0, 1]
    assert _column(writer, "torn accepted") == [0, 0]
    readers = _column(protocols, "reader")
    torn = dict(zip(readers, _column(protocols, "torn accepted"), strict=True))
    assert [torn[name] for name in readers if "naive" not in name] == [0, 0, 0]
    assert all(reads > 0 for reads in _column(protocols, "reads"))
    assert _column(costs, "levels a side") == [10, 40, 300]
    assert len(report.findings) == 4 and report.quick


def test_encodings_quick_prints_a_table_and_findings():
    result = CliRunner().invoke(app, ["experiment", "4.5", "--quick"])
    assert result.exit_code == 0, result.output
    assert "packed binary (this store)" in result.output
    assert "msgspec msgpack" in result.output and "pickle" in result.output
