"""The event log: every accepted message, in order, on disk, so the books can be rebuilt.

The books are derived state; the log is the truth they are derived from.
Replaying the log into a fresh ``MessageRouter`` gives the books the live
run had, message for message (``replay_log``), which is what recovery and
checkpoints (phase 8) stand on.

**Records.** One ``LogRecord`` per accepted message: its ``seq`` (0, 1, 2,
... with no holes: a record's offset in the log), the ``produced_ns`` the
source stamped it with, and the typed ``Message`` itself, encoded as
MessagePack by one msgspec encoder built once (the structs are
``array_like``, so a record is a short array, not a map of field names).

**Frames.** On disk each record is framed as::

    length   4 bytes, unsigned little-endian: bytes of payload that follow
    crc32    4 bytes, unsigned little-endian: zlib.crc32 of the payload
    payload  `length` bytes: the MessagePack record

Both numbers are needed, for different questions. The length answers
"where does the next record start?": records have no separator and no fixed
size, so without it the file could only be read as one blob. The checksum
answers "are these bytes what the writer wrote?": a power cut can leave the
last record half written (or its blocks allocated but still zeros), and a
disk or a stray ``dd`` can change bytes anywhere; a length alone would read
either as data. A record is never empty, so a zero length is never valid
(and a zero-filled tail, whose crc32 of nothing would be 0, is caught).

**Segments.** The log is a directory of files named by the ``seq`` of the
first record each holds, zero-padded to 20 digits so names sort as numbers
do (``00000000000000000000.log``, ``00000000000000004096.log``). The
writer appends to the last one and starts a new one once it passes
``segment_bytes``; retention deletes whole old segments, never part of one,
and a reader asked to start at ``seq`` N skips every segment whose
successor's name is <= N without opening it. A segment is read whole, so
``segment_bytes`` bounds a reader's memory.

**Torn tails and corruption.** Only the end of the last segment can be
half written: the writer finishes (and fsyncs) a segment before it starts
the next. So a bad frame there, with no valid frame anywhere after it, is a
*torn tail*: the log ends just before it, it is reported (file, offset,
bytes) and never read as data; ``recover`` cuts it off so that appends
continue from a clean end, and the writer does that when it opens. Any other
bad frame (in an older segment, or followed by a valid frame) is
*corruption*: records were lost in the middle, and reading raises
``CorruptLog`` naming the file and byte offset rather than skipping them.

    >>> import tempfile
    >>> from .messages import OtherMessage
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     with EventLogWriter(directory) as log:
    ...         log.append(OtherMessage("new_market"), produced_ns=5)
    ...         log.append(OtherMessage("best_bid_ask", "a"), produced_ns=7)
    ...     [(r.seq, r.message.event_type) for r in read_log(directory)]
    0
    1
    [(0, 'new_market'), (1, 'best_bid_ask')]
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from .messages import Line, Message
from .parser import Rejection, parse_line_msgspec
from .router import MessageRouter

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "MAX_RECORD_BYTES",
    "CorruptLog",
    "EventLogReader",
    "EventLogWriter",
    "LogRecord",
    "ReadStats",
    "RecoveryReport",
    "ReplayStats",
    "TornTail",
    "read_log",
    "recover",
    "replay_log",
    "segment_paths",
]

DEFAULT_SEGMENT_BYTES = 4 << 20
"""4 MiB: about 13,000 simulated messages (some 300 bytes each) per segment."""

MAX_RECORD_BYTES = 16 << 20
"""The longest payload the writer accepts, and so the longest a reader
believes: a length prefix above it is damage, whatever follows."""

MAX_KEPT_MISSING = 100
"""Missing seq ranges a replay lists; beyond that they are only counted."""

_HEADER = struct.Struct("<II")
_HEADER_BYTES = _HEADER.size
_SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")


class LogRecord(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One accepted message with its place in the log and its birth time.

    ``seq`` is the record's offset in the log (the first record ever
    written is 0); ``produced_ns`` is when the source produced the message
    (the engine's clock, ns), kept so a replay can report the original
    timing. Frozen and holding only frozen structs: never part of a cycle,
    so the garbage collector need not track it."""

    seq: int
    produced_ns: int
    message: Message | Line
    """A typed message, or (phase 8, parsing in the workers) the raw
    ``Line`` the dispatcher routed unparsed: a replay parses it, with the
    same parser, and applies what it holds."""


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(LogRecord).decode


