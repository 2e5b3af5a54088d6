"""Phase 7 in worker processes: adaptive queues shed a paced overload and
count every loss; an unpaced stream waits instead and reaches sync's books;
faults open a worker's breaker, which probes and closes; a slow worker is a
failing one; health reports arrive and nothing crosses a pipe as pickle.

The overloads are wide on purpose (a rate several times what the workers
can do), so the outcome does not hang on the speed of a shared machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orderbook_lab.engines import EngineError, RunConfig, create_engine, phase_config, run_engine
from orderbook_lab.engines.sync import SyncEngine

pytestmark = pytest.mark.timeout(120)


def _phase7(**fields) -> RunConfig:
    return phase_config(7, RunConfig(**{"assets": 8, "seed": 5, "processes": 2, **fields}))


def _run(config: RunConfig, stopped_at_end):
    engine = stopped_at_end(create_engine(config))
    stats = run_engine(engine, config.synthetic_source())
    return stats


def test_a_paced_overload_is_shed_by_priority_and_every_message_is_counted(stopped_at_end):
    config = _phase7(messages=3000, rate=6000, work_ms=2)  # about 1,000 msg/s of capacity
    stats = _run(config, stopped_at_end)
    flow = stats.flow
    assert stats.conserved
    assert stats.dropped_total > 0 and stats.processed > 0
    assert sum(flow.dropped_by_priority.values()) == stats.dropped_total
    assert set(stats.dropped) <= {"shed:snapshot", "shed:change", "shed:trade"}
    # snapshots rank first: they are the last thing shed
    assert flow.dropped_by_priority.get("snapshot", 0) <= flow.dropped_by_priority["change"]
    assert all(worker.decisions for worker in flow.workers)  # every decision kept, with its inputs
    first = flow.workers[0].decisions[0]
    assert {"t_s", "wait_ewma_ms", "capacity", "previous", "pressed", "action"} <= set(first)


def test_unpaced_the_adaptive_queues_wait_instead_of_shedding_and_reach_syncs_books(stopped_at_end):
    config = _phase7(messages=4000)
    stats = _run(config, stopped_at_end)
    sync = run_engine(SyncEngine(replace(config, engine="sync")), config.synthetic_source())
    assert stats.dropped_total == 0 and not stats.flow.paced
    assert stats.digest == sync.digest


def test_a_failing_worker_opens_its_breaker_and_its_messages_are_counted(stopped_at_end):
    config = _phase7(messages=1500, rate=1500, fault_rate=1.0, fault_worker=0)
    stats = _run(config, stopped_at_end)
    flow = stats.flow
    zero, one = flow.workers
    assert stats.conserved
    assert zero.breaker_opened >= 1 and one.breaker_opened == 0
    assert zero.transitions[0]["state"] == "open" and "failed" in zero.transitions[0]["reason"]
    assert stats.dropped["worker_fault"] == flow.worker_faults > 0
    assert stats.dropped.get("breaker_open", 0) > 0
    assert stats.pool.workers[0].processed == 0  # it applied nothing: every message failed or was shed


def test_faults_in_a_window_open_the_breaker_and_it_closes_after(stopped_at_end):
    config = _phase7(
        duration_s=2.5, messages=None, rate=400, fault_rate=0.5, fault_worker=1, fault_window=(0.3, 1.0)
    )
    stats = _run(config, stopped_at_end)
    states = [t["state"] for t in stats.flow.workers[1].transitions]
    assert states[0] == "open" and states[-1] == "closed" and "half-open" in states
    opened = stats.flow.workers[1].transitions[0]["t_s"]
    assert opened >= 0.3


def test_faults_with_fixed_queues_are_counted_too(stopped_at_end):
    config = replace(_phase7(messages=1000, fault_rate=0.5, fault_worker=0), flow="fixed")
    stats = _run(config, stopped_at_end)
    assert stats.flow is None and stats.conserved
    assert stats.dropped["worker_fault"] > 0


def test_a_worker_slower_than_the_breakers_bound_is_treated_as_failing(stopped_at_end):
    config = _phase7(messages=400, rate=300, slow_worker=0, slow_ms=4, breaker_latency_ms=2)
    stats = _run(config, stopped_at_end)
    assert stats.conserved
    assert stats.flow.slow_messages > 0
    assert stats.flow.workers[0].breaker_opened >= 1 and stats.flow.workers[1].breaker_opened == 0


def test_workers_report_health_every_second_without_pickle(run_refusing_pickle):
    """Health reports, fault plans and replies all cross as msgspec."""
    config = _phase7(duration_s=2.2, messages=None, rate=300, fault_rate=0.1, fault_worker=0)
    engine = create_engine(config)
    run_refusing_pickle(engine, config.synthetic_source())
    stats = engine.stats()
    by_worker = {sample["worker"] for sample in stats.flow.health}
    assert by_worker == {0, 1}
    sample = stats.flow.health[0]
    assert (
        sample["rss_mb"] > 1
        and 0 <= sample["busy"] <= 1.5
        and sample["breaker"] in {"closed", "open", "half-open"}
    )
    assert stats.conserved


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fault_rate": 0.5, "fault_worker": 2}, "--fault-worker 2: this run has workers 0 to 1"),
        ({"slow_worker": 7}, "--slow-worker 7"),
        ({"placement": "asset"}, "--flow adaptive sheds whole messages"),
    ],
)
def test_options_the_run_cannot_honour_are_refused_before_it_starts(fields, message, stopped_at_end):
    config = replace(_phase7(messages=10), parse_in="dispatcher", **fields)
    engine = stopped_at_end(create_engine(config))
    with pytest.raises(EngineError, match=message):
        engine.start()


def test_another_thread_reads_live_status_and_asks_for_books_during_the_run(stopped_at_end):
    """What ``serve`` does: a second thread reads the run's numbers and asks
    for a book while the main thread runs the stream."""
    import threading

    config = _phase7(duration_s=2.0, messages=None, rate=600)
    engine = stopped_at_end(create_engine(config))
    reported = threading.Event()
    seen: dict = {}
    engine.on_progress = lambda _done: reported.set()

    def watch():
        reported.wait(30)
        asset = engine._routes.book_assets[0]
        seen["view"] = engine.ask(asset, 3, timeout_s=10)
        seen["missing"] = engine.ask("no such asset", timeout_s=10)
        seen["status"] = engine.live_status()

    watcher = threading.Thread(target=watch)
    engine.start()
    watcher.start()
    engine.run(config.synthetic_source())
    watcher.join(30)
    status = seen["status"]
    assert status.running and status.generated > 0 and len(status.workers) == 2
    assert all(w.alive and w.breaker == "closed" for w in status.workers)
    assert seen["view"] is not None and len(seen["view"].book.bids) <= 3
    assert seen["missing"] is None
