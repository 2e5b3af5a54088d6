"""Phase 8's recovery: a worker killed mid-run is restarted from its last
checkpoint plus the entries sent to it since, and the run ends with the
books a clean phase 1 run reaches, every message counted once; without
--recovery the same death ends the run. The checkpoint itself round-trips
a worker's state through the wire codec."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orderbook_lab.engines import RunConfig, create_engine, phase_config, run_engine
from orderbook_lab.engines._actor.host import ActorHost
from orderbook_lab.engines._codec import get_codec
from orderbook_lab.engines._pool import WorkerCrashed
from orderbook_lab.engines._worker import Checkpoint, Line, Restore, WorkerCheckpoint, WorkerCore
from orderbook_lab.engines.sync import SyncEngine

pytestmark = pytest.mark.timeout(120)


def _phase8(**fields) -> RunConfig:
    return phase_config(8, RunConfig(**{"messages": 6000, "assets": 8, "seed": 9, "processes": 2, **fields}))


def _sync_digest(config: RunConfig) -> str:
    return run_engine(SyncEngine(replace(config, engine="sync")), config.synthetic_source()).digest


@pytest.mark.parametrize(
    ("checkpoint_s", "worker"), [(0.02, 0), (60.0, 1)], ids=["after checkpoints", "before any checkpoint"]
)
def test_a_killed_worker_is_restarted_and_the_run_reaches_syncs_books(checkpoint_s, worker, stopped_at_end):
    config = _phase8(kill_worker_at=3000, kill_worker=worker, checkpoint_s=checkpoint_s)
    engine = stopped_at_end(create_engine(config))
    stats = run_engine(engine, config.synthetic_source())
    assert stats.recovery.restarts == 1
    [event] = stats.recovery.events
    assert event["worker"] == worker and event["replayed"] > 0
    if checkpoint_s > 1:
        assert event["checkpoint_age_ms"] is None  # rebuilt from the whole tail
    assert stats.conserved and stats.processed == stats.generated == 6000
    assert stats.digest == _sync_digest(config)


def test_without_recovery_the_same_death_ends_the_run_and_says_how_to_survive_it(stopped_at_end):
    config = replace(_phase8(kill_worker_at=2000), recovery=False)
    engine = stopped_at_end(create_engine(config))
    with pytest.raises(WorkerCrashed, match=r"was killed by SIGKILL.*--recovery"):
        run_engine(engine, config.synthetic_source())


@pytest.mark.parametrize("core_type", [WorkerCore, ActorHost])
def test_a_restored_worker_continues_exactly_where_its_checkpoint_was_taken(core_type):
    config = replace(_phase8(), codec="msgspec")
    frames = [
        (frame.produced_ns, True, Line(frame.line_no, frame.text.encode()))
        for frame in config.synthetic_source()
    ]
    first, rest = frames[:2500], frames[2500:]
    codec = get_codec("msgspec", core_type.frame_type)
    original = core_type(0, config)
    reply, _ = original.handle(codec.decode(codec.encode((first, [Checkpoint(7)]))), 0)
    checkpoint = reply.checkpoint
    assert checkpoint.token == 7 and checkpoint.processed == original.pipeline.processed > 0
    replies = get_codec("msgspec", core_type.reply_type())
    crossed = replies.decode(replies.encode(reply)).checkpoint  # as the parent receives it
    assert isinstance(crossed, WorkerCheckpoint)
    # the restarted worker: its checkpoint and the tail, then the rest of the stream
    restored = core_type(0, config)
    restored.handle(codec.decode(codec.encode(([], [Restore(crossed, rest[:500])]))), 0)
    restored.handle((rest[500:], []), 0)
    original.handle((rest, []), 0)
    mine, theirs = restored.report(), original.report()
    assert mine.books == theirs.books
    assert (mine.processed, mine.invalid, mine.other) == (theirs.processed, theirs.invalid, theirs.other)
    assert mine.router == theirs.router
    assert mine.latency.count == theirs.latency.count
