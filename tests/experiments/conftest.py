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


_QUICK_REPORTS_TIMEOUT_S = 900
"""Running every experiment quick once takes minutes (phase 7's alone run
about 70 s on a 2-core machine): the test that sets the fixture up gets
this long rather than the suite's default."""


def pytest_collection_modifyitems(items):
    for item in items:
        if "quick_reports" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(_QUICK_REPORTS_TIMEOUT_S))
