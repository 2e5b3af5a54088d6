"""The threads engine: the phase 3 pool on threads. Same routing, same
books and counts as sync; a worker thread that fails ends the run with an
error; stopping leaves no thread behind. (No speed is asserted: that the
GIL gives no speed-up is experiment 3.1's to show, not a test's.)"""

import threading
from dataclasses import replace

import pytest

from orderbook_lab.engines import RunConfig, create_engine, run_engine
from orderbook_lab.engines._pool import WorkerCrashed
from orderbook_lab.engines._worker import WorkerCore
from orderbook_lab.engines.sync import SyncEngine
from orderbook_lab.engines.threads import ThreadsEngine

pytestmark = pytest.mark.timeout(60)


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("orderbook-lab-worker")]


@pytest.fixture
def make_engine():
    engines = []

    def make(config: RunConfig, **kwargs) -> ThreadsEngine:
        engine = ThreadsEngine(replace(config, engine="threads"), **kwargs)
        engines.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in engines:
            engine.stop()
        assert _workers() == []


@pytest.mark.parametrize("routing", ["directory", "hash"])
def test_same_books_and_counts_as_sync(make_engine, routing):
    config = RunConfig(messages=3000, assets=15, seed=3, processes=3, routing=routing, popularity="zipf")
    stats = run_engine(make_engine(config), config.synthetic_source())
    reference = run_engine(SyncEngine(config), config.synthetic_source())
    assert stats.digest == reference.digest
    assert stats.router == reference.router
    assert (stats.generated, stats.processed) == (reference.generated, reference.processed)
    assert stats.conserved
    assert stats.pool.ipc.bytes_sent == 0  # objects, not bytes: nothing is serialized
    if routing == "hash":
        assert stats.pool.ipc.split_messages > 0


def test_queries_are_answered_by_the_owning_thread(make_engine):
    config = RunConfig(messages=500, assets=8, processes=2)
    engine = make_engine(config)
    engine.start()
    engine.run(config.synthetic_source())
    sync = SyncEngine(config)
    run_engine(sync, config.synthetic_source())
    for asset in sync._pipeline.router.assets():
        assert engine.query(asset, depth=2, timeout_s=30) == sync._pipeline.router.query(asset, 2)


def test_a_failing_worker_thread_ends_the_run_with_an_error(make_engine, monkeypatch):
    def broken(self, frame, received_ns):
        raise ValueError("boom")

    monkeypatch.setattr(WorkerCore, "handle", broken)
    config = RunConfig(messages=5000, assets=4, processes=2)
    engine = make_engine(config)
    engine.start()
    with pytest.raises(WorkerCrashed, match=r"worker thread \d failed: ValueError"):
        engine.run(config.synthetic_source())


def test_the_registry_builds_it():
    engine = create_engine(RunConfig(engine="threads", processes=2))
    assert isinstance(engine, ThreadsEngine) and engine.workers == 2
    engine.stop()
