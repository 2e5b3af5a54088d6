"""MessageSource: the seeded simulator, file replay and pacing.

Pacing is tested on a ManualClock: the source "sleeps" by moving the clock,
and the consumer is slow by advancing it, so no test here waits for real.
"""

import hashlib
import itertools
import json
import re
from collections import Counter

import pytest

from orderbook_lab.core.clock import ManualClock
from orderbook_lab.core.messages import BookMessage, PriceChangeMessage
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.recording import RecordingReader, RecordingStats, frame_line, gap_line
from orderbook_lab.core.router import MessageRouter
from orderbook_lab.core.source import Frame, MessageSource, SourceConfig

MS = 1_000_000  # ns


def _lines(**fields) -> list[str]:
    return list(MessageSource.synthetic(SourceConfig(**fields)).wire_lines())


def _messages(lines) -> list[dict]:
    objects = []
    for text in lines:
        decoded = json.loads(text)
        objects.extend(decoded if isinstance(decoded, list) else [decoded])
    return objects


def _router(lines) -> MessageRouter:
    router = MessageRouter()
    for line_no, text in enumerate(lines, 1):
        for item in parse_line(text, line_no):
            assert not isinstance(item, Rejection), item
            router.apply(item)
    return router


# ------------------------------------------------------------ determinism


def test_same_config_gives_the_same_bytes():
    config = SourceConfig(messages=800, assets=6, seed=3)
    first = "\n".join(MessageSource.synthetic(config).wire_lines()).encode()
    second = "\n".join(MessageSource.synthetic(config).wire_lines()).encode()
    assert first == second
    assert len(first) > 10_000


# The sha256 of one seeded stream, every line and its newline. A change to
# the simulator, to the stdlib's ``random`` or to the float formatting on
# some machine shows up here as a different digest: "the same stream on every
# machine" is checked, not claimed. A deliberate change to the simulator
# updates this value (and the figures the lessons quote for the stream).
GOLDEN_STREAM = ("7c5fc67014f846906a4b2d511a2ef92bb9c30d917f7f0c5a057c826259b66ff6", 19_982)


def test_the_stream_for_one_seed_is_pinned_by_its_digest():
    lines = _lines(messages=20_000, assets=20, seed=7)
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    assert (digest, len(lines)) == GOLDEN_STREAM


def test_a_different_seed_gives_a_different_stream():
    assert _lines(messages=300, assets=6, seed=3) != _lines(messages=300, assets=6, seed=4)


def test_pacing_does_not_change_the_stream():
    config = SourceConfig(messages=200, assets=4, seed=9)
    paced = MessageSource.synthetic(config, rate=50, clock=ManualClock())
    assert [frame.text for frame in paced] == _lines(messages=200, assets=4, seed=9)


def test_a_shorter_stream_is_a_prefix_of_a_longer_one():
    # --messages only cuts the stream; it does not change what comes first.
    short, long = _messages(_lines(messages=120, seed=5)), _messages(_lines(messages=400, seed=5))
    assert long[: len(short)] == short


# ------------------------------------------------------------ counting


