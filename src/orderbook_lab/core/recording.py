"""The recording format: websocket frames with their receive times, one per line.

``orderbook-lab record`` writes it and ``MessageSource.from_file`` reads it.
A recording is JSON Lines; each line is one of three things.

A **frame**: one websocket frame of the market channel, exactly as it
arrived, wrapped in an envelope that adds the moment it was received::

    {"recv_ms":1764600000123.456,"frame":{"event_type":"book","asset_id":"123",...}}

``recv_ms`` is unix time in milliseconds (a float, to the microsecond) read
when the recorder took the frame off the connection. ``frame`` is the
frame's own JSON text, byte for byte: it is embedded, not decoded and
encoded again, so a replay parses exactly what the exchange sent (spelling
of prices, key order, a malformed message and all). Two adjustments keep
one frame on one line: whitespace around the value is trimmed, and a line
break inside it (JSON allows one only between tokens, never inside a
string) becomes a space.

A frame that is not JSON (a ``PONG``, a server's error text, a binary frame
that is not UTF-8, shown with ``\\xNN`` escapes) keeps its text in a JSON
string instead, so that nothing received is lost::

    {"recv_ms":1764600000124.5,"text":"INVALID OPERATION"}

A replay hands that text to the parser, which counts it invalid.

A **gap**: the connection dropped and came back. Frames were lost while it
was down, so every book it carried is stale until its next ``book``
snapshot (the exchange sends fresh snapshots on every subscription)::

    {"recv_ms":1764600060000.0,"gap":{"reconnect":1,"reason":"no close frame received or sent","down_ms":812.5,"connection":0}}

``reconnect`` counts the reconnects of that connection (1 for its first),
``reason`` says why it went down, ``down_ms`` how long it stayed down and
``connection`` which of the recorder's connections it was (it shards its
assets over several). A gap is not a message: a replay does not count it
as generated, processed or invalid; it counts it and reports its line.

A **plain line**: a bare market-channel object or array, as ``orderbook-lab
source`` writes. A file may hold either kind of line; line numbers are the
file's own, whatever each line holds.

Reading is cheap on purpose. A line is an envelope only if it starts with
the bytes ``{"recv_ms"``, a prefix test in C; only those are decoded, by
one msgspec decoder built once, into a struct whose ``frame`` is a
``msgspec.Raw`` (validated, never turned into Python objects). Lines are
read and handed on as bytes: text that is not valid UTF-8 reaches the
parser as it is and is rejected there, rather than being "repaired" into a
lookalike asset id.

    >>> line = frame_line(1764600000123.456, '{"event_type": "book"}')
    >>> line
    b'{"recv_ms":1764600000123.456,"frame":{"event_type": "book"}}\\n'
    >>> reader = RecordingReader([line, gap_line(1764600000200.0, 1, "dropped", 50.0), b"[]"])
    >>> list(reader)
    [b'{"event_type": "book"}', b'', b'[]']
    >>> reader.stats()
    RecordingStats(gaps=1, gap_lines=(2,), frames_timed=1)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from math import isfinite
from pathlib import Path
from typing import Any, Literal

import msgspec

__all__ = [
    "ENVELOPE_PREFIX",
    "RecordingReader",
    "RecordingStats",
    "frame_line",
    "gap_line",
    "book_assets",
    "pace_basis",
]

ENVELOPE_PREFIX = b'{"recv_ms"'
"""How every envelope line starts (the recorder writes no space after ``{``)."""

MAX_KEPT_GAP_LINES = 1000
"""Gap line numbers kept for the report; beyond that they are only counted."""

_PACE_PROBE_LINES = 100
"""Lines ``pace_basis`` reads, at most, looking for something to pace by."""


# ----------------------------------------------------------------- writing

_encode = msgspec.json.encode
_as_raw = msgspec.json.Decoder(msgspec.Raw).decode
"""Validates JSON text without building objects, trims the whitespace around it."""


def frame_line(recv_ms: float, frame: str | bytes) -> bytes:
    """The line recording ``frame``, received at ``recv_ms`` (unix ms).

    JSON frames are embedded as they are; anything else goes in ``text``
    (see the module docstring). Cost: one validating scan of the frame, in C.

    >>> frame_line(1.5, "PONG")
    b'{"recv_ms":1.5,"text":"PONG"}\\n'
    >>> frame_line(2.0, b'[\\n {"a": 1}\\n]\\n')
    b'{"recv_ms":2.0,"frame":[  {"a": 1} ]}\\n'
    """
    stamp = _encode(round(recv_ms, 3))
    try:
        if type(frame) is str:  # a text frame: UTF-8 by the websocket protocol
            data = frame.encode("utf-8", "backslashreplace")
        else:  # a binary frame may be anything
            data = bytes(frame)
            data.decode("utf-8")
        raw = bytes(_as_raw(data))
    except (UnicodeDecodeError, msgspec.DecodeError):
        text = data.decode("utf-8", "backslashreplace")
        return b'{"recv_ms":' + stamp + b',"text":' + _encode(text) + b"}\n"
    if b"\n" in raw or b"\r" in raw:  # whitespace between tokens: a space keeps the value
        raw = raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return b'{"recv_ms":' + stamp + b',"frame":' + raw + b"}\n"


class _Gap(msgspec.Struct, frozen=True):
    """What a gap line says (see the module docstring)."""

    reconnect: int = 0
    reason: str = ""
    down_ms: float = 0.0
    connection: int = 0


def gap_line(recv_ms: float, reconnect: int, reason: str, down_ms: float, connection: int = 0) -> bytes:
    """The line marking a reconnect, written when the connection is back.

    >>> gap_line(10.0, 1, "server restart", 812.5)
    b'{"recv_ms":10.0,"gap":{"reconnect":1,"reason":"server restart","down_ms":812.5,"connection":0}}\\n'
    """
    gap = _Gap(reconnect, reason, round(down_ms, 3), connection)
    return b'{"recv_ms":' + _encode(round(recv_ms, 3)) + b',"gap":' + _encode(gap) + b"}\n"


class _Event(msgspec.Struct, gc=False):
    event_type: Any = None
    asset_id: Any = None


_decode_events = msgspec.json.Decoder(_Event | list[_Event]).decode


def book_assets(frame: str | bytes) -> list[str]:
    """Asset ids of the ``book`` snapshots in one frame (a recorder counts
    the books it has seen with this); ``[]`` for anything else. One C
    decode that skips every field but two.

    >>> book_assets('[{"event_type": "book", "asset_id": "1", "bids": []}, {"event_type": "price_change"}]')
    ['1']
    """
    try:
        decoded = _decode_events(frame)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []
    events = decoded if type(decoded) is list else [decoded]
    return [e.asset_id for e in events if e.event_type == "book" and type(e.asset_id) is str and e.asset_id]


# ----------------------------------------------------------------- reading


class _Envelope(msgspec.Struct, gc=False):
    recv_ms: float
    frame: msgspec.Raw = msgspec.Raw()
    text: str | None = None
    gap: _Gap | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


class _Stamped(msgspec.Struct, gc=False):
    timestamp: str | int | float | None = None


_decode_stamped = msgspec.json.Decoder(_Stamped | list[_Stamped]).decode


def _message_ms(line: bytes) -> float | None:
    """The ``timestamp`` (unix ms) of a plain line's message, or of the
    first message of an array that has one; ``None`` if there is none."""
    try:
        decoded = _decode_stamped(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    for item in decoded if type(decoded) is list else (decoded,):
        if item.timestamp is not None and item.timestamp != "":
            try:
                ms = float(item.timestamp)
            except ValueError:
                return None
            return ms if isfinite(ms) else None
    return None


@dataclass(frozen=True)
class RecordingStats:
    """What a replay learned about its file beyond the messages: the gap
    lines (reconnects of the recorder) and how many frames carried a
    receive time (0 for a plain file)."""

    gaps: int = 0
    gap_lines: tuple[int, ...] = ()
    frames_timed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"gaps": self.gaps, "gap_lines": list(self.gap_lines), "frames_timed": self.frames_timed}


class RecordingReader:
    """The payloads of a recording's lines, in order, one per line.

    ``lines`` is a file's path (opened in binary mode when iteration starts,
    closed when it ends) or any iterable of its raw lines, as bytes.
    Iterating yields, for each line: the frame of an envelope, the line
    itself if it is plain (or an envelope that cannot be read: the parser
    then says what is wrong with it), and ``b""`` for a blank or gap line,
    so that line numbers stay the file's. ``timed()`` yields the same
    payloads with the time each line was received or sent. Either can be
    iterated once. Cost: a prefix test per line (a file's lines are read in
    the same loop, with no generator between), plus one msgspec decode per
    envelope line.
    """

    def __init__(self, lines: str | Path | Iterable[bytes]) -> None:
        self._lines = lines
        self._gaps = 0
        self._gap_lines: list[int] = []
        self._frames_timed = 0

    def _open(self) -> AbstractContextManager[Iterable[bytes]]:
        lines = self._lines
        if isinstance(lines, (str, Path)):
            return open(lines, "rb")
        return nullcontext(lines)

    def __iter__(self) -> Iterator[bytes | str]:
        unwrap = self._unwrap
        with self._open() as lines:
            for line_no, line in enumerate(lines, 1):
                line = line.strip()
                if line.startswith(ENVELOPE_PREFIX):
                    line = unwrap(line, line_no)[0]
                yield line

    def timed(self) -> Iterator[tuple[bytes | str, float | None]]:
        """``(payload, ms)`` per line: an envelope's ``recv_ms``, a plain
        line's message ``timestamp``, or ``None`` when the line has neither.
        Both are unix milliseconds."""
        unwrap = self._unwrap
        with self._open() as lines:
            for line_no, line in enumerate(lines, 1):
                line = line.strip()
                if line.startswith(ENVELOPE_PREFIX):
                    yield unwrap(line, line_no)
                else:
                    yield line, (_message_ms(line) if line else None)

    def _unwrap(self, line: bytes, line_no: int) -> tuple[bytes | str, float | None]:
        try:
            envelope = _decode_envelope(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return line, None  # not an envelope after all: the parser says why
        if envelope.gap is not None:
            self._gaps += 1
            if len(self._gap_lines) < MAX_KEPT_GAP_LINES:
                self._gap_lines.append(line_no)
            return b"", envelope.recv_ms
        if len(envelope.frame):
            self._frames_timed += 1
            return bytes(envelope.frame), envelope.recv_ms
        if envelope.text is not None:
            self._frames_timed += 1
            return envelope.text, envelope.recv_ms
        return line, None  # an envelope with nothing in it

    def stats(self) -> RecordingStats:
        """Gaps and timed frames seen so far (all of them once iterated)."""
        return RecordingStats(self._gaps, tuple(self._gap_lines), self._frames_timed)


def pace_basis(lines: Iterable[bytes]) -> Literal["recv_ms", "timestamp"] | None:
    """What a recording can be paced by: its receive times, else its
    messages' timestamps, else nothing (``None``). Reads the first lines
    only (up to ``_PACE_PROBE_LINES`` that are not blank).

    >>> pace_basis([b'{"event_type": "book", "timestamp": "1764600000000"}'])
    'timestamp'
    >>> pace_basis([b"", b'{"event_type": "book"}']) is None
    True
    """
    probed = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if line.startswith(ENVELOPE_PREFIX):
            try:
                _decode_envelope(line)
                return "recv_ms"
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass
        elif _message_ms(line) is not None:
            return "timestamp"
        probed += 1
        if probed >= _PACE_PROBE_LINES:
            break
    return None
