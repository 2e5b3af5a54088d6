"""Phase 1, the sync engine: conservation, the same books as a plain router,
queries on schedule (on a ManualClock), and the engine lifecycle."""

from dataclasses import replace

import pytest

from orderbook_lab.core.clock import ManualClock
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.router import MessageRouter, books_digest
from orderbook_lab.core.source import MessageSource, SourceConfig
from orderbook_lab.engines import RunConfig, create_engine, phase_config, run_engine
from orderbook_lab.engines.sync import SyncEngine

MS = 1_000_000


def _reference_books(lines) -> dict:
    """What a plain router makes of the stream: the books every engine must reach."""
    router = MessageRouter()
    for line_no, text in enumerate(lines, 1):
        for item in parse_line(text, line_no):
            if not isinstance(item, Rejection):
                router.apply(item)
    return router.export()


def _run(config: RunConfig, source: MessageSource, clock=None):
    engine = SyncEngine(config, clock=clock) if clock is not None else SyncEngine(config)
    stats = run_engine(engine, source)
    return engine, stats


@pytest.mark.parametrize(("messages", "assets"), [(1, 1), (37, 5), (2500, 12)])
def test_conservation_and_same_books_as_a_plain_router(messages, assets):
    config = RunConfig(messages=messages, assets=assets, seed=3)
    engine, stats = _run(config, config.synthetic_source())
    assert stats.generated == messages
    assert stats.processed == messages
    assert (stats.invalid, stats.dropped_total) == (0, 0)
    assert stats.conserved
    lines = list(config.synthetic_source().wire_lines())
    reference = _reference_books(lines)
    assert engine.books() == reference
    assert stats.digest == books_digest(reference)
    assert stats.books == assets
    assert stats.router.best_mismatches == 0
    assert stats.latency_ms.max >= stats.latency_ms.p50 >= 0
    assert stats.run_s > 0 and stats.throughput > 0


def test_conservation_on_a_file_with_bad_lines(bad_file):
    engine, stats = _run(RunConfig(messages=None), MessageSource.from_file(bad_file))
    assert (stats.generated, stats.processed, stats.invalid, stats.dropped_total) == (20, 4, 16, 0)
    assert stats.conserved
    assert [(r.line, r.element) for r in stats.rejections] == [
        *((line, None) for line in range(2, 15)),
        (15, 1),
        (17, None),
        (18, None),
    ]
    assert all(r.reason for r in stats.rejections)
    assert engine.books() == _reference_books(bad_file.read_text().splitlines())
    assert engine.books() == {
        "5001": {"bids": [["0.4", 10.0], ["0.39", 7.0]], "asks": [["0.58", 3.0], ["0.6", 10.0]]}
    }


def test_the_valid_fixture_counts_other_events_as_processed(valid_file):
    _, stats = _run(RunConfig(messages=None), MessageSource.from_file(valid_file))
    assert (stats.generated, stats.processed, stats.invalid) == (15, 15, 0)
    assert stats.other == 2  # best_bid_ask and new_market: counted, not invalid
    assert stats.router.orphan_updates == 1
    assert stats.router.best_checks == 5 and stats.router.best_mismatches == 0
    assert stats.digest == books_digest(_reference_books(valid_file.read_text().splitlines()))


def test_same_seed_same_books_whatever_the_rate_or_work():
    base = RunConfig(messages=300, assets=6, seed=21)
    _, flat = _run(base, base.synthetic_source())
    paced = replace(base, rate=1000, work_ms=0.01)
    clock = ManualClock()
    _, slow = _run(paced, paced.synthetic_source(clock=clock), clock=clock)
    assert slow.digest == flat.digest
    assert slow.processed == flat.processed == 300


def test_queries_happen_at_the_query_rate():
    clock = ManualClock()
    config = RunConfig(messages=400, assets=10, seed=5, rate=1000, query_rate=100)  # a line per ms
    source = config.synthetic_source(clock=clock)
    _, stats = _run(config, source, clock=clock)
    lines = source.lines_emitted
    assert clock.now_ns() == (lines - 1) * MS
    # Query i is due at i * 10 ms; the last line leaves at (lines - 1) ms.
    assert stats.queries == (lines - 1) // 10 + 1
    assert stats.query_latency_us.max == 0.0  # each answered the moment it fell due


