"""Lesson 4's experiments run quick, report what they measured, and leave
nothing in /dev/shm."""

from __future__ import annotations

from typer.testing import CliRunner

from orderbook_lab.cli import app
from orderbook_lab.experiments import EXPERIMENTS, run_experiment


def _column(table, name: str) -> list:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


def test_phase4_experiments_are_registered_without_placeholders():
    assert {"4.2", "4.5"} <= set(EXPERIMENTS)
    assert not {"4.1", "4.3", "4.4"} & set(EXPERIMENTS)  # they arrive with the engine


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
