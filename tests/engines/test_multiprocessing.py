"""Phase 3, the multiprocessing engine: the same books as sync, routing that
never moves an asset, batches, queries with correlation ids and timeouts,
shutdown, and a worker killed mid-run seen as a clear error, not a hang.

Every test gets its engines from ``make_engine``, which stops them even
when the test fails and then checks that no child process is left.
"""

import multiprocessing
import os
import signal
from dataclasses import replace

import pytest

from orderbook_lab.core.source import MessageSource
from orderbook_lab.engines import EngineError, RunConfig, run_engine
from orderbook_lab.engines._pool import QueryTimeout, WorkerCrashed
from orderbook_lab.engines.multiprocessing import MultiprocessingEngine
from orderbook_lab.engines.sync import SyncEngine

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def make_engine(stopped_at_end):
    def make(config: RunConfig | None = None, **fields) -> MultiprocessingEngine:
        config = replace(config or RunConfig(), engine="multiprocessing", **fields)
        if config.processes is None:
            config = replace(config, processes=2)
        return stopped_at_end(MultiprocessingEngine(config))

    return make


def _sync(config: RunConfig):
    return run_engine(SyncEngine(config), config.synthetic_source())


def _config(**fields) -> RunConfig:
    fields.setdefault("messages", 3000)
    fields.setdefault("assets", 16)
    fields.setdefault("seed", 5)
    return RunConfig(**fields)


def test_same_books_and_counts_as_sync(make_engine):
    config = _config()
    engine = make_engine(config)
    stats = run_engine(engine, config.synthetic_source())
    sync = SyncEngine(config)
    reference = run_engine(sync, config.synthetic_source())
    assert stats.digest == reference.digest
    assert engine.books() == sync.books()
    assert (stats.generated, stats.processed, stats.invalid) == (reference.generated, reference.processed, 0)
    assert stats.conserved
    assert stats.router == reference.router  # same snapshots, changes, best checks, orphans, trades
    assert sum(w.processed for w in stats.pool.workers) == stats.processed


def test_hash_routing_splits_messages_and_still_reaches_the_same_books(make_engine):
    # Three workers and hashed placement put many YES/NO pairs on different
    # workers, so price_change messages are cut in parts.
    config = _config(popularity="zipf", assets=15)
    engine = make_engine(config, processes=3, routing="hash")
    stats = run_engine(engine, config.synthetic_source())
    reference = _sync(config)
    assert stats.pool.ipc.split_messages > 0
    assert stats.digest == reference.digest
    assert stats.router == reference.router
    assert stats.processed == reference.processed  # a split message still counts once
    assert stats.conserved


def test_each_asset_lives_in_exactly_one_worker_and_stays_there_across_runs(make_engine):
    config = _config(assets=12, routing="hash")
    placements = []
    for _ in range(2):
        engine = make_engine(config, processes=3)
        run_engine(engine, config.synthetic_source())
        by_worker = engine.worker_assets()
        every = [asset for assets in by_worker.values() for asset in assets]
        assert len(every) == len(set(every)) == 12  # no book in two places
        placements.append(by_worker)
    assert placements[0] == placements[1]


def test_invalid_lines_are_counted_in_the_parent(make_engine):
    good = list(_config(messages=200).synthetic_source().wire_lines())
    lines = [*good[:5], "{broken", '{"event_type": "book"}', *good[5:]]
    engine = make_engine(messages=None)
    stats = run_engine(engine, MessageSource(lines))
    sync = SyncEngine(RunConfig(messages=None))
    reference = run_engine(sync, MessageSource(lines))
    assert (stats.invalid, stats.processed) == (reference.invalid, reference.processed) == (2, 200)
    assert [r.line for r in stats.rejections] == [6, 7]
    assert stats.digest == reference.digest
    assert stats.conserved


@pytest.mark.parametrize("batch", [1, 7])
def test_frames_carry_at_most_a_batch(make_engine, batch):
    config = _config(messages=400)
    engine = make_engine(config, ipc_batch=batch)
    stats = run_engine(engine, config.synthetic_source())
    workers = stats.pool.workers
    assert all(w.frames > 0 for w in workers)
    assert max(report.largest_frame for report in engine._reports.values()) <= batch
    if batch == 1:
        assert sum(w.frames for w in workers) >= stats.processed
    assert stats.digest == _sync(config).digest


