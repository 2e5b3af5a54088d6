"""Every engine replays files read as bytes: plain lines, bad UTF-8 and a
recording with a gap give the same books, counts and rejections as
``sync``; and every engine follows a recording's own pace (``speed``).

One mixed file holds what a replay can meet: plain lines, two lines whose
asset ids are different invalid UTF-8 (each must be rejected, never merged
into one book), a blank line, and a recording with a reconnect gap and a
frame that is not JSON.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

import pytest

from orderbook_lab.core.recording import RecordingStats, frame_line, gap_line
from orderbook_lab.core.source import MessageSource, SourceConfig
from orderbook_lab.engines import ENGINES, RunConfig, create_engine, run_engine

pytestmark = pytest.mark.timeout(120)

_BAD_BOOK = b'{"event_type":"book","asset_id":"bad-%s","market":"m","timestamp":"1","bids":[],"asks":[]}'


def _lines(messages: int, seed: int) -> list[bytes]:
    config = SourceConfig(messages=messages, assets=8, seed=seed)
    return [line.encode() for line in MessageSource.synthetic(config).wire_lines()]


def _mixed_file(tmp_path):
    plain = _lines(400, seed=3)
    recorded = _lines(300, seed=4)
    content = [line + b"\n" for line in plain]
    content += [_BAD_BOOK % b"\xff" + b"\n", _BAD_BOOK % b"\xfe" + b"\n", b"\n"]
    recv_ms = 1764600000000.0
    for index, line in enumerate(recorded):
        if index == 150:
            content.append(gap_line(recv_ms + index, 1, "no close frame received or sent", 812.5))
        content.append(frame_line(recv_ms + index, line))
    content.append(frame_line(recv_ms + 400, "PONG"))
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(content))
    gap_line_no = len(plain) + 3 + 150 + 1
    return path, len(recorded) + 1, gap_line_no


def _config(engine: str, **fields) -> RunConfig:
    processes = 2 if engine in ("multiprocessing", "shared-memory", "threads") else None
    return RunConfig(engine=engine, messages=None, processes=processes, **fields)


def _replay(engine: str, source: MessageSource, **fields):
    instance = create_engine(_config(engine, **fields))
    try:
        stats = run_engine(instance, source)
    finally:
        instance.stop()
    return stats, instance.books()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path, frames, gap_line_no = _mixed_file(tmp_path_factory.mktemp("replay"))
    stats, books = _replay("sync", MessageSource.from_file(path))
    return path, frames, gap_line_no, stats, books


def test_sync_reads_the_mixed_file_as_it_should(mixed):
    _path, frames, gap_line_no, stats, books = mixed
    assert stats.conserved and stats.dropped_total == 0
    # Two bad UTF-8 lines and the non-JSON frame are rejected; the gap is not a message.
    assert stats.invalid == 3
    reasons = [r.reason for r in stats.rejections]
    assert reasons[:2] == ["not UTF-8: byte 0xff at position 37", "not UTF-8: byte 0xfe at position 37"]
    assert reasons[2].startswith("not JSON")
    assert not any(asset.startswith("bad-") for asset in books)
    assert stats.recording == RecordingStats(gaps=1, gap_lines=(gap_line_no,), frames_timed=frames)
    assert stats.generated == stats.processed + 3 == 400 + 300 + 3


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_replays_the_mixed_file_like_sync(mixed, engine):
    path, _frames, _gap, reference, reference_books = mixed
    # The msgspec parser too (process engines: msgspec between processes as well).
    for codec in ("pickle", "msgspec"):
        stats, books = _replay(engine, MessageSource.from_file(path), codec=codec)
        assert stats.digest == reference.digest, (engine, codec)
        assert books == reference_books
        assert (stats.generated, stats.processed, stats.invalid) == (
            reference.generated,
            reference.processed,
            reference.invalid,
        )
        assert [(r.line, r.reason) for r in stats.rejections] == [
            (r.line, r.reason) for r in reference.rejections
        ]
        assert stats.recording == reference.recording
        assert stats.as_result(_config(engine))["recording"]["gap_lines"] == list(
            reference.recording.gap_lines
        )
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_replays_a_recording_at_its_recorded_pace(tmp_path, engine):
    # Frames received half a millisecond apart, replayed twice as fast.
    path = tmp_path / "timed.jsonl"
    lines = _lines(200, seed=6)
    path.write_bytes(b"".join(frame_line(1764600000000.0 + i / 2, line) for i, line in enumerate(lines)))
    flat, flat_books = _replay("sync", MessageSource.from_file(path))
    source = MessageSource.from_file(path, speed=2)
    stats, books = _replay(engine, source, speed=2)
    assert books == flat_books and stats.digest == flat.digest
    assert stats.processed == flat.processed
    assert source.lines_emitted == len(lines)
    # The last line is due (n - 1) * 0.5 ms / 2 = 49.75 ms after the first. An engine
    # starts its clock at its own first step, which may be a moment after the source's,
    # so allow 10 %: unpaced, the same 200 lines take a few milliseconds.
    assert stats.run_s >= 0.9 * (len(lines) - 1) * 0.25e-3 > 0.04
    assert replace(_config(engine), speed=2).as_dict()["speed"] == 2
