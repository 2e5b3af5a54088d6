"""Lesson 2's experiments run in their quick form (what CI runs) and report
measured tables and findings. Their numbers are not asserted: they are
speeds on a shared machine. Their shape, and the accounting, are."""

from __future__ import annotations

import pytest

from orderbook_lab.experiments import EXPERIMENTS, run_experiment

PHASE_2 = ["2.1", "2.2", "2.3", "2.4", "2.5"]


def test_every_phase_2_experiment_is_registered():
    assert [e for e in EXPERIMENTS if e.startswith("2.")] == PHASE_2


@pytest.mark.parametrize("experiment_id", PHASE_2)
def test_quick_run_reports_tables_and_findings(experiment_id):
    report = run_experiment(EXPERIMENTS[experiment_id], quick=True)
    assert report.id == experiment_id and report.quick
    assert report.tables and all(table.rows for table in report.tables)
    for table in report.tables:
        assert all(len(row) == len(table.columns) for row in table.rows)
    assert report.findings and all(finding.strip() for finding in report.findings)


def test_queue_sweep_counts_drops_only_where_the_policy_drops():
    report = run_experiment(EXPERIMENTS["2.2"], quick=True)
    rows = {(row[0], row[1]): row for row in report.tables[0].rows}
    assert rows["block", 10][3] == 0, "block never drops"
    assert rows["drop-newest", 10][3] > 0, "bursts of 250 cannot fit 10 slots"
    assert rows["drop-newest", 10][2] < 100