def test_queries_are_matched_by_correlation_id(make_engine):
    config = _config(messages=1000)
    engine = make_engine(config)
    engine.start()
    engine.run(config.synthetic_source())
    reference = SyncEngine(config)
    run_engine(reference, config.synthetic_source())
    assets = reference._pipeline.router.assets()
    # Every query in flight at once, spread over both workers: the answers
    # come back interleaved and each must find its own asker.
    ids = {engine.submit_query(asset, depth=3): asset for asset in assets}
    assert len(ids) == len(assets)
    for corr_id, asset in reversed(list(ids.items())):
        view = engine.wait_answer(corr_id, timeout_s=30)
        assert view is not None and view.asset_id == asset
        assert view == reference._pipeline.router.query(asset, 3)
    assert engine.query("no-such-asset", timeout_s=30) is None


def test_a_query_that_takes_too_long_times_out(make_engine):
    engine = make_engine()
    engine.start()
    with pytest.raises(QueryTimeout, match="gave up waiting"):
        engine.query("any", timeout_s=1e-9)


def test_scheduled_queries_past_their_timeout_do_not_block_the_run(make_engine):
    config = _config(messages=2000, query_rate=2000.0, query_timeout_ms=0.000001)
    engine = make_engine(config)
    stats = run_engine(engine, config.synthetic_source())
    outcomes = stats.pool.query_outcomes
    assert outcomes.timed_out > 0
    assert outcomes.answered == stats.queries == 0  # nothing answers within 1 ns
    assert stats.digest == _sync(config).digest


def test_scheduled_queries_are_answered_and_timed_in_segments(make_engine):
    config = _config(messages=2000, query_rate=500.0, rate=4000.0)
    engine = make_engine(config)
    stats = run_engine(engine, config.synthetic_source())
    assert stats.queries > 0
    assert stats.pool.query_outcomes.timed_out == 0
    breakdown = stats.pool.query_breakdown_us
    segments = ("send", "queue", "worker", "reply")
    assert set(breakdown) == {*segments, "total"}
    assert all(breakdown[name].max > 0 for name in segments)
    # Each query's four segments add up to its latency, so the means do too
    # (each within the histogram's 1/128, so their sum is as well).
    assert sum(breakdown[name].mean for name in segments) == pytest.approx(
        breakdown["total"].mean, rel=1 / 128
    )


def test_stop_is_idempotent_and_leaves_no_process(make_engine):
    engine = make_engine()
    engine.stop()  # never started: nothing to do
    engine = make_engine()
    engine.start()
    pids = engine.worker_pids
    assert len(pids) == 2 and os.getpid() not in pids
    engine.stop()  # started, never ran: the abort path
    engine.stop()
    assert multiprocessing.active_children() == []
    with pytest.raises(EngineError, match="did not complete"):
        engine.stats()


def test_a_normal_stop_joins_every_worker_with_exit_code_zero(make_engine):
    config = _config(messages=300)
    engine = make_engine(config)
    stats = run_engine(engine, config.synthetic_source())
    assert engine._exit_codes == {0: 0, 1: 0}
    assert stats.pool.stragglers_terminated == 0
    assert stats.shutdown_s > 0


def test_a_worker_killed_before_the_run_is_reported_not_waited_for(make_engine):
    engine = make_engine()
    engine.start()
    victim = engine.worker_pids[1]
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match=rf"worker 1 \(pid {victim}\) was killed by SIGKILL"):
        engine.run(_config(messages=100_000).synthetic_source())


def test_a_worker_killed_mid_run_ends_the_run_with_an_error(make_engine):
    killed = []

    def kill_once(done: int) -> None:
        if not killed:
            killed.append(engine.worker_pids[0])
            os.kill(killed[0], signal.SIGKILL)

    engine = MultiprocessingEngine(
        RunConfig(engine="multiprocessing", processes=2, messages=200_000, assets=16), on_progress=kill_once
    )
    try:
        engine.start()
        with pytest.raises(WorkerCrashed, match="SIGKILL") as caught:
            engine.run(engine.config.synthetic_source())
        assert "phase 8" in str(caught.value)  # says what would fix it
        assert killed
    finally:
        engine.stop()
    assert multiprocessing.active_children() == []


def test_an_unknown_codec_is_refused_before_any_process_starts():
    with pytest.raises(EngineError, match="no codec 'yaml'"):
        MultiprocessingEngine(RunConfig(engine="multiprocessing", codec="yaml"))
    assert multiprocessing.active_children() == []


def test_a_dispatcher_behind_its_pace_still_batches(make_engine):
    """Messages that reach the dispatcher late are already older than the
    batch age limit; a batch must still be aged from when it was opened, or
    every message would leave in a frame of its own."""
    config = RunConfig(engine="multiprocessing", messages=2000, assets=8, seed=6, processes=2, rate=1e9)
    engine = make_engine(config)
    source = config.synthetic_source()
    stats = run_engine(engine, source)
    # rate=1e9 schedules every message at once: each arrives "late"
    assert stats.pool.ipc.frames_sent < stats.generated / 4
