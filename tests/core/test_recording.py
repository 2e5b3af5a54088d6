"""The recording format: what the recorder writes is what a replay reads,
frame for frame, with line numbers, receive times and gaps kept apart."""

import json

import pytest

from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.recording import (
    ENVELOPE_PREFIX,
    RecordingReader,
    RecordingStats,
    book_assets,
    frame_line,
    gap_line,
    pace_basis,
)
from orderbook_lab.core.source import MessageSource, SourceConfig


def _read(*lines: bytes) -> tuple[list, RecordingReader]:
    reader = RecordingReader(b"".join(lines).splitlines(keepends=True))
    return list(reader.timed()), reader


def test_every_line_written_is_one_line_starting_with_the_prefix():
    lines = [
        frame_line(1764600000123.4567, '{"event_type": "book"}'),
        frame_line(1.0, b'[\r\n{"a": "x"},\n {"b": 2}\n]'),
        frame_line(2.0, "PONG"),
        frame_line(3.0, b'{"a": "\xff"}'),
        gap_line(4.0, 2, 'closed "abruptly"\nby peer', 12.25, connection=3),
    ]
    for line in lines:
        assert line.startswith(ENVELOPE_PREFIX)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        json.loads(line)  # each is a JSON object on its own
    assert json.loads(lines[0])["recv_ms"] == 1764600000123.457  # to the microsecond


def test_json_frames_are_embedded_byte_for_byte():
    # Spacing, key order and spelling survive: the replay parses what was sent.
    sent = [
        '{"event_type": "price_change" ,"market":"m","price_changes":[{"price":".480"}]}',
        '[{"event_type":"book","asset_id":"1","bids":[],"asks":[]}]',
        '{"asset_id": "caf\u00e9"}',
    ]
    entries, reader = _read(*(frame_line(100.0 + i, text) for i, text in enumerate(sent)))
    assert entries == [(text.encode(), 100.0 + i) for i, text in enumerate(sent)]
    assert reader.stats() == RecordingStats(gaps=0, gap_lines=(), frames_timed=3)


def test_line_breaks_between_tokens_become_spaces():
    [(payload, _)], _ = _read(frame_line(1.0, '{\n"a":\r\n[1,\n2]}\n'))
    assert payload == b'{ "a":  [1, 2]}'
    assert json.loads(payload) == {"a": [1, 2]}


@pytest.mark.parametrize("frame", ["PONG", "INVALID OPERATION", '{"a": }', "", b"\xff\xfe{", '{"a": NaN}'])
def test_a_frame_that_is_not_json_keeps_its_text_and_replays_as_invalid(frame):
    [(payload, recv_ms)], reader = _read(frame_line(7.5, frame))
    assert recv_ms == 7.5
    assert isinstance(payload, str)
    assert reader.stats().frames_timed == 1
    if frame:  # an empty frame's text is "", a line with nothing to send
        [rejection] = parse_line(payload, 1)
        assert isinstance(rejection, Rejection)


def test_a_binary_frame_that_is_not_utf8_stays_distinguishable():
    # Escaped, not replaced: two different bad bytes give two different texts.
    [(first, _), (second, _)], _ = _read(frame_line(1.0, b'{"a":"\xff"}'), frame_line(2.0, b'{"a":"\xfe"}'))
    assert first != second
    assert "\\xff" in first and "\\xfe" in second


def test_gaps_are_counted_with_their_line_numbers_and_send_nothing():
    entries, reader = _read(
        frame_line(1.0, "[]"),
        gap_line(2.0, 1, "dropped", 30.0),
        b"\n",
        gap_line(3.0, 2, "dropped again", 60.0, connection=1),
        frame_line(4.0, "[1]"),
    )
    assert entries == [(b"[]", 1.0), (b"", 2.0), (b"", None), (b"", 3.0), (b"[1]", 4.0)]
    assert reader.stats() == RecordingStats(gaps=2, gap_lines=(2, 4), frames_timed=2)
    assert reader.stats().as_dict() == {"gaps": 2, "gap_lines": [2, 4], "frames_timed": 2}


def test_an_envelope_that_cannot_be_read_goes_to_the_parser_whole():
    broken = [b'{"recv_ms": 1.0, "frame": {"a": }}', b'{"recv_ms": "soon", "frame": 1}', b'{"recv_ms": 1}']
    entries, reader = _read(*(line + b"\n" for line in broken))
    assert [payload for payload, _ in entries] == broken
    for line_no, (payload, _) in enumerate(entries, 1):
        [rejection] = parse_line(payload, line_no)
        assert isinstance(rejection, Rejection)
    assert reader.stats() == RecordingStats()


def test_plain_and_envelope_lines_mix_in_one_file():
    plain = b'{"event_type":"book","asset_id":"a","bids":[],"asks":[],"timestamp":"1760000000000"}'
    entries, reader = _read(plain + b"\r\n", frame_line(1760000000005.5, "[]"))
    assert entries == [(plain, 1760000000000.0), (b"[]", 1760000000005.5)]
    assert list(RecordingReader([plain + b"\n", frame_line(1.0, "[]")])) == [plain, b"[]"]
    assert reader.stats().frames_timed == 1


def test_a_recorded_stream_replays_to_the_stream_that_was_sent():
    sent = list(MessageSource.synthetic(SourceConfig(messages=400, assets=6, seed=4)).wire_lines())
    lines = [frame_line(1000.0 + i, text) for i, text in enumerate(sent)]
    assert list(RecordingReader(lines)) == [text.encode() for text in sent]


def test_book_assets_names_the_snapshots_of_a_frame():
    frame = (
        '[{"event_type":"book","asset_id":"1","bids":[],"asks":[]},'
        '{"event_type":"book","asset_id":"2","bids":[],"asks":[]}]'
    )
    assert book_assets(frame) == ["1", "2"]
    assert book_assets(b'{"event_type":"price_change","price_changes":[]}') == []
    assert book_assets('{"event_type":"book","asset_id":7}') == []
    assert book_assets("PONG") == []
    assert book_assets("[1, 2]") == []


def test_pace_basis_prefers_receive_times_then_timestamps():
    assert pace_basis([b"\n", frame_line(1.0, "[]")]) == "recv_ms"
    assert pace_basis([b'{"event_type":"book","timestamp":"1760000000000"}']) == "timestamp"
    assert pace_basis([b'[{"event_type":"book"},{"event_type":"book","timestamp":17}]']) == "timestamp"
    assert pace_basis([b'{"event_type":"book","timestamp":"later"}']) is None
    assert (
        pace_basis([b'{"event_type":"book"}'] * 500 + [b'{"timestamp":"1"}']) is None
    )  # reads the start only
    assert pace_basis([]) is None
