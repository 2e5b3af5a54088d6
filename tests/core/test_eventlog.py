"""The event log: round trips, segments, retention, torn tails and corruption.

A torn tail is what a power cut leaves: a prefix of the last record. The
tests make one by cutting the file at every byte of its last record and
check the reader stops exactly before it, every time.
"""

import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.core.eventlog import (
    CorruptLog,
    EventLogReader,
    EventLogWriter,
    LogRecord,
    read_log,
    recover,
    replay_log,
    segment_paths,
)
from orderbook_lab.core.messages import (
    BookMessage,
    LastTradePriceMessage,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    TickSizeChangeMessage,
)
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.router import MessageRouter, books_digest
from orderbook_lab.engines import RunConfig

_ALL_KINDS = {BookMessage, PriceChangeMessage, LastTradePriceMessage, TickSizeChangeMessage, OtherMessage}


def _simulated(n: int) -> list:
    """The first ``n`` valid messages of the seeded simulator."""
    messages = []
    for frame in RunConfig(messages=n).synthetic_source():
        messages.extend(m for m in parse_line(frame.text, frame.line_no) if type(m) is not Rejection)
    return messages


def _write(directory: Path, messages: list, **options) -> list[LogRecord]:
    """Append ``messages`` (produced at 1000 * seq ns) and return the records."""
    with EventLogWriter(directory, **options) as log:
        return [LogRecord(log.append(m, 1000 * i), 1000 * i, m) for i, m in enumerate(messages)]


def _frame_starts(path: Path) -> list[int]:
    """Offsets of the frames of a well-formed segment, by their length prefixes."""
    data = path.read_bytes()
    starts, offset = [], 0
    while offset < len(data):
        starts.append(offset)
        offset += 8 + struct.unpack_from("<I", data, offset)[0]
    return starts


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# ----------------------------------------------------------------- round trips


def test_every_message_kind_comes_back_equal(tmp_path, valid_lines):
    messages = [m for i, line in enumerate(valid_lines, 1) for m in parse_line(line, i)]
    messages += _simulated(200)
    assert {type(m) for m in messages} == _ALL_KINDS
    written = _write(tmp_path, messages)
    reader = EventLogReader(tmp_path)
    assert list(reader) == written
    stats = reader.stats()
    assert (stats.records, stats.segments, stats.first_seq, stats.last_seq) == (
        len(messages), 1, 0, len(messages) - 1,
    )  # fmt: skip
    assert stats.bytes == (tmp_path / "00000000000000000000.log").stat().st_size
    assert stats.torn_tail is None


_text = st.text(max_size=12)
_ticks = st.integers(min_value=1, max_value=9999)
_size = st.floats(min_value=0, max_value=1e9, allow_nan=False)
_ms = st.integers(min_value=0, max_value=2**62)
_side = st.sampled_from(["BUY", "SELL"])
_levels = st.lists(st.tuples(_ticks, _size), max_size=5).map(tuple)
_messages = st.one_of(
    st.builds(BookMessage, _text, _text, _ms, _levels, _levels, _text, st.none() | _ticks),
    st.builds(
        PriceChangeMessage,
        _text,
        _ms,
        st.lists(
            st.builds(PriceChange, _text, _side, _ticks, _size, st.none() | _ticks, st.none() | _ticks),
            min_size=1,
            max_size=4,
        ).map(tuple),
    ),
    st.builds(LastTradePriceMessage, _text, _text, _ms, _ticks, _size, _side),
    st.builds(TickSizeChangeMessage, _text, _text, _ms, _ticks, _ticks),
    st.builds(OtherMessage, _text, _text),
)


@given(messages=st.lists(_messages, max_size=30), segment_bytes=st.integers(min_value=1, max_value=2000))
def test_any_messages_round_trip_across_any_segment_size(messages, segment_bytes):
    with tempfile.TemporaryDirectory() as directory:
        written = _write(Path(directory), messages, segment_bytes=segment_bytes)
        assert list(read_log(directory)) == written
        for name_seq, path in segment_paths(directory):  # each named by the first seq it holds
            assert next(read_log(path.parent, from_seq=name_seq)).seq == name_seq


# ----------------------------------------------------------------- segments


