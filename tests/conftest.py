"""Shared fixtures: the hand-written recordings under tests/fixtures.

``valid.jsonl`` holds every valid shape of the market channel, one per
line; ``bad_lines.jsonl`` mixes good lines with every kind of bad one.
tests/core/test_parser.py says what each line is and what it must become.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The machine is shared and noisy: a slow example is not a failure.
settings.register_profile("lab", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lab")

_FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def _results_outside_the_user_data_dir(tmp_path_factory):
    """``experiment`` saves its result; in tests never in the real user data
    directory (subprocesses inherit the variable too)."""
    from orderbook_lab.experiments.results import RESULTS_ENV

    before = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(tmp_path_factory.mktemp("results"))
    yield
    if before is None:
        os.environ.pop(RESULTS_ENV, None)
    else:
        os.environ[RESULTS_ENV] = before


@pytest.fixture
def valid_file() -> Path:
    return _FIXTURES / "valid.jsonl"


@pytest.fixture
def bad_file() -> Path:
    return _FIXTURES / "bad_lines.jsonl"


@pytest.fixture
def valid_lines(valid_file: Path) -> list[str]:
    return valid_file.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def bad_lines(bad_file: Path) -> list[str]:
    return bad_file.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster on 127.0.0.1 for the whole session (the ray
    engine joins a cluster its process is already connected to). At the
    end it is shut down, and every process it started must be gone."""
    from orderbook_lab.engines._ray.cluster import RayCluster, configure_environment

    configure_environment()  # before Ray's first import: it reads these then
    pytest.importorskip("ray")
    from ray_processes import descendants, non_loopback_listeners, rays, still_running

    cluster = RayCluster(None)
    try:
        assert non_loopback_listeners(descendants(os.getpid())) == []
        yield cluster
    finally:
        cluster_processes = rays(descendants(os.getpid()))
        cluster.close()
        assert still_running(cluster_processes, 30.0) == []
