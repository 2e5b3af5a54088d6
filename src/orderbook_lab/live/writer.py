"""Frames and gaps into a recording file, counted as they go.

The writer turns each frame into its line (``core.recording.frame_line``)
and appends it to a buffered file at once, in the event loop's thread:
a ``write`` into a 1 MiB buffer costs about a microsecond, far below the
time between two frames of the feed, so no writer thread or queue is
needed. The recorder calls ``flush`` a few times a second, so a recording
killed outright loses well under a second of frames, and ``close`` on every
way out (end of ``--duration``, Ctrl-C, an error), so a recording that
ends holds every frame received.

It also counts the books it has seen: the distinct asset ids of ``book``
snapshots, which tell whether the subscription worked.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from ..core.recording import book_assets, frame_line, gap_line

__all__ = ["RecordingWriter"]

_BUFFER_BYTES = 1 << 20


class RecordingWriter:
    """Appends frames and gap lines to ``path`` (created or truncated).

    A context manager; ``close`` flushes and is idempotent. Counters:
    ``frames``, ``gaps``, ``bytes`` (written to the file) and ``books``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("wb", buffering=_BUFFER_BYTES)
        self._books: set[str] = set()
        self.frames = 0
        self.gaps = 0
        self.bytes = 0

    @property
    def books(self) -> int:
        """Distinct assets a ``book`` snapshot was received for."""
        return len(self._books)

    def frame(self, recv_ms: float, data: str | bytes) -> None:
        """Record one frame received at ``recv_ms`` (unix ms). O(frame size)."""
        line = frame_line(recv_ms, data)
        self._file.write(line)
        self.frames += 1
        self.bytes += len(line)
        if ('"book"' if type(data) is str else b'"book"') in data:  # most frames hold no snapshot
            self._books.update(book_assets(data))

    def gap(self, recv_ms: float, reconnect: int, reason: str, down_ms: float, connection: int = 0) -> None:
        """Record that ``connection`` was down ``down_ms`` and is back."""
        line = gap_line(recv_ms, reconnect, reason, down_ms, connection)
        self._file.write(line)
        self.gaps += 1
        self.bytes += len(line)

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
