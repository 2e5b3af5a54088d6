"""Progress displays: a bar for runs longer than a second, a status line
for recordings.

Engines and the recorder never print; they call a progress callback. These
draw on stderr, so stdout keeps only the results, and only when stderr is
a terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:  # loading the live package loads websockets: only for `record`
    from ..live.recorder import RecordStats

_DELAY_S = 1.0
_UPDATES_PER_S = 20


class DelayedProgress:
    """Callable progress sink: ``progress(done)``; use as a context manager.

    It costs the run it watches next to nothing: engines call it every few
    hundred messages, it keeps at most ``_UPDATES_PER_S`` of those calls,
    and the bar redraws four times a second. (Drawn from a thread, each
    redraw takes the GIL from the engine; at rich's default of ten a
    second, a flat-out replay ran 5 % slower in a terminal.)
    """

    def __init__(self, console: Console, label: str, total: int | None) -> None:
        self._console = console
        self._label = label
        self._total = total
        self.details: Callable[[], RenderableType | None] | None = None
        """Drawn under the bar at each redraw when it returns something
        (phase 7: the workers' health); set it before the run starts."""
        self._progress: Progress | None = None
        self._task = None
        # Nothing before _DELAY_S; nothing ever when stderr is not a terminal.
        self._next_update = time.perf_counter() + _DELAY_S if console.is_terminal else math.inf

    def __enter__(self) -> DelayedProgress:
        return self

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if now < self._next_update:
            return
        self._next_update = now + 1 / _UPDATES_PER_S
        if self._progress is None:
            self._progress = _ProgressWithDetails(
                self.details,
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("msgs"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
                refresh_per_second=4,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=self._total)
        self._progress.update(self._task, completed=done)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class _ProgressWithDetails(Progress):
    """A progress bar with something drawn under it (from its own redraw
    thread, so the details are read as often as the bar is drawn)."""

    def __init__(self, details: Callable[[], RenderableType | None] | None, *columns, **options) -> None:
        self._details = details  # before Progress.__init__, which may draw
        super().__init__(*columns, **options)

    def get_renderables(self):
        yield from super().get_renderables()
        if getattr(self, "_details", None) is not None:
            extra = self._details()
            if extra is not None:
                yield extra


def record_status(stats: RecordStats, frames_per_s: float) -> str:
    """One line about a recording in progress.

    >>> from orderbook_lab.live.recorder import RecordStats
    >>> record_status(RecordStats(1234, 99_000, 20, 1, 2, 2, 83.4), 56.25)
    'recording: 56.2 frames/s, 1,234 frames, 20 books, 1 reconnect, 2/2 connections up, 0:01:23'
    """
    elapsed = timedelta(seconds=int(stats.elapsed_s))
    return (
        f"recording: {frames_per_s:.1f} frames/s, {stats.frames:,} frames, {stats.books:,} books, "
        f"{stats.reconnects:,} reconnect{'' if stats.reconnects == 1 else 's'}, "
        f"{stats.connections_up}/{stats.connections} connections up, {elapsed}"
    )


class RecordProgress:
    """Callable sink for ``Recorder`` progress: a live status line on
    stderr (frames per second over the last tick); use as a context manager."""

    def __init__(self, console: Console) -> None:
        self._live = (
            Live(console=console, transient=True, auto_refresh=False) if console.is_terminal else None
        )
        self._last = (0.0, 0)

    def __enter__(self) -> RecordProgress:
        if self._live is not None:
            self._live.start()
        return self

    def __call__(self, stats: RecordStats) -> None:
        last_s, last_frames = self._last
        span = stats.elapsed_s - last_s
        rate = (stats.frames - last_frames) / span if span > 0 else 0.0
        self._last = (stats.elapsed_s, stats.frames)
        if self._live is not None:
            self._live.update(Text(record_status(stats, rate)), refresh=True)

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()