def test_rotation_makes_segments_read_in_order_and_from_seq_skips_whole_ones(tmp_path):
    written = _write(tmp_path, _simulated(300), segment_bytes=4000)
    segments = segment_paths(tmp_path)
    assert len(segments) > 3
    # zero-padded: the names sort as text the way the seqs sort as numbers
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name for _, path in segments]
    assert segments[0][1].name == "00000000000000000000.log"
    assert list(read_log(tmp_path)) == written

    start = segments[2][0] + 1  # inside the third segment
    reader = EventLogReader(tmp_path, from_seq=start)
    assert [r.seq for r in reader] == list(range(start, len(written)))
    assert reader.stats().segments_skipped == 2
    assert reader.stats().segments == len(segments) - 2


def test_retention_keeps_the_newest_segments_and_replay_reports_the_missing_head(tmp_path):
    messages = _simulated(300)
    written = _write(tmp_path, messages, segment_bytes=4000, keep_segments=2)
    segments = segment_paths(tmp_path)
    assert len(segments) == 2
    first = segments[0][0]
    assert first > 0
    assert list(read_log(tmp_path)) == written[first:]

    router, stats = replay_log(tmp_path)
    assert not stats.complete
    assert stats.missing == ((0, first - 1),)
    assert stats.missing_records == first
    assert stats.as_dict()["complete"] is False
    full = MessageRouter()
    for message in messages:
        full.apply(message)
    assert books_digest(router.export()) != books_digest(full.export())


def test_a_hole_between_segments_is_reported_as_missing(tmp_path):
    _write(tmp_path, _simulated(200), segment_bytes=4000)
    segments = segment_paths(tmp_path)
    segments[1][1].unlink()
    _, stats = replay_log(tmp_path)
    assert stats.missing == ((segments[1][0], segments[2][0] - 1),)


def test_replay_builds_the_books_the_messages_build(tmp_path):
    messages = _simulated(500)
    _write(tmp_path, messages, segment_bytes=10_000)
    direct = MessageRouter()
    for message in messages:
        direct.apply(message)
    router, stats = replay_log(tmp_path)
    assert stats.complete and stats.read.records == len(messages)
    assert router.export() == direct.export()
    assert router.stats() == direct.stats()


# ----------------------------------------------------------------- writer


def test_reopening_continues_after_the_last_record(tmp_path):
    first = _write(tmp_path, _simulated(20), segment_bytes=1500)
    with EventLogWriter(tmp_path, segment_bytes=1500) as log:
        assert log.next_seq == len(first)
        assert not log.recovery.truncated
        seq = log.append(OtherMessage("new_market"), 7)
    assert seq == len(first)
    assert [r.seq for r in read_log(tmp_path)] == list(range(len(first) + 1))


def test_a_closed_writer_refuses_appends_and_closes_twice(tmp_path):
    log = EventLogWriter(tmp_path)
    log.append(OtherMessage("x"), 1)
    log.sync()
    log.close()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append(OtherMessage("x"), 2)


@pytest.mark.parametrize("options", [{"segment_bytes": 0}, {"keep_segments": 0}])
def test_nonsense_sizes_are_refused(tmp_path, options):
    with pytest.raises(ValueError):
        EventLogWriter(tmp_path, **options)


# ----------------------------------------------------------------- torn tails


def test_a_cut_anywhere_in_the_last_record_yields_exactly_the_records_before_it(tmp_path):
    source = tmp_path / "source"
    written = _write(source, _simulated(12))
    data = (source / "00000000000000000000.log").read_bytes()
    last_start = _frame_starts(source / "00000000000000000000.log")[-1]
    for cut in range(last_start, len(data)):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / "00000000000000000000.log").write_bytes(data[:cut])
        reader = EventLogReader(directory)
        assert list(reader) == written[:-1], cut
        torn = reader.stats().torn_tail
        if cut == last_start:  # the record is wholly absent: a clean end
            assert torn is None
        else:
            assert (torn.offset, torn.bytes) == (last_start, cut - last_start), cut
        assert len((directory / "00000000000000000000.log").read_bytes()) == cut  # reading changes nothing


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data, start: data[:-1] + bytes([data[-1] ^ 1]), "bad checksum"),
        (lambda data, start: data + bytes(100), "bad length"),  # blocks allocated, never written
        (lambda data, start: data + b"\x05\x00", "short header"),
    ],
    ids=["flipped-last-byte", "zero-fill", "short-header"],
)
def test_other_torn_shapes_end_the_log_too(tmp_path, damage, reason):
    written = _write(tmp_path, _simulated(10))
    path = tmp_path / "00000000000000000000.log"
    start = _frame_starts(path)[-1]
    path.write_bytes(damage(path.read_bytes(), start))
    reader = EventLogReader(tmp_path)
    records = list(reader)
    assert reader.stats().torn_tail.reason == reason
    assert records == (written[:-1] if reason == "bad checksum" else written)


