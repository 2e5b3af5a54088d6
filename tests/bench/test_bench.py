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

from orderbook_lab.bench import serialization
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
from orderbook_lab.bench.pipeline import (
    CONTENDERS,
    books_of,
    lab_books,
    run_pipeline_bench,
    script_json,
    script_msgspec,
    write_stream,
)
from orderbook_lab.cli import app
from orderbook_lab.core.messages import BookMessage, PriceChangeMessage
from orderbook_lab.core.parser import parse_line, parse_line_msgspec

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


@pytest.fixture(scope="module")
def codec_report():
    return run_codec_bench(messages=1_500, timing=_TINY)


def test_codec_bench_reports_both_paths_a_breakdown_and_the_metrics_overhead(codec_report):
    report = codec_report
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


def test_codec_bench_fills_the_serialization_tables_for_every_codec_and_payload(codec_report):
    report = codec_report
    assert list(report.serialization) == list(serialization.PAYLOADS)
    for payload, by_codec in report.serialization.items():
        assert list(by_codec) == list(serialization.SERIAL_CODECS), payload
        for codec, figures in by_codec.items():
            assert all(
                _positive(figures[key])
                for key in ("encode_ns", "decode_ns", "round_trip_ns", "bytes", "decode_peak_bytes")
            ), (payload, codec)
            assert figures["decode_blocks"] > 0 and figures["decode_peak_bytes"] > figures["bytes"] / 4
    # a frame of 100 messages and a snapshot of 1,000 levels weigh kilobytes in any codec
    assert all(
        f["bytes"] > 10_000 for p in ("ipc_batch", "snapshot") for f in report.serialization[p].values()
    )
    # the decoded snapshot holds a tuple, an int and a float per level, however it is built
    assert all(f["decode_blocks"] >= 2_000 for f in report.serialization["snapshot"].values())
    assert _positive(report.ipc_batch_msgpack_vs_pickle_x)
    assert report.serial_samples == _TINY.repeats
    document = report.as_dict()
    assert document["ipc_batch_msgpack_vs_pickle_x"] == round(report.ipc_batch_msgpack_vs_pickle_x, 3)
    assert document["ipc_batch_goal"] == {"at_least_x": 5.0, "target_x": 10.0}
    rows = document["serialization"]["results"]
    assert len(rows) == len(serialization.PAYLOADS) * len(serialization.SERIAL_CODECS)
    assert {r["round_trip_vs_pickle_x"] for r in rows if r["codec"] == "pickle"} == {1.0}
    # the keys the command reported before the serialization tables are all still there
    assert set(document) >= {
        "bench",
        "python",
        "machine",
        "stream",
        "results",
        "book_changes_per_s",
        "breakdown_us",
        "metrics_overhead_pct",
        "engine_msgs_per_s",
        "method",
    }


@pytest.fixture(scope="module")
def stream_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "stream.jsonl"
    write_stream(str(path), messages=2_000, assets=8)
    return str(path)


def test_the_serialization_payloads_have_the_shapes_the_engines_send(stream_path):
    built = serialization.payloads(stream_path)
    assert list(built) == list(serialization.PAYLOADS)
    message, _ = built["price_change"]
    assert type(message) is PriceChangeMessage and len(message.changes) == 2  # both tokens of a market
    (updates, controls), _ = built["ipc_batch"]
    assert controls == [] and len(updates) == serialization.IPC_BATCH == 100
    assert all(type(ns) is int and primary is True for ns, primary, _ in updates)
    assert not any(
        type(m) is BookMessage for _, _, m in updates[:1]
    )  # the steady state, not the first snapshots
    snapshot, _ = built["snapshot"]
    assert type(snapshot) is BookMessage and len(snapshot.bids) == len(snapshot.asks) == 500
    assert max(snapshot.bids)[0] < min(snapshot.asks)[0]
    assert built["ipc_batch"][0] == serialization.payloads(stream_path)["ipc_batch"][0]  # seeded


@pytest.mark.parametrize("codec", serialization.SERIAL_CODECS)
def test_every_codec_round_trips_every_payload_to_an_equal_value(codec, stream_path):
    # measure asserts the round trip before it times anything; here in process
    answer = serialization.measure(codec, stream_path, {"repeats": 1, "min_sample_s": 0.0})
    assert set(answer["payloads"]) == set(serialization.PAYLOADS)
    for payload, (value, kind) in serialization.payloads(stream_path).items():
        encode, decode = serialization.codec_functions(codec, kind)
        decoded = decode(encode(value))
        if codec == "stdlib-json":  # builtins: dicts and lists, not the typed messages
            assert decoded != value and isinstance(decoded, (dict, list))
            import msgspec

            decoded = msgspec.convert(decoded, kind)
        assert decoded == value, payload


