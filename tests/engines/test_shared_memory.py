"""Phase 4, the shared-memory engine: the same books as sync, queries that
read shared memory and equal the workers' own books, staleness on every
answer, ``--sync-ms`` rounds, and nothing left in /dev/shm after a normal
run or a worker killed mid-run.

Every engine comes from ``make_engine``, which stops it even when the test
fails, then checks that no child process and no segment of its run is left
(and removes any it finds, so one failure does not leak into the next test).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace

import pytest

from orderbook_lab.core.clock import ManualClock
from orderbook_lab.core.messages import BookMessage, PriceChange, PriceChangeMessage, PriceLevel
from orderbook_lab.engines import ENGINES, PHASES, RunConfig, run_engine
from orderbook_lab.engines._pool import WorkerCrashed
from orderbook_lab.engines._shm import BookReader, cleanup, list_segments, new_prefix
from orderbook_lab.engines._worker import Drain
from orderbook_lab.engines.shared_memory import SharedMemoryEngine, ShmWorkerCore
from orderbook_lab.engines.sync import SyncEngine

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def make_engine():
    engines: list[SharedMemoryEngine] = []

    def make(config: RunConfig | None = None, **kwargs) -> SharedMemoryEngine:
        config = replace(config or _config(), engine="shared-memory")
        if config.processes is None:
            config = replace(config, processes=2)
        engine = SharedMemoryEngine(config, **kwargs)
        engines.append(engine)
        return engine

    try:
        yield make
    finally:
        leftovers = []
        for engine in engines:
            engine.stop()
            leftovers += cleanup(engine.prefix)  # after stop: must find nothing
        assert multiprocessing.active_children() == []
        assert leftovers == [], f"segments left in /dev/shm: {leftovers}"


def _config(**fields) -> RunConfig:
    fields.setdefault("messages", 3000)
    fields.setdefault("assets", 16)
    fields.setdefault("seed", 5)
    return RunConfig(engine="shared-memory", **fields)


def _sync(config: RunConfig):
    engine = SyncEngine(replace(config, engine="sync"))
    return run_engine(engine, config.synthetic_source()), engine.books()


def test_phase_4_is_the_shared_memory_engine():
    assert PHASES[4] == {"engine": "shared-memory"}
    assert ENGINES["shared-memory"] is SharedMemoryEngine


@pytest.mark.parametrize("queries_from", ["thread", "loop"])
def test_same_books_and_counts_as_sync(make_engine, queries_from):
    config = _config(query_rate=2000)
    engine = make_engine(config, queries_from=queries_from)
    stats = run_engine(engine, config.synthetic_source())
    reference, books = _sync(config)
    assert stats.digest == reference.digest
    assert engine.books() == books
    assert stats.router == reference.router
    assert (stats.generated, stats.processed, stats.invalid) == (reference.generated, reference.processed, 0)
    assert stats.conserved
    shm = stats.shm
    assert shm.books_match is True  # read back from shared memory at the end of the run
    assert shm.segments_left_at_stop == 0  # the workers unlinked their own
    assert sum(w.books for w in shm.workers) == stats.books
    assert shm.publishes >= stats.books and shm.used_bytes > 0
    assert shm.mapped_bytes >= shm.used_bytes


def test_reads_from_shared_memory_equal_the_workers_books(make_engine):
    config = _config(popularity="zipf")
    engine = make_engine(replace(config, routing="hash"))
    engine.start()
    engine.run(config.synthetic_source())
    from_shm = engine.shm_books()
    for asset_id in list(from_shm)[:6]:
        # The worker's own book, asked over IPC, against the shared copy.
        snapshot = engine.read(asset_id, depth=10)
        assert snapshot is not None and snapshot.age_ns >= 0
        assert snapshot.view() == engine.query(asset_id, depth=10)
    assert engine.read("no-such-asset") is None
    engine.stop()
    assert from_shm == engine.books()


def test_every_scheduled_query_reads_shared_memory_and_reports_its_age(make_engine):
    config = _config(query_rate=5000, messages=4000)
    engine = make_engine(config)
    stats = run_engine(engine, config.synthetic_source())
    outcomes = stats.pool.query_outcomes
    assert stats.queries > 0
    assert outcomes.timed_out == outcomes.shed == 0
    # No query went to a worker: every answer came from a shared-memory read.
    reads = stats.shm.reader.reads
    assert reads >= stats.queries - outcomes.unpublished
    assert stats.pool.ipc.frames_sent == sum(w.frames for w in stats.pool.workers)
    staleness = stats.shm.staleness_ms
    assert 0 <= staleness.p50 <= staleness.p99 <= staleness.max
    breakdown = stats.pool.query_breakdown_us
    assert set(breakdown) == {"wait", "read", "from_due"}
    assert breakdown["read"].mean <= breakdown["from_due"].mean
    result = stats.as_result(config)
    assert result["queries"]["count"] == stats.queries
    assert result["staleness_ms"] == staleness.as_dict()


def test_sync_ms_publishes_less_and_still_ends_exact(make_engine):
    config = _config(messages=4000)
    every_frame = run_engine(make_engine(config), config.synthetic_source())
    spaced = run_engine(make_engine(replace(config, sync_ms=50.0)), config.synthetic_source())
    assert spaced.digest == every_frame.digest
    assert spaced.shm.books_match is True  # the drain flushed what was pending
    assert spaced.shm.rounds < every_frame.shm.rounds
    assert spaced.shm.publishes < every_frame.shm.publishes


# ---------------------------------------------------------------- the worker's rounds


def _book(asset: str, bid: int) -> BookMessage:
    return BookMessage(asset_id=asset, market="m", timestamp_ms=0, bids=(PriceLevel(bid, 1.0),), asks=())


def _change(asset: str, bid: int) -> PriceChangeMessage:
    return PriceChangeMessage(market="m", timestamp_ms=0, changes=(PriceChange(asset, "BUY", bid, 2.0),))


def test_a_worker_publishes_at_most_every_sync_ms_and_flushes_when_idle():
    clock = ManualClock(1_000_000)
    prefix = new_prefix()
    core = ShmWorkerCore(0, RunConfig(sync_ms=10.0), clock=clock, prefix=prefix)
    try:
        reader = BookReader(prefix, 1, clock=clock)
        core.handle(([(0, True, _book("a", 400))], []), clock.now_ns())
        assert reader.read("a").bids == [(400, 1.0)]  # the first round is at once
        assert core.idle_timeout_s() is None  # nothing pending: wait for frames as long as it takes

        clock.advance_ns(1_000_000)
        core.handle(([(0, True, _change("a", 410))], []), clock.now_ns())
        assert reader.read("a").bids == [(400, 1.0)]  # 1 ms after the last round: held back
        assert core.idle_timeout_s() == pytest.approx(0.009)
        assert reader.read("a").age_ns == 1_000_000

        clock.advance_ns(9_000_000)
        core.on_idle()  # no frame came within the interval: publish what is pending
        assert reader.read("a").bids == [(410, 2.0), (400, 1.0)]
        assert reader.read("a").age_ns == 0
        assert core.rounds == 2

        clock.advance_ns(1_000_000)
        core.handle(([(0, True, _change("a", 420))], [Drain(1)]), clock.now_ns())
        assert len(reader.read("a").bids) == 3  # a drain publishes whatever --sync-ms says
        assert core.report().store.publishes == 3
        reader.close()
    finally:
        core.close()
    assert list_segments(prefix) == []  # close unlinked the worker's segments


# ---------------------------------------------------------------- hygiene


def test_segments_exist_during_the_run_and_are_gone_after_it(make_engine):
    engine = make_engine(_config(messages=500))
    engine.start()
    assert list_segments(engine.prefix)  # one directory per worker at least
    engine.run(engine.config.synthetic_source())
    assert len(list_segments(engine.prefix)) >= 2
    engine.stop()
    assert list_segments(engine.prefix) == []


def test_two_engines_never_share_a_prefix(make_engine):
    first, second = make_engine(), make_engine()
    assert first.prefix != second.prefix


def test_a_worker_killed_mid_run_leaves_nothing_in_dev_shm(make_engine):
    killed: list[int] = []
    seen_after_death: list[str] = []

    def kill_once(_done: int) -> None:
        if not killed:
            killed.append(engine.worker_pids[0])
            os.kill(killed[0], signal.SIGKILL)

    engine = make_engine(_config(messages=200_000))
    engine.on_progress = kill_once
    engine.start()
    with pytest.raises(WorkerCrashed, match="SIGKILL"):
        engine.run(engine.config.synthetic_source())
    # The dead worker could not unlink its segments; they are still there...
    seen_after_death = [name for name in list_segments(engine.prefix) if "-w0-" in name]
    assert killed and seen_after_death
    engine.stop()
    # ...until the parent, having joined every worker, removed them.
    assert list_segments(engine.prefix) == []