@pytest.mark.parametrize(
    ("messages", "assets", "batch"),
    [(1, 1, 16), (5, 20, 16), (17, 16, 16), (40, 16, 16), (100, 7, 3), (1000, 33, 16), (0, 4, 16)],
)
def test_exact_message_count_with_array_lines(messages, assets, batch):
    lines = _lines(messages=messages, assets=assets, seed=2, snapshot_batch=batch)
    # An array line of k snapshots counts k.
    assert len(_messages(lines)) == messages
    arrays = [text for text in lines if text.startswith("[")]
    assert all(len(json.loads(text)) <= batch for text in arrays)
    if messages >= assets:
        assert sum(len(json.loads(text)) for text in arrays) == assets  # every book first
        assert len(arrays) == -(-assets // batch)


def test_the_stream_starts_with_a_snapshot_of_every_asset_then_updates():
    objects = _messages(_lines(messages=300, assets=10, seed=1))
    first = objects[:10]
    assert [o["event_type"] for o in first] == ["book"] * 10
    assert len({o["asset_id"] for o in first}) == 10
    assert Counter(o["event_type"] for o in objects[10:])["price_change"] > 250


def test_endless_stream_is_ended_by_its_duration():
    clock = ManualClock()
    source = MessageSource.synthetic(SourceConfig(messages=None, assets=4), duration_s=0.05, clock=clock)
    frames = 0
    for _ in source:
        frames += 1
        clock.advance_ns(1 * MS)  # the consumer spends 1 ms per line
    assert frames == 50
    assert source.lines_emitted == 50
    assert source.total_messages is None


# ------------------------------------------------------------ the market model


@pytest.mark.parametrize("assets", [1, 3, 7])
def test_an_odd_asset_count_gives_a_lone_token(assets):
    lines = _lines(messages=600, assets=assets, seed=4)
    objects = _messages(lines)
    books = [o for o in objects if o["event_type"] == "book"]
    assert len({o["asset_id"] for o in books}) == assets
    markets = Counter(o["market"] for o in objects[:assets])
    assert sorted(markets.values()) == [1] + [2] * (assets // 2)
    router = _router(lines)
    assert len(router) == assets
    assert router.stats().best_mismatches == 0


def test_no_book_mirrors_its_yes_book():
    lines = _lines(messages=3000, assets=10, seed=11)
    router = _router(lines)
    stats = router.stats()
    assert stats.best_checks > 1000
    assert stats.best_mismatches == 0  # the feed's best_bid/best_ask always agree with the books
    pairs: dict[str, list[str]] = {}
    for obj in _messages(lines[:1]):  # the first array: YES then NO of each market
        pairs.setdefault(obj["market"], []).append(obj["asset_id"])
    assert len(pairs) == 5
    for yes_id, no_id in pairs.values():
        yes, no = router.get(yes_id), router.get(no_id)
        yes_bids, yes_asks = yes.depth(1000)
        no_bids, no_asks = no.depth(1000)
        assert no_bids == [(10000 - p, s) for p, s in yes_asks]
        assert no_asks == [(10000 - p, s) for p, s in yes_bids]
        yes.check()
        no.check()


def test_the_stream_has_every_kind_of_event():
    lines = _lines(messages=5000, assets=10, seed=7)
    objects = _messages(lines)
    kinds = Counter(o["event_type"] for o in objects)
    assert kinds["price_change"] > 4000
    assert kinds["book"] > 10  # fresh snapshots after the first ones
    assert kinds["last_trade_price"] > 0
    changes = [entry for o in objects if o["event_type"] == "price_change" for entry in o["price_changes"]]
    removals = [entry for entry in changes if entry["size"] == "0"]
    assert removals, "levels must also go away"
    assert {entry["side"] for entry in changes} == {"BUY", "SELL"}
    router = _router(lines)
    assert router.stats().snapshots == kinds["book"]
    for asset in router.assets():
        book = router.get(asset)
        book.check()
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            assert bid.price < ask.price  # the simulator never crosses a book


def test_markets_trade_at_every_tick_size_and_their_tick_changes_both_ways():
    lines = _lines(messages=60_000, assets=40, seed=1)
    objects = _messages(lines)
    book_ticks = {o["tick_size"] for o in objects if o["event_type"] == "book"}
    assert book_ticks == {"0.01", "0.001", "0.0001"}
    changes = [
        (o["old_tick_size"], o["new_tick_size"]) for o in objects if o["event_type"] == "tick_size_change"
    ]
    assert ("0.01", "0.001") in changes and ("0.001", "0.01") in changes  # finer, then coarser again
    prices = {
        entry["price"] for o in objects if o["event_type"] == "price_change" for entry in o["price_changes"]
    }
    assert any(len(price) == 6 for price in prices)  # "0.9995": the 0.0001 tick
    router = _router(lines)
    stats = router.stats()
    assert (stats.best_mismatches, stats.crossed) == (0, 0)
    assert stats.tick_size_changes == len(changes)
    assert stats.off_grid > 0  # fine levels left behind when a market's tick grows coarser


@pytest.mark.parametrize(
    ("seed", "assets", "popularity"), [(1, 1, "uniform"), (2, 5, "zipf"), (3, 12, "uniform"), (4, 9, "zipf")]
)
def test_the_simulator_never_crosses_a_book_or_contradicts_itself(seed, assets, popularity):
    router = MessageRouter()
    config = SourceConfig(messages=1500, assets=assets, seed=seed, popularity=popularity)
    for line_no, text in enumerate(MessageSource.synthetic(config).wire_lines(), 1):
        for item in parse_line(text, line_no):
            assert not isinstance(item, Rejection), item
            router.apply(item)
        for asset in router.assets():
            bid, ask = router.get(asset).best_bid(), router.get(asset).best_ask()
            assert bid is None or ask is None or bid.price < ask.price, (line_no, asset)
    stats = router.stats()
    assert (stats.best_mismatches, stats.absent_removals, stats.orphan_updates) == (0, 0, 0)


def _updates_per_market(popularity: str) -> list[int]:
    objects = _messages(_lines(messages=4000, assets=20, seed=5, popularity=popularity))
    order = list(dict.fromkeys(o["market"] for o in objects[:20]))  # markets in creation order
    counts = Counter(o["market"] for o in objects[20:] if o["event_type"] == "price_change")
    return [counts[market] for market in order]


def test_zipf_popularity_favours_the_first_markets():
    zipf = _updates_per_market("zipf")
    # Weights 1/k over 10 markets: the first gets ~34 %, the last ~3.4 %.
    assert zipf[0] > 5 * zipf[-1]
    assert zipf[0] > 0.25 * sum(zipf)


def test_uniform_popularity_spreads_updates_evenly():
    uniform = _updates_per_market("uniform")
    assert min(uniform) > 0.5 * max(uniform)


def test_assets_must_be_positive():
    with pytest.raises(ValueError, match="assets"):
        _lines(messages=10, assets=0)


# ------------------------------------------------------------ pacing


def test_unpaced_frames_are_stamped_with_the_current_time():
    clock = ManualClock(start_ns=7 * MS)
    source = MessageSource(["a", "b", "c"], clock=clock)
    stamps = []
    for frame in source:
        stamps.append(frame.produced_ns)
        clock.advance_ns(2 * MS)
    assert stamps == [7 * MS, 9 * MS, 11 * MS]
    assert source.schedule_lag.count == 0  # no schedule, no lag
    assert source.started_ns == 7 * MS


def test_paced_schedule_is_drift_free_and_stamps_the_due_time():
    clock = ManualClock(start_ns=1_000)
    source = MessageSource([str(i) for i in range(10)], rate=100, clock=clock)  # one line per 10 ms
    frames = []
    for frame in source:
        frames.append(frame)
        clock.advance_ns(3 * MS)  # a consumer quicker than the schedule
    # Line i is due at start + i * 10 ms: the 3 ms of work do not push it later.
    assert [f.produced_ns for f in frames] == [1_000 + i * 10 * MS for i in range(10)]
    assert [f.line_no for f in frames] == list(range(1, 11))
    assert source.schedule_lag.max_ns == 0


def test_a_late_consumer_is_recorded_as_lag_and_stamped_on_schedule():
    clock = ManualClock()
    source = MessageSource([str(i) for i in range(6)], rate=100, clock=clock)
    frames = []
    for frame in source:
        frames.append(frame)
        clock.advance_ns(25 * MS)  # 2.5x slower than the 10 ms schedule
    # produced_ns stays the scheduled moment: the wait is charged as latency.
    assert [f.produced_ns for f in frames] == [i * 10 * MS for i in range(6)]
    lag = source.schedule_lag
    # Line i is taken at i * 25 ms, due at i * 10 ms: 15 ms more behind each time.
    assert lag.count == 6
    assert lag.max_ns == 75 * MS
    assert lag.mean_ns() == pytest.approx(sum(i * 15 * MS for i in range(6)) / 6, rel=1 / 128)


def test_a_paced_stream_catches_up_when_the_consumer_does():
    clock = ManualClock()
    source = MessageSource([str(i) for i in range(6)], rate=100, clock=clock)
    stamps = []
    for index, frame in enumerate(source):
        stamps.append(frame.produced_ns)
        if index == 0:
            clock.advance_ns(35 * MS)  # one long stall ...
    # ... then lines 1-3 (due at 10, 20, 30 ms) leave at once, and 4, 5 on time.
    assert stamps == [i * 10 * MS for i in range(6)]
    assert clock.now_ns() == 50 * MS
    assert source.schedule_lag.max_ns == 25 * MS


def test_duration_ends_a_paced_stream():
    clock = ManualClock()
    source = MessageSource([str(i) for i in range(100)], rate=100, duration_s=0.05, clock=clock)
    frames = list(source)
    # Due at 0, 10, 20, 30, 40 ms; the line due at 50 ms is past the end.
    assert [f.text for f in frames] == ["0", "1", "2", "3", "4"]
    assert clock.now_ns() == 40 * MS


def test_duration_ends_an_unpaced_stream():
    clock = ManualClock()
    source = MessageSource(("x" for _ in range(1000)), duration_s=0.01, clock=clock)
    count = 0
    for _ in source:
        count += 1
        clock.advance_ns(MS // 2)
    assert count == 20


# ------------------------------------------------------------ load ramps


def _ramped(count: int, rate: float, ramp, **options) -> list[int]:
    """Due times (ns) of ``count`` numbered lines on a ramp, taken by a consumer
    quicker than the schedule, so every stamp is a due time."""
    source = MessageSource(
        [str(i) for i in range(count)], rate=rate, rate_ramp=ramp, clock=ManualClock(), **options
    )
    stamps = [frame.produced_ns for frame in source]
    assert source.schedule_lag.max_ns == 0
    return stamps


def _lines_sent_by(t_s: float, rate: float, ramp, span_s: float) -> float:
    """The integral of the pace r(t) = rate * (FROM + (TO - FROM) * t / T) from 0 to t."""
    first, last = ramp
    return rate * (first * t_s + (last - first) * t_s**2 / (2 * span_s))


@pytest.mark.parametrize("ramp", [(0.5, 1.5), (0.0, 2.0), (2.0, 0.0), (1.5, 0.1)])
def test_each_ramped_line_is_due_when_the_integral_of_the_pace_reaches_it(ramp):
    stamps = _ramped(1_000, 100, ramp, duration_s=2.0)
    # Within T = 2 s the ramp sends rate * T * (FROM + TO) / 2 lines; the
    # line due exactly at T is past the duration's end.
    assert len(stamps) == round(100 * 2.0 * sum(ramp) / 2)
    for index, stamp in enumerate(stamps):
        assert _lines_sent_by(stamp / 1e9, 100, ramp, 2.0) == pytest.approx(index, abs=1e-6)


def test_ramped_due_times_solve_the_quadratic_exactly():
    # 50 -> 150 lines/s over 2 s: N(t) = 50 t + 25 t**2.
    stamps = _ramped(1_000, 100, (0.5, 1.5), duration_s=2.0)
    assert stamps[0] == 0
    assert stamps[24] == 400 * MS  # 25 * 0.16 + 50 * 0.4 = 24
    assert stamps[75] == 1_000 * MS  # 25 + 50 = 75
    assert stamps[-1] < 2_000 * MS <= stamps[-1] + 10 * MS  # the last one just before the end


def test_a_ramp_starts_at_from_times_rate_and_ends_at_to_times_rate():
    # No duration: the ramp lasts as long as 16,000 lines take, T = 2 * 16000 / (10000 * 1.6) = 2 s.
    rate, ramp = 10_000, (0.1, 1.5)
    stamps = _ramped(16_000, rate, ramp, total_messages=16_000)
    assert len(stamps) == 16_000
    start_pace = 1e9 / (stamps[1] - stamps[0])
    end_pace = 1e9 / (stamps[-1] - stamps[-2])
    assert start_pace == pytest.approx(ramp[0] * rate, rel=0.01)
    assert end_pace == pytest.approx(ramp[1] * rate, rel=0.01)
    assert stamps[-1] == pytest.approx(2e9, rel=1e-3)


def test_a_ramp_down_to_zero_ends_the_stream_when_its_span_is_over():
    # 200 -> 0 lines/s over T = 2 * 100 / (100 * 2) = 1 s: lines 0..100, then nothing is ever due.
    stamps = _ramped(300, 100, (2.0, 0.0), total_messages=100)
    assert len(stamps) == 101
    assert stamps[-1] == 1_000 * MS


def test_a_flat_ramp_is_the_plain_rate():
    plain = [
        frame.produced_ns
        for frame in MessageSource([str(i) for i in range(500)], rate=300, clock=ManualClock())
    ]
    assert _ramped(500, 300, (1.0, 1.0), total_messages=500) == plain
    assert _ramped(500, 600, (0.5, 0.5), total_messages=500) == plain


def test_a_ramp_paces_the_same_lines_as_no_ramp():
    config = SourceConfig(messages=600, assets=6, seed=4)
    ramped = MessageSource.synthetic(config, rate=2000, rate_ramp=(0.1, 1.5), clock=ManualClock())
    frames = list(ramped)
    assert [f.text for f in frames] == _lines(messages=600, assets=6, seed=4)
    assert [f.line_no for f in frames] == list(range(1, len(frames) + 1))
    gaps = [b.produced_ns - a.produced_ns for a, b in itertools.pairwise(frames)]
    assert gaps[0] > 10 * gaps[-1]  # and they really are paced from slow to fast


def test_a_late_consumer_on_a_ramp_is_stamped_on_schedule_and_lagged():
    on_time = _ramped(50, 100, (0.5, 1.5), duration_s=1.0)
    clock = ManualClock()
    source = MessageSource(
        [str(i) for i in range(50)], rate=100, rate_ramp=(0.5, 1.5), duration_s=1.0, clock=clock
    )
    stamps = []
    for frame in source:
        stamps.append(frame.produced_ns)
        clock.advance_ns(20 * MS)  # slower than the ramp's fastest pace (10 ms per line at the end)
    assert stamps == on_time
    assert source.schedule_lag.max_ns > 0


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"rate": 0, "rate_ramp": (0.1, 1.5), "total_messages": 10}, "give a rate > 0"),
        ({"rate": 100, "rate_ramp": (0.0, 0.0), "total_messages": 10}, "make FROM or TO greater than 0"),
        ({"rate": 100, "rate_ramp": (-0.5, 1.0), "total_messages": 10}, ">= 0"),
        ({"rate": 100, "rate_ramp": (0.5, float("nan")), "total_messages": 10}, "finite"),
        ({"rate": 100, "rate_ramp": (0.5, 1.5)}, "give a duration or a message count"),
    ],
)
def test_a_ramp_that_cannot_be_paced_is_refused(options, phrase):
    with pytest.raises(ValueError, match=re.escape(phrase)):
        MessageSource(["a", "b"], clock=ManualClock(), **options)


