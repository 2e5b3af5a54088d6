"""Every experiment run once per session, quick, shared by the test modules
that check its report (each quick run spawns processes: running them once
keeps the suite fast)."""

import pytest

from orderbook_lab.experiments import EXPERIMENTS, Report, run_experiment


@pytest.fixture(scope="session")
def quick_reports() -> dict[str, Report]:
    messages: dict[str, list[str]] = {}
    results = {}
    for experiment_id, experiment in EXPERIMENTS.items():
        messages[experiment_id] = []
        results[experiment_id] = run_experiment(
            experiment, quick=True, progress=messages[experiment_id].append
        )
        assert messages[experiment_id], f"{experiment_id} reported no progress"
    return results