def test_the_writer_recovers_a_torn_tail_and_continues_with_its_seq(tmp_path):
    written = _write(tmp_path, _simulated(30), segment_bytes=3000)
    _, path = segment_paths(tmp_path)[-1]
    start = _frame_starts(path)[-1]
    path.write_bytes(path.read_bytes()[: start + 5])  # power cut 5 bytes into the last record
    torn_seq = written[-1].seq

    with EventLogWriter(tmp_path, segment_bytes=3000) as log:
        cut = log.recovery.torn_tail
        assert (cut.path, cut.offset, cut.bytes) == (path, start, 5)
        assert path.stat().st_size == start
        assert log.next_seq == torn_seq  # never in the log, so its seq is free
        assert log.append(OtherMessage("after"), 1) == torn_seq
    records = list(read_log(tmp_path))
    assert records[:-1] == written[:-1]
    assert records[-1] == LogRecord(torn_seq, 1, OtherMessage("after"))
    assert not recover(tmp_path).truncated


def test_a_torn_first_record_of_a_segment_leaves_it_empty_and_named_right(tmp_path):
    with EventLogWriter(tmp_path, segment_bytes=300) as log:
        while len(segment_paths(tmp_path)) < 3:  # until an append starts the third segment
            first_of_third = log.append(OtherMessage("pad"), 0)
    name_seq, path = segment_paths(tmp_path)[-1]
    assert name_seq == first_of_third and len(_frame_starts(path)) == 1
    path.write_bytes(path.read_bytes()[:3])

    assert recover(tmp_path).torn_tail.bytes == 3
    assert path.stat().st_size == 0
    with EventLogWriter(tmp_path, segment_bytes=300) as log:
        assert log.next_seq == first_of_third
        log.append(OtherMessage("again"), 0)
    assert [r.seq for r in read_log(tmp_path)] == list(range(first_of_third + 1))


# ----------------------------------------------------------------- corruption


def test_a_flipped_byte_in_a_middle_record_is_corruption_named_by_file_and_offset(tmp_path):
    _write(tmp_path, _simulated(10))
    path = tmp_path / "00000000000000000000.log"
    starts = _frame_starts(path)
    _flip(path, starts[4] + 20)
    with pytest.raises(CorruptLog) as raised:
        list(read_log(tmp_path))
    assert (raised.value.path, raised.value.offset) == (path, starts[4])
    assert f"{path}: byte {starts[4]}: bad checksum" in str(raised.value)
    size = path.stat().st_size
    with pytest.raises(CorruptLog):  # recovery will not cut off good records
        EventLogWriter(tmp_path)
    assert path.stat().st_size == size


def test_a_length_prefix_that_points_past_the_end_is_not_mistaken_for_a_torn_tail(tmp_path):
    _write(tmp_path, _simulated(10))
    path = tmp_path / "00000000000000000000.log"
    starts = _frame_starts(path)
    _flip(path, starts[3] + 2)  # length grows by about 16 MB: beyond the end of the file
    with pytest.raises(CorruptLog) as raised:
        list(read_log(tmp_path))
    assert raised.value.offset == starts[3]
    assert f"valid record after it at byte {starts[4]}" in str(raised.value)


def test_damage_to_an_older_segment_is_corruption_even_at_its_end(tmp_path):
    _write(tmp_path, _simulated(60), segment_bytes=3000)
    _, older = segment_paths(tmp_path)[1]
    last_start = _frame_starts(older)[-1]
    older.write_bytes(older.read_bytes()[:-1])
    with pytest.raises(CorruptLog) as raised:
        list(read_log(tmp_path))
    assert (raised.value.path, raised.value.offset) == (older, last_start)
    assert "not the last" in raised.value.reason
