"""Progress displays: drawn on a terminal only, and the recording status
line says frames per second over the last tick."""

import io

from rich.console import Console

from orderbook_lab.cli.progress import RecordProgress, record_status
from orderbook_lab.live.recorder import RecordStats


def _stats(frames: int, elapsed_s: float, reconnects: int = 0) -> RecordStats:
    return RecordStats(frames, frames * 100, 4, reconnects, 1, 1, elapsed_s)


def test_the_record_status_line_shows_the_rate_since_the_last_tick():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200, color_system=None)
    with RecordProgress(console) as progress:
        progress(_stats(100, 1.0))
        progress(_stats(400, 1.5, reconnects=1))  # 300 frames in half a second
    assert (
        "600.0 frames/s, 400 frames, 4 books, 1 reconnect, 1/1 connections up, 0:00:01" in screen.getvalue()
    )


def test_nothing_is_drawn_when_stderr_is_not_a_terminal():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=False)
    with RecordProgress(console) as progress:
        progress(_stats(10, 1.0))
    assert screen.getvalue() == ""


def test_the_status_line_counts_in_words():
    assert "0 reconnects" in record_status(_stats(0, 0.0), 0.0)
    assert "2 reconnects" in record_status(_stats(5, 3.0, reconnects=2), 1.0)
