"""Every registered experiment runs in quick mode and reports measured numbers.

Shape and sanity only (tables filled, numbers finite, findings present):
speed is never asserted, since the machine is shared and noisy.
"""

import math
import re

import pytest

from orderbook_lab.experiments import EXPERIMENTS, Experiment, Report, Table, run_experiment


def _numbers(report: Report) -> list[tuple[str, float]]:
    """(column, value) for every numeric cell of every table."""
    return [
        (column, value)
        for table in report.tables
        for row in table.rows
        for column, value in zip(table.columns, row, strict=True)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    """Each experiment run once, quick, for all the checks below."""
    messages: dict[str, list[str]] = {}
    results = {}
    for experiment_id, experiment in EXPERIMENTS.items():
        messages[experiment_id] = []
        results[experiment_id] = run_experiment(
            experiment, quick=True, progress=messages[experiment_id].append
        )
        assert messages[experiment_id], f"{experiment_id} reported no progress"
    return results


def test_the_registry_is_keyed_by_id():
    assert EXPERIMENTS, "no experiments registered"
    for experiment_id, experiment in EXPERIMENTS.items():
        assert isinstance(experiment, Experiment)
        assert experiment.id == experiment_id
        assert re.fullmatch(r"\d+\.\d+", experiment_id)
        assert experiment.title and experiment.question.endswith("?")
    assert {"1.1", "1.2", "1.3", "1.4"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment_id", sorted(EXPERIMENTS))
def test_quick_run_has_filled_tables_and_findings(reports, experiment_id):
    report = reports[experiment_id]
    assert report.id == experiment_id
    assert report.quick is True
    assert report.tables
    for table in report.tables:
        assert table.title and table.columns
        assert table.rows, f"{experiment_id}: empty table {table.title!r}"
        assert all(len(row) == len(table.columns) for row in table.rows)
    assert report.findings
    assert all(isinstance(f, str) and len(f) > 20 for f in report.findings)
    # Findings quote measured figures: each carries at least one number.
    assert all(re.search(r"\d", f) for f in report.findings)
    numbers = _numbers(report)
    assert numbers
    assert all(math.isfinite(x) for _, x in numbers)
    # Overhead is measured time minus calibrated work: noise on a shared
    # machine can push it below zero. Everything else is a count, a rate or
    # a latency.
    assert all(x >= 0 for column, x in numbers if "overhead" not in column), numbers
    assert report.as_dict()["id"] == experiment_id


def test_rate_sweep_shape(reports):
    [table] = reports["1.1"].tables
    assert len(table.columns) == 6
    offered = [row[0] for row in table.rows]
    assert offered == sorted(offered) and len(offered) >= 3
    assert all(row[1] > 0 for row in table.rows)  # achieved msg/s
    assert all(row[2] <= row[3] <= row[4] for row in table.rows)  # p50 <= p99 <= max


def test_work_sweep_shape(reports):
    [table] = reports["1.2"].tables
    assert len(table.columns) == 5
    for work_ms, ideal, measured, efficiency, _overhead in table.rows:
        assert work_ms > 0
        assert ideal == pytest.approx(1000 / work_ms, rel=0.01)
        assert measured > 0
        assert efficiency == pytest.approx(100 * measured / ideal, abs=0.2)


def test_queries_shape(reports):
    [table] = reports["1.3"].tables
    assert len(table.columns) == 6
    for _work, msgs_per_s, queries, p50, p99, q_max in table.rows:
        assert msgs_per_s > 0 and queries > 0
        assert p50 <= p99 <= q_max


def test_asset_sweep_shape(reports):
    [table] = reports["1.4"].tables
    assert len(table.columns) == 5
    assets = [row[0] for row in table.rows]
    assert assets == sorted(assets) and len(assets) >= 2
    for count, snapshots, msgs_per_s, p50, p99 in table.rows:
        assert snapshots >= count  # every book starts with a snapshot
        assert msgs_per_s > 0 and 0 < p50 <= p99


def test_table_refuses_a_row_of_the_wrong_width():
    table = Table("t", ["a", "b"])
    table.add(1, 2)
    with pytest.raises(ValueError, match="2 columns"):
        table.add(1, 2, 3)
