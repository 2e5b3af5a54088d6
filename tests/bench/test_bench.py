"""``orderbook-lab bench``: the shape and sanity of what the benches report.

Never a speed threshold: these run on a shared machine. They check that
every contender ran in its worker on every stream, that the numbers are
positive and finite, that the contenders ended with the same books, what
the memory figure counts, and that the JSON holds the keys the issue
fixes.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from typer.testing import CliRunner

from orderbook_lab.bench._runner import Timing, calibrate, sample
from orderbook_lab.bench.book import (
    BOOK_CONTENDERS,
    MEMORY_LEVELS,
    STREAMS,
    BookStream,
    book_memory_bytes,
    level_stream,
    measure_memory,
    memory_snapshot,
    missing_reason,
    run_book_bench,
)
from orderbook_lab.bench.codec import run_codec_bench
from orderbook_lab.bench.ipc import run_ipc_bench
from orderbook_lab.cli import app

runner = CliRunner()
_TINY = Timing(repeats=2, min_sample_s=0.0, processes=1)


def _positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def test_level_stream_is_seeded_and_shaped_like_the_feed():
    config = BookStream(updates=5_000, books=6, seed=3)
    ops = level_stream(config)
    assert ops == level_stream(config)
    assert ops != level_stream(BookStream(updates=5_000, books=6, seed=4))
    snapshots = [op for op in ops if op[1] is None]
    changes = [op for op in ops if op[1] is not None]
    assert len(snapshots) >= config.books  # the initial ones, then occasional fresh ones
    removals = sum(1 for op in changes if op[3] == 0.0)
    assert 0 < removals < len(changes) / 3  # mostly size changes
    assert all(op[2] % 10 == 0 for op in changes)  # ticks of 0.0001: 0.001 is 10
    assert {op[2] % 100 == 0 for op in changes} == {True, False}  # 0.01 and 0.001 markets
    for _, _, bids, asks in snapshots:
        assert bids and asks and max(p for p, _ in bids) < min(p for p, _ in asks)


def test_the_fine_stream_trades_on_the_0_0001_tick_near_0_and_1():
    ops = level_stream(BookStream("fine", updates=5_000, books=6, seed=3))
    assert ops != level_stream(BookStream("mixed", updates=5_000, books=6, seed=3))
    changes = [op for op in ops if op[1] is not None]
    assert any(op[2] % 10 for op in changes)  # off the 0.001 grid: the 0.0001 tick
    for book in range(6):
        prices = [op[2] for op in changes if op[0] == book]
        prices += [p for op in ops if op[0] == book and op[1] is None for p, _ in op[2] + op[3]]
        assert all(9_500 <= p <= 9_999 for p in prices) or all(1 <= p <= 500 for p in prices)
    near_one = {op[0] for op in changes if op[2] >= 9_500}
    assert near_one and len(near_one) < 6  # some markets near 1, the others near 0
    depths = [len(op[2]) for op in ops if op[1] is None]
    assert min(depths) >= 5 and max(depths) > 30  # tens of levels a side, as in the mixed stream


def test_an_unknown_stream_kind_is_refused():
    with pytest.raises(ValueError, match="unknown stream kind"):
        BookStream("coarse")


@pytest.mark.parametrize("kind", STREAMS)
def test_the_memory_book_holds_50_levels_a_side_on_the_stream_grid(kind):
    _, _, bids, asks = memory_snapshot(kind)
    assert len(bids) == len(asks) == MEMORY_LEVELS == 50
    prices = [p for p, _ in bids + asks]
    assert prices == sorted(set(prices)) and bids[-1][0] < asks[0][0]
    steps = {b - a for a, b in itertools.pairwise(prices)}
    assert steps == ({10} if kind == "mixed" else {1})  # contiguous on the 0.001 / 0.0001 grid


def _tiny_streams(updates: int, books: int) -> tuple[BookStream, ...]:
    return tuple(BookStream(kind, updates=updates, books=books) for kind in STREAMS)


def test_book_bench_runs_every_contender_on_both_streams_in_workers_and_they_agree():
    contenders = tuple(name for name in BOOK_CONTENDERS if missing_reason(name) is None)
    report = run_book_bench(contenders=contenders, streams=_tiny_streams(3_000, 4), timing=_TINY)
    assert [(r.stream, r.name) for r in report.results] == [(k, n) for k in STREAMS for n in contenders]
    assert report.same_books_by_stream == dict.fromkeys(STREAMS, True) and report.same_books
    for result in report.results:
        assert _positive(result.ns_per_update) and _positive(result.ns_per_write)
        assert _positive(result.ns_per_best) and _positive(result.us_per_depth10)
        assert _positive(result.us_per_snapshot) and _positive(result.ns_per_change)
        assert result.us_per_snapshot * 1e3 > result.ns_per_change  # a snapshot is many levels
        assert result.samples == _TINY.repeats
        # 100 levels in dicts or sorted lists: kilobytes, not bytes; the tick
        # table holds 2 x 10,001 slots whatever the book holds.
        if result.name == "ticktable":
            assert 160_000 < result.bytes_per_book < 170_000
        else:
            assert 1_000 < result.bytes_per_book < 20_000
    document = report.as_dict()
    assert document["bench"] == "book" and document["python"] and document["machine"]
    assert set(document["streams"]) == set(STREAMS)
    assert all(document["streams"][kind]["same_books"] for kind in STREAMS)
    if "order-book" in contenders:
        for kind in STREAMS:
            ratios = {
                r["name"]: r["update_vs_order_book"] for r in document["results"] if r["stream"] == kind
            }
            assert ratios["order-book"] == 1.0  # each stream divides by its own reference


def test_memory_counts_the_book_not_the_objects_the_caller_hands_in():
    # The price and size objects are the caller's: what is counted is the
    # containers, so a book of 50 levels a side measures the same on either
    # grid, and the same in a fresh worker as in this (well used) process.
    for name in ("orderbook-lab", "sorteddict"):
        here = {kind: measure_memory(name, kind) for kind in STREAMS}
        assert here["mixed"]["bytes_per_book"] == here["fine"]["bytes_per_book"] > 0
        assert here["mixed"]["levels"] == [[MEMORY_LEVELS, MEMORY_LEVELS]] * len(here["mixed"]["levels"])
        # Within a byte a book: a process that has run other tests may hand
        # one of the sixteen copies a differently sized block.
        assert book_memory_bytes(name, "fine") == pytest.approx(here["fine"]["bytes_per_book"], abs=2)


def test_a_missing_contender_is_skipped_with_a_reason(monkeypatch):
    import orderbook_lab.bench.book as book

    monkeypatch.setattr(book, "missing_reason", lambda name: "not here" if name == "order-book" else None)
    report = run_book_bench(
        contenders=("orderbook-lab", "order-book"), streams=_tiny_streams(500, 2), timing=_TINY
    )
    assert [(r.stream, r.name) for r in report.results] == [(kind, "orderbook-lab") for kind in STREAMS]
    assert report.skipped == [("order-book", "not here")]
    assert all(r.vs_reference is None for r in report.results)


@pytest.mark.timeout(60)  # a hang guard, not a speed check: --quick takes seconds
def test_bench_book_quick_prints_both_tables_and_writes_the_json(tmp_path):
    path = tmp_path / "b.json"
    result = runner.invoke(app, ["bench", "book", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "orderbook-lab" in result.output and "vs" in result.output and "(ns)" in result.output
    assert "mixed stream" in result.output and "fine stream" in result.output and "(KiB)" in result.output
    document = json.loads(path.read_text())
    assert set(document) >= {"bench", "python", "machine", "results", "streams", "same_books"}
    assert document["bench"] == "book" and document["same_books"] is True
    # quick: a small stream, one worker per contender
    assert {s["updates"] for s in document["streams"].values()} == {20_000}
    assert document["method"]["processes_per_contender"] == 1
    for kind in STREAMS:
        names = [r["name"] for r in document["results"] if r["stream"] == kind]
        assert names[:2] == ["orderbook-lab", "sorteddict"]
        assert set(names) <= {"orderbook-lab", "sorteddict", "order-book"}
    assert {r["stream"] for r in document["results"]} == set(STREAMS)
    for entry in document["results"]:
        assert set(entry) >= {
            "name",
            "stream",
            "ns_per_update",
            "ns_per_best",
            "us_per_depth10",
            "update_vs_order_book",
            "bytes_per_book",
        }
        assert all(
            _positive(entry[key])
            for key in ("ns_per_update", "ns_per_best", "us_per_depth10", "bytes_per_book")
        )
        assert isinstance(entry["bytes_per_book"], int)


def test_codec_bench_reports_both_paths_a_breakdown_and_the_metrics_overhead():
    report = run_codec_bench(messages=1_500, timing=_TINY)
    assert set(report.msgs_per_s) == {"stdlib", "msgspec"}
    assert all(_positive(v) for v in report.msgs_per_s.values())
    assert set(report.engine_msgs_per_s) == {"stdlib", "msgspec", "stdlib, metrics off"}
    assert _positive(report.changes_per_s)
    parts = report.breakdown_us
    assert {"source", "parse", "route_apply", "metrics"} <= set(parts)
    assert all(parts[step] > 0 for step in ("source", "parse", "route_apply", "metrics"))
    assert math.isfinite(report.metrics_overhead_pct)
    assert report.changes > report.messages  # the feed sends both tokens of a market together
    document = report.as_dict()
    assert document["bench"] == "codec" and [r["name"] for r in document["results"]] == ["stdlib", "msgspec"]


def test_bench_codec_and_ipc_commands(tmp_path):
    path = tmp_path / "c.json"
    result = runner.invoke(app, ["bench", "codec", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "msgspec" in result.output and "µs / msg" in result.output
    assert json.loads(path.read_text())["bench"] == "codec"
    path = tmp_path / "i.json"
    result = runner.invoke(app, ["bench", "ipc", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "pickle" in result.output and "msgspec" in result.output
    document = json.loads(path.read_text())
    assert document["bench"] == "ipc" and [r["name"] for r in document["results"]] == ["pickle", "msgspec"]


def test_ipc_bench_reports_both_codecs():
    report = run_ipc_bench(messages=1_000, timing=_TINY)
    assert set(report.results) == {"pickle", "msgspec"}
    for figures in report.results.values():
        assert all(
            _positive(figures[key]) for key in ("encode_us", "decode_us", "round_trip_us", "msgs_per_s")
        )
        assert figures["bytes_per_msg"] > 50  # a message is a few hundred bytes either way
        # a round trip encodes and decodes twice, plus the pipe
        assert figures["round_trip_us"] > figures["decode_us"]


def test_calibration_doubles_until_a_sample_is_long_enough():
    seen = []

    def run(loops: int) -> int:
        seen.append(loops)
        return loops * 1_000  # 1 µs per loop

    assert calibrate(run, min_sample_s=0.0001) == 128  # 128 µs >= 100 µs
    assert seen == [1, 2, 4, 8, 16, 32, 64, 128]
    assert sample(run, 4, 3) == [4_000] * 3 and seen[-4:] == [4, 4, 4, 4]  # one warm-up, three samples


@pytest.mark.parametrize("command", [["bench"], ["bench", "nope"]])
def test_bench_without_a_known_name_does_not_run(command):
    result = runner.invoke(app, command)
    assert "book" in result.output or result.exit_code != 0
