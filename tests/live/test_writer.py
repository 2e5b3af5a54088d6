"""RecordingWriter: every frame and gap becomes one line, counted, and the
file replays to the frames that were written."""

import json

from orderbook_lab.core.recording import RecordingReader
from orderbook_lab.live.writer import RecordingWriter


def test_frames_and_gaps_are_written_and_counted(tmp_path):
    path = tmp_path / "rec.jsonl"
    snapshots = (
        '[{"event_type":"book","asset_id":"1","bids":[],"asks":[]},'
        '{"event_type":"book","asset_id":"2","bids":[],"asks":[]}]'
    )
    with RecordingWriter(path) as writer:
        writer.frame(1000.0, snapshots)
        writer.frame(1001.0, b'{"event_type":"price_change","market":"m","price_changes":[]}')
        writer.gap(1002.0, 1, "dropped", 25.0, connection=2)
        writer.frame(1003.0, '{"event_type":"book","asset_id":"1","bids":[],"asks":[]}')
        assert (writer.frames, writer.gaps, writer.books) == (3, 1, 2)
    data = path.read_bytes()
    assert writer.bytes == len(data)
    lines = data.splitlines()
    assert len(lines) == 4
    assert json.loads(lines[2])["gap"] == {
        "reconnect": 1,
        "reason": "dropped",
        "down_ms": 25.0,
        "connection": 2,
    }
    reader = RecordingReader(data.splitlines(keepends=True))
    assert list(reader) == [
        snapshots.encode(),
        b'{"event_type":"price_change","market":"m","price_changes":[]}',
        b"",
        b'{"event_type":"book","asset_id":"1","bids":[],"asks":[]}',
    ]
    assert reader.stats().gaps == 1 and reader.stats().frames_timed == 3


def test_flush_makes_frames_visible_and_close_is_idempotent(tmp_path):
    path = tmp_path / "rec.jsonl"
    writer = RecordingWriter(path)
    writer.frame(1.0, "[]")
    assert path.read_bytes() == b""  # still in the buffer
    writer.flush()
    assert path.read_bytes() == b'{"recv_ms":1.0,"frame":[]}\n'
    writer.close()
    writer.close()
    writer.flush()  # after close: nothing to do, no error
    assert path.read_bytes().count(b"\n") == 1