def test_queries_that_fall_due_mid_message_wait_for_it():
    clock = ManualClock()
    lines = [
        '{"event_type":"book","asset_id":"a","bids":[{"price":"0.4","size":"1"}],"asks":[]}',
        *[
            f'{{"event_type":"price_change","asset_id":"a","price":"0.41","size":"{i}","side":"BUY"}}'
            for i in range(1, 10)
        ],
    ]
    config = RunConfig(messages=None, query_rate=1000)  # a query per ms, a line per 10 ms
    _, stats = _run(config, MessageSource(lines, rate=100, clock=clock), clock=clock)
    # Between two lines ten queries fall due; the one thread answers them
    # only after the next line, so the first of each ten waited 9 ms.
    assert stats.queries == 9 * 10 + 1
    assert stats.query_latency_us.max == 9_000.0
    assert stats.processed == 10


def test_no_queries_without_a_query_rate():
    config = RunConfig(messages=200, assets=4)
    _, stats = _run(config, config.synthetic_source())
    assert stats.queries == 0
    assert stats.query_latency_us.max == 0.0


def test_progress_is_reported_up_to_the_total():
    seen = []
    config = RunConfig(messages=3000, assets=4)
    engine = SyncEngine(config, on_progress=seen.append)
    stats = run_engine(engine, config.synthetic_source())
    assert seen[-1] == stats.generated == 3000
    assert seen == sorted(seen) and len(seen) >= 2


def test_cpu_work_and_io_wait_keep_every_message():
    config = RunConfig(messages=30, assets=2, work_ms=0.05, io_ms=0.01)
    _, stats = _run(config, config.synthetic_source())
    assert stats.processed == 30 and stats.conserved


# ------------------------------------------------------------ lifecycle


def test_start_twice_raises():
    engine = SyncEngine(RunConfig())
    engine.start()
    with pytest.raises(RuntimeError, match="starts once"):
        engine.start()


def test_stop_is_idempotent_and_run_after_stop_raises():
    engine = SyncEngine(RunConfig(messages=5))
    engine.start()
    engine.stop()
    engine.stop()
    with pytest.raises(RuntimeError):
        engine.run(MessageSource([]))
    with pytest.raises(RuntimeError):
        engine.start()


def test_nothing_before_start():
    engine = SyncEngine(RunConfig())
    with pytest.raises(RuntimeError):
        engine.stats()
    with pytest.raises(RuntimeError):
        engine.books()
    with pytest.raises(RuntimeError):
        engine.run(MessageSource([]))
    engine.stop()  # stopping an engine that never started is harmless


def test_run_engine_stops_the_engine_when_the_run_fails():
    def broken_lines():
        yield '{"event_type":"new_market"}'
        raise OSError("the feed went away")

    engine = SyncEngine(RunConfig(messages=None))
    with pytest.raises(OSError):
        run_engine(engine, MessageSource(broken_lines()))
    assert engine._state == "stopped"
    assert engine.stats().processed == 1


def test_stats_are_frozen():
    config = RunConfig(messages=10, assets=2)
    _, stats = _run(config, config.synthetic_source())
    with pytest.raises(AttributeError):
        stats.processed = 0


def test_empty_stream():
    engine, stats = _run(RunConfig(messages=None), MessageSource([]))
    assert (stats.generated, stats.processed, stats.books, stats.run_s, stats.throughput) == (
        0,
        0,
        0,
        0.0,
        0.0,
    )
    assert engine.books() == {}
    assert stats.digest == books_digest({})


# ------------------------------------------------------------ registry


def test_phase_one_is_the_sync_engine():
    config = phase_config(1, RunConfig(messages=7, seed=9))
    assert (config.engine, config.phase, config.messages, config.seed) == ("sync", 1, 7, 9)
    assert isinstance(create_engine(config), SyncEngine)


def test_unknown_phase_and_engine_are_key_errors():
    with pytest.raises(KeyError, match="phase 99"):
        phase_config(99)
    with pytest.raises(KeyError, match="unknown engine"):
        create_engine(RunConfig(engine="no-such-engine"))


def test_run_config_source_matches_source_config():
    config = RunConfig(messages=50, assets=3, seed=4, popularity="zipf")
    assert config.source_config() == SourceConfig(messages=50, assets=3, seed=4, popularity="zipf")
    assert RunConfig(messages=None, duration_s=1.0).source_config().messages is None
