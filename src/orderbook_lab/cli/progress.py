"""A progress display that appears only for runs longer than a second.

Engines never print; they call a progress callback. This one draws a
rich progress bar on stderr, so stdout keeps only the results.
"""

import math
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
        self._progress: Progress | None = None
        self._task = None
        # Nothing before _DELAY_S; nothing ever when stderr is not a terminal.
        self._next_update = time.perf_counter() + _DELAY_S if console.is_terminal else math.inf

    def __enter__(self) -> "DelayedProgress":
        return self

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if now < self._next_update:
            return
        self._next_update = now + 1 / _UPDATES_PER_S
        if self._progress is None:
            self._progress = Progress(
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
