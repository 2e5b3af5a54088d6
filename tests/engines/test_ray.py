"""``--engine ray``: phase 5's actors as Ray actors on one local cluster
(the session's, ``conftest.ray_cluster``, on 127.0.0.1): the same books as
sync with either codec and either place of parsing, every update counted,
queries answered as actor calls, the cluster's figures reported, and
``compare --engine ray`` beside the phases. The cluster's processes are
checked gone at the end of the session (the fixture), and after a CLI run
and a Ctrl-C (``tests/cli/test_ray_signals.py``)."""

from __future__ import annotations

import pytest

from orderbook_lab.engines._ray.cluster import configure_environment

configure_environment()  # before Ray's first import: it reads these then
ray = pytest.importorskip("ray")

from typer.testing import CliRunner  # noqa: E402

from orderbook_lab.cli import app  # noqa: E402
from orderbook_lab.engines import RunConfig, run_engine  # noqa: E402
from orderbook_lab.engines.ray import RayEngine  # noqa: E402
from orderbook_lab.engines.sync import SyncEngine  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


@pytest.fixture
def run_ray(ray_cluster):
    """Run a ray engine on its own stream; stopped even if the test fails."""
    engines = []

    def run(**fields):
        fields = {"messages": 3000, "assets": 12, "seed": 5, "processes": 2, **fields}
        engine = RayEngine(RunConfig(engine="ray", **fields))
        engines.append(engine)
        return run_engine(engine, engine.config.synthetic_source()), engine.config

    try:
        yield run
    finally:
        for engine in engines:
            engine.stop()


def _sync_digest(config: RunConfig) -> str:
    sync = SyncEngine(RunConfig(messages=config.messages, assets=config.assets, seed=config.seed))
    return run_engine(sync, sync.config.synthetic_source()).digest


def test_msgspec_frames_parsed_in_the_actors_give_the_books_of_sync(run_ray):
    stats, config = run_ray(codec="msgspec", parse_in="worker", ipc_batch=50, ray_in_flight=2)
    assert stats.digest == _sync_digest(config)
    assert stats.conserved and stats.processed == 3000
    assert stats.actor is not None and stats.actor.conserved and stats.actor.updates_sent > 0
    figures = stats.ray
    assert figures is not None
    assert (figures.actors, figures.in_flight_cap, figures.batch) == (2, 2, 50)
    assert figures.address == "already connected"  # the session's cluster: joined, not started
    assert figures.frames_sent >= 3000 / 50
    assert figures.calls_timed == 300 and 0 < figures.call_round_trip_ms.p50 <= figures.call_round_trip_ms.p99
    assert len(figures.actor_rss_mib) == 2 and min(figures.actor_rss_mib) > 0
    # No more frames in flight to one actor than the cap: the pool's queue
    # high water is in messages, at most cap frames of a batch each.
    assert stats.queue_high_water <= 2 * 50
    result = stats.as_result(config)
    assert result["ray"]["in_flight_cap"] == 2 and result["config"]["ray_in_flight"] == 2


def test_pickled_messages_split_across_actors_and_queries_answered(run_ray):
    stats, config = run_ray(
        messages=1500, ipc_batch=25, placement="asset", query_rate=200, query_timeout_ms=5000
    )
    assert stats.digest == _sync_digest(config)
    assert stats.actor is not None and stats.actor.updates_via_coordinator > 0  # updates between actors
    assert stats.queries > 0 and stats.pool is not None
    assert stats.pool.query_outcomes.timed_out == 0


def test_compare_puts_ray_beside_the_phases(ray_cluster):
    result = CliRunner().invoke(
        app, ["compare", "--phases", "1", "--engine", "ray", "--messages", "1500", "--processes", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "ray" in result.output and "actor call p50 / p99 (ms)" in result.output
    same_books = next(line for line in result.output.splitlines() if "same books as sync" in line)
    assert "yes" in same_books and "NO" not in same_books