def test_bench_codec_and_ipc_commands(tmp_path):
    path = tmp_path / "c.json"
    result = runner.invoke(app, ["bench", "codec", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "msgspec" in result.output and "µs / msg" in result.output
    assert "serialization, ipc_batch" in result.output and "headline" in result.output
    assert "tuple[list[tuple[int, bool, Message]], list]" in result.output  # not eaten as markup
    document = json.loads(path.read_text())
    assert document["bench"] == "codec" and _positive(document["ipc_batch_msgpack_vs_pickle_x"])
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


def test_the_scripts_and_both_lab_paths_end_with_the_same_books(stream_path):
    lab = books_of(lab_books(stream_path, parse_line))
    assert len(lab) == 8 and all(bids and asks for bids, asks in lab.values())
    assert books_of(lab_books(stream_path, parse_line_msgspec)) == lab
    assert books_of(script_json(stream_path)) == lab
    assert books_of(script_msgspec(stream_path)) == lab


def test_the_scripts_handle_snapshot_arrays_removals_and_events_they_ignore(tmp_path):
    path = tmp_path / "s.jsonl"
    book = (
        '{"event_type":"book","asset_id":"a","market":"m","timestamp":"1",'
        '"bids":[{"price":"0.4","size":"1"},{"price":"0.41","size":"2"}],"asks":[{"price":"0.5","size":"3"}]}'
    )

    def change(price: str, size: str, side: str = "BUY") -> str:
        return (
            '{"event_type":"price_change","market":"m","timestamp":"2","price_changes":[{"asset_id":"a",'
            f'"price":"{price}","size":"{size}","side":"{side}","best_bid":"0.4","best_ask":"0.5"}}]}}'
        )

    lines = [
        f"[{book}]",
        change("0.41", "0"),  # removes a level
        change("0.39", "0"),  # removes a level that is not there: nothing
        change("0.55", "7", "SELL"),
        '{"event_type":"last_trade_price","asset_id":"a","market":"m","price":"0.5","side":"BUY","size":"1"}',
        '{"event_type":"tick_size_change","asset_id":"a","market":"m","old_tick_size":"0.01","new_tick_size":"0.001"}',
        book.replace('"size":"1"', '"size":"9"'),  # a fresh snapshot replaces the whole book
        change("0.42", "5"),
    ]
    path.write_text("\n".join(lines) + "\n")
    expected = {"a": [[[4200, 5.0], [4100, 2.0], [4000, 9.0]], [[5000, 3.0]]]}
    for build in (script_json, script_msgspec, lambda p: lab_books(p, parse_line)):
        assert books_of(build(str(path))) == expected


def test_pipeline_bench_times_every_contender_in_workers_and_they_agree():
    report = run_pipeline_bench(messages=1_500, assets=6, timing=_TINY)
    assert list(report.msgs_per_s) == list(CONTENDERS) and not report.skipped
    assert all(_positive(rate) for rate in report.msgs_per_s.values())
    assert report.same_books and all(report.same_books_as_lab(name) for name in CONTENDERS)
    assert report.messages == 1_500 and report.books == 6 and report.levels > 6
    assert _positive(report.vs_script("lab-stdlib")) and _positive(report.vs_script("lab-msgspec"))
    assert report.vs_script("script-json") is None
    document = report.as_dict()
    assert document["bench"] == "pipeline" and document["same_books"] is True
    assert [r["name"] for r in document["results"]] == list(CONTENDERS)
    assert all(r["samples"] == _TINY.repeats and r["same_books"] for r in document["results"])
    assert _positive(document["lab_msgspec_vs_script_msgspec_x"])
    assert _positive(document["lab_stdlib_vs_script_json_x"])
    assert document["goals"]["lab-msgspec"] == {"vs": "script-msgspec", "at_least_x": 1.5, "target_x": 2.0}


def test_pipeline_bench_skips_the_scripts_without_order_book(monkeypatch):
    import orderbook_lab.bench.book as book

    monkeypatch.setattr(book, "missing_reason", lambda name: "not here" if name == "order-book" else None)
    report = run_pipeline_bench(messages=500, assets=4, timing=_TINY)
    assert list(report.msgs_per_s) == ["lab-stdlib", "lab-msgspec"]
    assert report.skipped == [("script-json", "not here"), ("script-msgspec", "not here")]
    assert report.vs_script("lab-msgspec") is None and report.same_books


@pytest.mark.timeout(60)  # a hang guard, not a speed check: --quick takes seconds
def test_bench_pipeline_quick_prints_the_table_and_writes_the_json(tmp_path):
    path = tmp_path / "p.json"
    result = runner.invoke(app, ["bench", "pipeline", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert "orderbook-lab, msgspec" in result.output and "script: json.loads + order-book" in result.output
    assert "same" in result.output and "≥ 1.5x, target 2x" in result.output
    document = json.loads(path.read_text())
    assert document["stream"]["messages"] == 5_000 and document["stream"]["assets"] == 20
    assert document["method"]["processes_per_contender"] == 1
    assert document["same_books"] is True
    assert all(_positive(r["msgs_per_s"]) for r in document["results"])
