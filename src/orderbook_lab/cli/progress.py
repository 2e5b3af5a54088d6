"""A progress display that appears only for runs longer than a second.

Engines never print; they call a progress callback. This one draws a
rich progress bar on stderr, so stdout keeps only the results.
"""

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_DELAY_S = 1.0


class DelayedProgress:
    """Callable progress sink: ``progress(done)``; use as a context manager."""

    def __init__(self, console: Console, label: str, total: int | None) -> None:
        self._console = console
        self._label = label
        self._total = total
        self._began = time.perf_counter()
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> "DelayedProgress":
        return self

    def __call__(self, done: int) -> None:
        if self._progress is None:
            if time.perf_counter() - self._began < _DELAY_S or not self._console.is_terminal:
                return
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("msgs"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=self._total)
        self._progress.update(self._task, completed=done)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