# ------------------------------------------------------------ recorded pace


def _recording(*lines: bytes) -> RecordingReader:
    return RecordingReader(list(lines))


def _book(asset: str, timestamp: str | None = None) -> str:
    stamp = f',"timestamp":"{timestamp}"' if timestamp is not None else ""
    return f'{{"event_type":"book","asset_id":"{asset}","bids":[],"asks":[]{stamp}}}'


def test_speed_one_replays_the_recorded_gaps_between_frames():
    clock = ManualClock(start_ns=5 * MS)
    reader = _recording(
        frame_line(1_000.0, _book("a")),
        frame_line(1_010.0, _book("b")),
        gap_line(1_020.0, 1, "dropped", 5.0),  # not a frame: no slot on the schedule
        frame_line(1_040.5, _book("c")),
    )
    source = MessageSource(reader, speed=1, clock=clock)
    stamps = [(f.line_no, f.produced_ns) for f in source]
    # Line i is due at start + (recv_i - recv_0) / speed; the source slept until then.
    assert stamps == [(1, 5 * MS), (2, 15 * MS), (4, 45 * MS + MS // 2)]
    assert clock.now_ns() == 45 * MS + MS // 2
    assert source.schedule_lag.max_ns == 0


def test_speed_two_halves_every_wait():
    clock = ManualClock()
    reader = _recording(*(frame_line(1_000.0 + 10 * i, _book(str(i))) for i in range(5)))
    assert [f.produced_ns for f in MessageSource(reader, speed=2, clock=clock)] == [
        i * 5 * MS for i in range(5)
    ]


def test_a_plain_file_is_paced_by_its_message_timestamps():
    clock = ManualClock()
    reader = _recording(
        f"[{_book('a', '1760000000000')},{_book('b', '1760000000000')}]".encode(),
        _book("c", "1760000000020").encode(),
        b"not json: no time, due with the line before",
        _book("d", "1760000000010").encode(),  # earlier than its predecessor: due with it
        _book("e", "1760000000050").encode(),
    )
    frames = list(MessageSource(reader, speed=1, clock=clock))
    assert [f.produced_ns for f in frames] == [0, 20 * MS, 20 * MS, 20 * MS, 50 * MS]
    assert reader.stats().frames_timed == 0


def test_a_late_consumer_is_charged_from_the_recorded_schedule():
    clock = ManualClock()
    reader = _recording(*(frame_line(1_000.0 + 10 * i, _book(str(i))) for i in range(4)))
    frames = []
    for frame in MessageSource(reader, speed=1, clock=clock):
        frames.append(frame)
        clock.advance_ns(25 * MS)  # slower than the 10 ms the recording allows
    # Stamped on schedule, whatever the consumer did: the wait counts as latency.
    assert [f.produced_ns for f in frames] == [0, 10 * MS, 20 * MS, 30 * MS]


def test_speed_needs_times_and_excludes_rate(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        MessageSource(_recording(), speed=1, rate=10)
    with pytest.raises(ValueError, match="RecordingReader"):
        MessageSource(["x"], speed=1)
    untimed = tmp_path / "untimed.jsonl"
    untimed.write_text(_book("a") + "\n")
    with pytest.raises(ValueError, match="no receive times"):
        MessageSource.from_file(untimed, speed=1)
    timed = tmp_path / "timed.jsonl"
    timed.write_text(_book("a", "1760000000000") + "\n")
    assert [f.line_no for f in MessageSource.from_file(timed, speed=1, clock=ManualClock())] == [1]


# ------------------------------------------------------------ files


def test_from_file_skips_blank_lines_but_keeps_their_numbers(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"b": 2}\r\n\n[1]\n', encoding="utf-8")
    frames = list(MessageSource.from_file(path, clock=ManualClock()))
    # Bytes, as in the file: the parser, not the reader, decodes UTF-8.
    assert [(f.line_no, f.text) for f in frames] == [(1, b'{"a": 1}'), (4, b'{"b": 2}'), (6, b"[1]")]
    assert list(MessageSource.from_file(path).wire_lines()) == [b'{"a": 1}', b'{"b": 2}', b"[1]"]
    assert all(isinstance(f, Frame) for f in frames)


def test_from_file_hands_bad_utf8_to_the_parser_unrepaired(tmp_path):
    # Two different bad asset ids: repaired with U+FFFD they would be one book.
    book = '{{"event_type":"book","asset_id":"{}","market":"m","timestamp":"1","bids":[],"asks":[]}}'
    path = tmp_path / "rec.jsonl"
    path.write_bytes(
        book.format("a\udcff").encode("utf-8", "surrogateescape")
        + b"\n"
        + book.format("a\udcfe").encode("utf-8", "surrogateescape")
        + b"\n\xff\xfe\n"
    )
    frames = list(MessageSource.from_file(path, clock=ManualClock()))
    assert [f.line_no for f in frames] == [1, 2, 3]
    for frame in frames:
        [rejection] = parse_line(frame.text, frame.line_no)
        assert isinstance(rejection, Rejection) and rejection.line == frame.line_no
        assert rejection.reason.startswith("not UTF-8")


def test_from_file_unwraps_envelopes_and_counts_gaps_apart(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(
        b'{"event_type":"book","asset_id":"a","bids":[],"asks":[]}\n'  # a plain line
        + frame_line(1000.0, '{"event_type":"book","asset_id":"b","bids":[],"asks":[]}')
        + gap_line(1500.0, 1, "dropped", 400.0)
        + b"\n"
        + frame_line(1600.0, "PONG")
    )
    source = MessageSource.from_file(path, clock=ManualClock())
    frames = list(source)
    assert [(f.line_no, f.text) for f in frames] == [
        (1, b'{"event_type":"book","asset_id":"a","bids":[],"asks":[]}'),
        (2, b'{"event_type":"book","asset_id":"b","bids":[],"asks":[]}'),
        (5, "PONG"),
    ]
    assert source.lines_emitted == 3  # the gap is not a message
    assert source.recording_stats() == RecordingStats(gaps=1, gap_lines=(3,), frames_timed=2)


def test_synthetic_sources_have_no_recording_stats():
    assert MessageSource.synthetic(SourceConfig(messages=5)).recording_stats() is None


def test_the_fixture_files_replay_with_their_line_numbers(bad_file):
    frames = list(MessageSource.from_file(bad_file, clock=ManualClock()))
    assert [f.line_no for f in frames] == [n for n in range(1, 20) if n != 16]


def test_synthetic_messages_parse_into_typed_messages():
    lines = _lines(messages=200, assets=4, seed=1)
    parsed = [item for line in lines for item in parse_line(line)]
    assert len(parsed) == 200
    assert not any(isinstance(item, Rejection) for item in parsed)
    assert isinstance(parsed[0], BookMessage)
    assert any(isinstance(item, PriceChangeMessage) for item in parsed)