class CorruptLog(Exception):
    """Bytes in the middle of the log that are not what the writer wrote.

    Not a torn tail (that is an expected end, see the module docstring):
    records after this point exist, so skipping it would lose data
    silently. ``path`` and ``offset`` (bytes from the start of that file)
    say where the bad frame starts."""

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}: byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class TornTail:
    """The half-written end of the last segment: ``bytes`` bytes from
    ``offset`` of ``path`` that hold no complete, valid record."""

    path: Path
    offset: int
    bytes: int
    reason: str
    """``short header``, ``short payload``, ``bad length`` or ``bad checksum``."""

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "offset": self.offset, "bytes": self.bytes, "reason": self.reason}


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` found: the segments present and the torn tail it
    cut off (``None``: the log ended cleanly, nothing was touched)."""

    segments: int
    torn_tail: TornTail | None = None

    @property
    def truncated(self) -> bool:
        return self.torn_tail is not None


@dataclass(frozen=True)
class ReadStats:
    """What a read saw. ``bytes`` counts the frames of the records read
    (headers included), not the skipped segments or a torn tail."""

    records: int = 0
    segments: int = 0
    segments_skipped: int = 0
    """Whole segments passed over by name (``from_seq``), never opened."""
    bytes: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    torn_tail: TornTail | None = None


@dataclass(frozen=True)
class ReplayStats:
    """A replay's reading stats, plus which seqs it did not find.

    ``missing`` lists ranges ``(first, last)`` of seqs absent between 0 and
    the last record: the head of the log when retention deleted its oldest
    segments, or a hole where a segment was removed by hand. With any seq
    missing, the books are *not* the live run's (``complete`` is false):
    snapshots and changes they needed were never applied."""

    read: ReadStats
    missing: tuple[tuple[int, int], ...] = ()
    missing_records: int = 0

    @property
    def complete(self) -> bool:
        return self.missing_records == 0

    def as_dict(self) -> dict[str, Any]:
        read = self.read
        return {
            "records": read.records,
            "segments": read.segments,
            "bytes": read.bytes,
            "first_seq": read.first_seq,
            "last_seq": read.last_seq,
            "torn_tail": read.torn_tail.as_dict() if read.torn_tail is not None else None,
            "missing": [list(span) for span in self.missing],
            "missing_records": self.missing_records,
            "complete": self.complete,
        }


# ----------------------------------------------------------------- segments


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.log"


def segment_paths(directory: str | Path) -> list[tuple[int, Path]]:
    """``(first seq, path)`` of each segment in ``directory``, oldest first.
    Other files are ignored (a later checkpoint may live beside the log).
    A ``FileNotFoundError`` if the directory does not exist. O(files)."""
    directory = Path(directory)
    found = []
    for entry in os.scandir(directory):
        match = _SEGMENT_NAME.match(entry.name)
        if match is not None and entry.is_file():
            found.append((int(match.group(1)), directory / entry.name))
    found.sort()
    return found


def _frame_at(data: bytes | memoryview, offset: int) -> tuple[int, str | None]:
    """Check the frame starting at ``offset``: ``(its end, None)`` if it is
    whole and its checksum matches, else ``(offset, what is wrong)``."""
    remaining = len(data) - offset
    if remaining < _HEADER_BYTES:
        return offset, "short header"
    length, crc = _HEADER.unpack_from(data, offset)
    if length == 0 or length > MAX_RECORD_BYTES:
        return offset, "bad length"
    end = offset + _HEADER_BYTES + length
    if end > len(data):
        return offset, "short payload"
    if zlib.crc32(data[offset + _HEADER_BYTES : end]) != crc:
        return offset, "bad checksum"
    return end, None


def _next_valid_frame(data: bytes | memoryview, start: int) -> int | None:
    """The first offset at or after ``start`` where a whole, valid frame
    begins, or ``None``. O(bytes after ``start``), on the error path only:
    most offsets fail on their length prefix before any checksum is run."""
    for offset in range(start, len(data) - _HEADER_BYTES):
        if _frame_at(data, offset)[1] is None:
            return offset
    return None


class _Segment:
    """One segment file, read whole, walked frame by frame.

    Iterating yields ``(offset, payload)`` per valid frame. At a bad frame
    it stops: in the last segment, with no valid frame after it, the bad
    bytes become ``torn_tail``; anywhere else it raises ``CorruptLog``."""

    def __init__(self, path: Path, *, last: bool) -> None:
        self.path = path
        self.last = last
        self.data = path.read_bytes()
        self.end = 0
        """Where the valid frames end (the file's size if nothing is torn)."""
        self.last_frame: tuple[int, memoryview] | None = None
        """``(offset, payload)`` of the last valid frame walked."""
        self.torn_tail: TornTail | None = None

    def __iter__(self) -> Iterator[tuple[int, memoryview]]:
        data = self.data
        view = memoryview(data)
        size = len(data)
        offset = 0
        while offset < size:
            end, problem = _frame_at(data, offset)
            if problem is not None:
                self._stop(offset, problem)
                return
            frame = offset, view[offset + _HEADER_BYTES : end]
            self.last_frame = frame
            yield frame
            offset = self.end = end

    def _stop(self, offset: int, problem: str) -> None:
        if not self.last:
            raise CorruptLog(self.path, offset, f"{problem} in a segment that is not the last")
        found = _next_valid_frame(self.data, offset + 1)
        if found is not None:
            raise CorruptLog(self.path, offset, f"{problem}, with a valid record after it at byte {found}")
        self.torn_tail = TornTail(self.path, offset, len(self.data) - offset, problem)


def _decode_at(segment: _Segment, offset: int, payload: memoryview) -> LogRecord:
    try:
        return _decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        # The checksum matched: the writer wrote these bytes. Not a torn
        # write, so never a place to quietly stop.
        raise CorruptLog(
            segment.path, offset, f"checksum matches but the record does not decode: {error}"
        ) from None


# ----------------------------------------------------------------- reading


class EventLogReader:
    """The records of a log, in seq order, across its segments.

    Iterate once; ``stats()`` then says what was read and whether the log
    ended in a torn tail. Nothing is modified: a torn tail is reported,
    not truncated (that is ``recover``'s job). Checks beyond the frames:
    within a segment each seq is the one before plus 1, and a segment's
    first record carries the seq its name says, so a record can be found
    by name (``from_seq``). Cost: one read of each segment, one crc32 and
    one msgspec decode per record; memory: one segment.
    """

    def __init__(self, directory: str | Path, from_seq: int = 0) -> None:
        self.directory = Path(directory)
        self.from_seq = from_seq
        self._records = self._bytes = self._segments = self._skipped = 0
        self._first_seq: int | None = None
        self._last_seq: int | None = None
        self._torn_tail: TornTail | None = None

    def __iter__(self) -> Iterator[LogRecord]:
        segments = segment_paths(self.directory)
        # A segment holds seqs from its name up to the next one's name - 1.
        while len(segments) > 1 and segments[1][0] <= self.from_seq:
            segments.pop(0)
            self._skipped += 1
        from_seq = self.from_seq
        for index, (name_seq, path) in enumerate(segments):
            segment = _Segment(path, last=index == len(segments) - 1)
            self._segments += 1
            expected = name_seq
            for offset, payload in segment:
                record = _decode_at(segment, offset, payload)
                if record.seq != expected:
                    raise CorruptLog(path, offset, f"seq {record.seq} where seq {expected} belongs")
                expected += 1
                if record.seq < from_seq:
                    continue
                self._records += 1
                self._bytes += _HEADER_BYTES + len(payload)
                if self._first_seq is None:
                    self._first_seq = record.seq
                self._last_seq = record.seq
                yield record
            self._torn_tail = segment.torn_tail

    def stats(self) -> ReadStats:
        """What has been read so far (everything, once iterated)."""
        return ReadStats(
            records=self._records,
            segments=self._segments,
            segments_skipped=self._skipped,
            bytes=self._bytes,
            first_seq=self._first_seq,
            last_seq=self._last_seq,
            torn_tail=self._torn_tail,
        )


def read_log(directory: str | Path, from_seq: int = 0) -> Iterator[LogRecord]:
    """The records with ``seq >= from_seq``, in order (see ``EventLogReader``).
    The hook for checkpoints: a checkpoint taken at seq N replays from N."""
    return iter(EventLogReader(directory, from_seq))


def replay_log(directory: str | Path) -> tuple[MessageRouter, ReplayStats]:
    """Apply every record's message, in seq order, to a fresh router: the
    books the live run built, if no seq is missing (``ReplayStats``).
    O(records); raises ``CorruptLog`` on damage in the middle."""
    router = MessageRouter()
    reader = EventLogReader(directory)
    apply = router.apply
    missing: list[tuple[int, int]] = []
    missing_records = 0
    expected = 0
    for record in reader:
        if record.seq != expected:  # only ever ahead: the reader checks seqs grow
            missing_records += record.seq - expected
            if len(missing) < MAX_KEPT_MISSING:
                missing.append((expected, record.seq - 1))
        expected = record.seq + 1
        message = record.message
        if type(message) is Line:
            for parsed in parse_line_msgspec(message.text, message.line_no):
                if type(parsed) is not Rejection:  # the live run rejected (and counted) it too
                    apply(parsed)
        else:
            apply(message)
    return router, ReplayStats(reader.stats(), tuple(missing), missing_records)


def recover(directory: str | Path) -> RecoveryReport:
    """Cut a torn tail off the last segment, in place and synced, so that
    appends continue from a clean end; report what was cut. Only the last
    segment is read (older ones were synced before it began). Raises
    ``CorruptLog`` if the damage is not a torn tail: that needs a person."""
    return _recover(Path(directory))[0]


def _recover(directory: Path) -> tuple[RecoveryReport, _Segment | None]:
    """``recover``, also handing back the last segment as read, so the
    writer can find its last seq without reading it again."""
    segments = segment_paths(directory)
    if not segments:
        return RecoveryReport(0), None
    segment = _Segment(segments[-1][1], last=True)
    for _ in segment:
        pass
    torn = segment.torn_tail
    if torn is not None:
        with open(segment.path, "r+b") as file:
            file.truncate(torn.offset)
            os.fsync(file.fileno())
    return RecoveryReport(len(segments), torn), segment


# ----------------------------------------------------------------- writing


class EventLogWriter:
    """Appends records to a segmented log (see the module docstring).

    Opening a directory that already holds a log runs ``recover`` first
    (``self.recovery`` says what it cut) and continues after the last valid
    record: seqs never repeat within the log. A torn record was never part
    of the log, so its seq is the next one again.

    ``append`` costs one msgpack encode, one crc32 and one ``write`` into a
    64 KiB buffer; the operating system sees the bytes when the buffer
    fills or on ``flush``. What survives what:

    - ``flush()`` hands the buffer to the operating system (its page
      cache). The records then survive this process dying (a crash, a
      ``kill -9``) but not the machine losing power: the OS writes them to
      disk when it chooses.
    - ``sync()`` flushes, then ``os.fsync``: the records are on the disk
      when it returns (as far as the disk tells the truth), and so is a
      segment file created since the last ``sync``. It costs a disk round
      trip (ms), so a service calls it per batch or per interval, not per
      record; what was appended after the last one may be lost in a power
      cut, which is exactly the torn tail ``recover`` handles.
    - ``close()`` flushes and closes; it does not fsync (call ``sync``
      first for that). Idempotent.

    One writer per directory: two would interleave their seqs.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        keep_segments: int | None = None,
    ) -> None:
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
        if keep_segments is not None and keep_segments < 1:
            raise ValueError(f"keep_segments must be >= 1 or None (keep all), got {keep_segments}")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.keep_segments = keep_segments
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recovery, last = _recover(self.directory)
        self._file = None
        self._size = 0
        self._next_seq = 0
        self._directory_changed = False
        self._closed = False
        if last is not None:
            self._next_seq = self._after_last_record(last)
            self._file = open(last.path, "ab", buffering=1 << 16)  # noqa: SIM115 (closed by close())
            self._size = last.end
            self._enforce_retention()

    @staticmethod
    def _after_last_record(segment: _Segment) -> int:
        """The seq after the (walked) segment's last record; its name if it is empty."""
        if segment.last_frame is None:
            return int(segment.path.stem)
        return _decode_at(segment, *segment.last_frame).seq + 1

    @property
    def next_seq(self) -> int:
        """The seq the next ``append`` will get."""
        return self._next_seq

    def append(self, message: Message | Line, produced_ns: int) -> int:
        """Append one message; returns its seq. Starts a new segment first
        if the current one has passed ``segment_bytes``."""
        if self._closed:
            raise ValueError("the event log writer is closed")
        seq = self._next_seq
        payload = _encode(LogRecord(seq, produced_ns, message))
        if len(payload) > MAX_RECORD_BYTES:
            raise ValueError(f"record of {len(payload)} bytes is over MAX_RECORD_BYTES ({MAX_RECORD_BYTES})")
        if self._file is None or self._size >= self.segment_bytes:
            self._start_segment(seq)
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        self._file.write(frame)
        self._size += len(frame)
        self._next_seq = seq + 1
        return seq

    def _start_segment(self, first_seq: int) -> None:
        if self._file is not None:
            # A segment is finished on disk before the next begins: only the
            # last segment can ever hold a torn tail.
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self._file = open(self.directory / _segment_name(first_seq), "ab", buffering=1 << 16)  # noqa: SIM115
        self._size = 0
        self._directory_changed = True
        self._enforce_retention()

    def _enforce_retention(self) -> None:
        """Delete whole segments, oldest first, beyond ``keep_segments``."""
        if self.keep_segments is None:
            return
        segments = segment_paths(self.directory)
        for _, path in segments[: max(len(segments) - self.keep_segments, 0)]:
            path.unlink()
            self._directory_changed = True

    def flush(self) -> None:
        """Hand buffered records to the operating system (see the class docstring)."""
        if self._file is not None and not self._closed:
            self._file.flush()

    def sync(self) -> None:
        """Flush, then fsync the segment (and the directory, if segments
        were created or deleted since the last sync): durable on return."""
        if self._file is None or self._closed:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._directory_changed and os.name == "posix":
            descriptor = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self._directory_changed = False

    def close(self) -> None:
        """Flush and close; the writer refuses appends afterwards. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
