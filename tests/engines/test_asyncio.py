"""The asyncio engine (phase 2): same books as phase 1, every message
counted, a drained shutdown, batching, queries, the event loop choice.

Runs are small (a few hundred messages) and ``--io-ms`` waits are a
fraction of a millisecond, so the whole file takes about a second. Nothing
here asserts a speed: the engine's speed-up is measured by the lesson's
experiments, not by tests on a shared machine.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest

from orderbook_lab.core.source import MessageSource
from orderbook_lab.engines import ENGINES, PHASES, RunConfig, create_engine, phase_config, run_engine
from orderbook_lab.engines.asyncio import AsyncioEngine, _loop_factory


def _run(config: RunConfig, source: MessageSource | None = None):
    engine = create_engine(config)
    stats = run_engine(engine, source if source is not None else config.synthetic_source())
    return stats, engine.books()


def _pair(config: RunConfig, lines: list[str] | None = None):
    """(sync stats, sync books, asyncio stats, asyncio books) on one stream."""
    sync_cfg = replace(config, engine="sync", phase=1)
    async_cfg = replace(config, engine="asyncio", phase=2)
    source = (lambda: MessageSource(lines)) if lines is not None else None
    s_stats, s_books = _run(sync_cfg, source() if source else None)
    a_stats, a_books = _run(async_cfg, source() if source else None)
    return s_stats, s_books, a_stats, a_books


def test_registered_as_phase_2():
    assert ENGINES["asyncio"] is AsyncioEngine
    assert PHASES[2]["engine"] == "asyncio"
    assert phase_config(2).engine == "asyncio"


# ---------------------------------------------------------------- same books as phase 1


@pytest.mark.parametrize(
    ("assets", "seed", "messages", "io_ms", "batch_size", "batch_timeout_ms", "loop"),
    [
        (10, 1, 3000, 0.0, 64, 0.0, None),
        (7, 3, 2000, 0.0, 1, 0.0, "asyncio"),  # odd count: one market has a single token
        (4, 5, 300, 0.2, 16, 1.0, None),  # awaited I/O: lanes overlap, order must hold
        (40, 9, 2000, 0.0, 500, 2.0, "uvloop"),
    ],
)
def test_block_gives_the_same_books_as_sync(
    assets, seed, messages, io_ms, batch_size, batch_timeout_ms, loop
):
    config = RunConfig(
        messages=messages,
        assets=assets,
        seed=seed,
        io_ms=io_ms,
        batch_size=batch_size,
        batch_timeout_ms=batch_timeout_ms,
        loop=loop,
        backpressure="block",
    )
    s_stats, s_books, a_stats, a_books = _pair(config)
    assert a_stats.digest == s_stats.digest
    assert a_books == s_books
    assert a_stats.router == s_stats.router, "same orphans, mismatches, removals: same order per asset"
    assert a_stats.processed == a_stats.generated == s_stats.generated
    assert a_stats.dropped == {}
    assert a_stats.conserved


def _book(asset, market, bids=(("0.40", "10"),), asks=(("0.60", "10"),)):
    return json.dumps(
        {
            "event_type": "book",
            "asset_id": asset,
            "market": market,
            "timestamp": "1",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
        }
    )


def _legacy_change(asset, price, size, side="BUY"):
    # 2024-08 flat format: no market field, so only the asset says where it goes.
    return json.dumps(
        {
            "event_type": "price_change",
            "asset_id": asset,
            "price": price,
            "size": size,
            "side": side,
            "timestamp": "2",
        }
    )


def _change(market, *entries):
    return json.dumps(
        {
            "event_type": "price_change",
            "market": market,
            "timestamp": "3",
            "price_changes": [
                {"asset_id": a, "price": p, "size": s, "side": side} for a, p, s, side in entries
            ],
        }
    )


def test_multi_asset_messages_that_tie_two_lanes_keep_every_assets_order():
    # A and B start in different lanes (different markets). B gets a backlog
    # of updates; then one message changes A and B together; then B again.
    # Applying any B update out of order leaves a different size at 0.5.
    lines = [_book("A", "mA"), _book("B", "mB"), "not json"]
    lines += [_legacy_change("B", "0.5", str(n)) for n in range(1, 31)]
    lines += [_change("mX", ("A", "0.45", "7", "BUY"), ("B", "0.5", "100", "BUY"))]
    lines += [_legacy_change("B", "0.5", "200"), json.dumps({"event_type": "best_bid_ask"})]
    lines += [_legacy_change("A", "0.45", str(n)) for n in range(1, 11)]
    config = RunConfig(messages=None, io_ms=0.2)
    s_stats, s_books, a_stats, a_books = _pair(config, lines)
    assert a_books == s_books
    assert dict(map(tuple, a_books["B"]["bids"]))["0.5"] == 200.0
    assert dict(map(tuple, a_books["A"]["bids"]))["0.45"] == 10.0
    assert a_stats.asyncio.lanes.merges == 1
    assert a_stats.invalid == s_stats.invalid == 1
    assert [r.line for r in a_stats.rejections] == [3]
    assert a_stats.other == s_stats.other == 1
    assert a_stats.conserved


def test_offloaded_cpu_work_gives_the_same_books():
    config = RunConfig(messages=200, assets=4, seed=2, work_ms=0.05, offload="thread")
    s_stats, _, a_stats, _ = _pair(config)
    assert a_stats.digest == s_stats.digest
    assert (a_stats.asyncio.offload.mode, a_stats.asyncio.offload.threads) == ("thread", 4)


# ---------------------------------------------------------------- drops and conservation


@pytest.mark.parametrize("policy", ["drop-newest", "drop-oldest"])
def test_a_small_queue_under_load_drops_and_counts_every_drop(policy):
    # Flat out, the reader offers a message every turn of the loop while
    # each lane needs a millisecond per message: a 5-slot queue overflows.
    config = RunConfig(
        engine="asyncio", messages=1500, assets=10, io_ms=1.0, queue_size=5, backpressure=policy
    )
    stats, _ = _run(config)
    reason = f"ingress:{policy}"
    assert stats.dropped[reason] > 0
    assert stats.dropped_total == stats.dropped[reason]
    assert stats.generated == stats.processed + stats.dropped_total + stats.invalid
    queue = stats.asyncio.queue
    assert queue.dropped_total == stats.dropped_total
    assert queue.high_water == stats.queue_high_water == 5
    # Shutdown drained: everything the queue kept was applied.
    assert queue.taken == stats.processed
    assert queue.depth == 0


def test_result_json_reports_queue_batching_and_loop():
    config = phase_config(
        2, RunConfig(messages=500, assets=4, batch_size=8, batch_timeout_ms=0.5, queue_size=64)
    )
    stats, _ = _run(config)
    result = json.loads(json.dumps(stats.as_result(config)))
    assert result["engine"] == "asyncio" and result["phase"] == 2
    assert result["messages"]["generated"] == result["messages"]["processed"] == 500
    assert result["queue"]["high_water"] == stats.queue_high_water <= 64
    assert {"capacity", "policy", "depth", "dropped_by_reason", "wait_ms"} <= set(result["queue"])
    assert result["queue"]["capacity"] == 64 and result["queue"]["policy"] == "block"
    assert result["batching"]["batch_size"] == 8
    assert result["batching"]["batch_timeout_ms"] == 0.5
    assert 1 <= result["batching"]["mean_batch"] <= 8
    assert result["config"]["batch_size"] == 8
    assert result["event_loop"]["used"] in ("uvloop", "asyncio")
    assert result["event_loop"]["default"]


def test_batch_size_one_takes_one_message_per_batch():
    stats, _ = _run(RunConfig(engine="asyncio", messages=300, assets=4, batch_size=1))
    batching = stats.asyncio.batching
    assert batching.batches == stats.processed == 300
    assert batching.full_batches == 300


def test_shutdown_drains_a_deep_backlog():
    # Everything fits in the queue at once, then the source ends: the run
    # returns only after every accepted message is applied.
    config = RunConfig(engine="asyncio", messages=400, assets=2, io_ms=0.1, queue_size=10_000)
    stats, _ = _run(config)
    assert stats.processed == stats.generated == 400
    assert stats.asyncio.queue.depth == 0
    assert stats.asyncio.queue.taken == 400


# ---------------------------------------------------------------- Little's law


def test_a_paced_run_with_cpu_work_satisfies_littles_law():
    # 4000 msgs/s of 0.2 ms work: the loop is about 80 % busy, so a backlog
    # builds and drains in the ingress queue, and shutdown drains it all.
    # Because a drained queue's L and λW count the same item-seconds, the
    # bound holds however loaded the machine is; only the depth varies.
    config = phase_config(2, RunConfig(messages=1200, assets=6, rate=4000, work_ms=0.2))
    stats, _ = _run(config)
    law = stats.littles_law
    assert law is not None
    assert law.arrivals == law.departures == stats.asyncio.queue.accepted == stats.processed == 1200
    assert law.mean_depth > 0 and law.mean_wait_ms > 0
    assert law.arrival_rate_per_s > 0 and law.elapsed_s > 0
    assert law.mean_depth == pytest.approx(law.predicted_depth, rel=0.15)
    assert law.relative_error <= 0.15
    result = json.loads(json.dumps(stats.as_result(config)))
    assert result["littles_law"]["arrivals"] == 1200
    assert result["littles_law"]["relative_error"] == round(law.relative_error, 4)


@pytest.mark.parametrize("policy", ["drop-newest", "drop-oldest"])
def test_a_dropping_run_still_satisfies_littles_law(policy):
    config = RunConfig(
        engine="asyncio", messages=1000, assets=10, io_ms=1.0, queue_size=5, backpressure=policy
    )
    stats, _ = _run(config)
    law = stats.littles_law
    queue = stats.asyncio.queue
    assert queue.dropped_total > 0
    assert law.arrivals == queue.accepted
    evicted = queue.dropped_total if policy == "drop-oldest" else 0
    assert law.departures == queue.taken + evicted == law.arrivals
    assert law.relative_error <= 0.15


# ---------------------------------------------------------------- queries


def test_queries_run_as_their_own_tasks_while_messages_flow():
    config = RunConfig(engine="asyncio", messages=300, assets=4, io_ms=0.5, query_rate=2000)
    stats, _ = _run(config)
    assert stats.queries > 0
    assert stats.query_latency_us.max > 0
    assert stats.processed == 300, "queries read the books; they never cost a message"


# ---------------------------------------------------------------- failure and lifecycle


def test_a_failing_source_ends_the_run_and_still_accounts_for_every_message():
    config = RunConfig(engine="asyncio", messages=None, io_ms=0.5)
    good = list(MessageSource.synthetic(replace(config, messages=300, assets=4).source_config()).wire_lines())

    def lines():
        yield from good
        raise OSError("connection reset")

    engine = create_engine(config)
    with pytest.raises(BaseExceptionGroup) as caught:
        run_engine(engine, MessageSource(lines()))
    assert caught.group_contains(OSError)
    stats = engine.stats()
    assert stats.conserved
    assert stats.processed + stats.dropped.get("aborted", 0) == stats.generated - stats.invalid


def test_lifecycle_is_explicit():
    engine = AsyncioEngine(RunConfig(engine="asyncio", messages=10))
    with pytest.raises(RuntimeError, match="start"):
        engine.run(MessageSource([]))
    engine.start()
    with pytest.raises(RuntimeError, match="starts once"):
        engine.start()
    engine.run(MessageSource([]))
    engine.stop()
    engine.stop()  # idempotent
    assert engine.stats().processed == 0


@pytest.mark.parametrize(
    "field",
    [
        {"queue_size": 0},
        {"batch_size": 0},
        {"backpressure": "drop-all"},
        {"offload": "gpu"},
        {"loop": "trio"},
        {"burst": 0},
        {"batch_timeout_ms": -1.0},
        {"jitter_ms": -1.0},
    ],
)
def test_bad_options_are_refused_before_anything_starts(field):
    with pytest.raises(ValueError):
        AsyncioEngine(RunConfig(engine="asyncio", **field))


def test_loop_choice_and_fallback(monkeypatch):
    assert _loop_factory("asyncio")[:2] == (None, "asyncio")
    factory, name, _why = _loop_factory(None)
    assert name == "uvloop" and factory is not None  # uvloop is a dependency
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    factory, name, why = _loop_factory("uvloop")
    assert (factory, name) == (None, "asyncio")
    assert "not installed" in why
