"""A source that can be told to stop: how a service ends its run cleanly.

An engine's run ends when its source does; everything after that (the
drain, the workers' final reports, the books, the result table) is the
ordinary end of a run. So the graceful way to stop a long-lived service
is not to interrupt the engine but to end its stream: ``stop()`` (from a
signal handler or any thread) makes the source yield nothing more, the
dispatcher finishes the frame in hand, and ``engine.run`` returns as if
the stream had run out.

A paced source spends most of its time asleep until its next line is
due; it sleeps on an event here, so ``stop()`` wakes it at once instead
of after the rest of the interval.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.source import Frame, MessageSource
from ..engines import RunConfig

__all__ = ["StoppableSource", "replayed_source", "simulated_source"]


class _WakeableClock:
    """``clock``'s time; its sleeps end early when ``stopped`` is set."""

    def __init__(self, clock: Clock, stopped: threading.Event) -> None:
        self._clock = clock
        self._stopped = stopped
        self.now_ns = clock.now_ns

    def sleep_until_ns(self, deadline_ns: int) -> None:
        remaining = deadline_ns - self._clock.now_ns()
        if remaining > 0:
            self._stopped.wait(remaining / 1e9)


class StoppableSource(MessageSource):
    """A ``MessageSource`` that ends early once ``stop()`` is called (see
    the module docstring). Built with the same constructors
    (``synthetic``, ``from_file``), which pass their arguments through."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stopped = threading.Event()
        self.clock = _WakeableClock(self.clock, self._stopped)

    def stop(self) -> None:
        """End the stream after the frame in hand. Safe from a signal
        handler and from any thread; idempotent."""
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def frames(self, clock: Clock | None = None) -> Iterator[Frame]:
        with closing(super().frames(clock)) as frames:  # closed now, not when collected
            if self._stopped.is_set():
                return
            for frame in frames:
                if self._stopped.is_set():
                    return
                yield frame


def simulated_source(config: RunConfig, clock: Clock = SYSTEM_CLOCK) -> StoppableSource:
    """``config``'s simulated stream (endless when it names neither
    ``messages`` nor ``duration_s``), stoppable. ``ValueError`` as
    ``RunConfig.synthetic_source`` raises it."""
    return StoppableSource.synthetic(
        config.source_config(),
        rate=config.rate,
        duration_s=config.duration_s,
        clock=clock,
        rate_ramp=config.rate_ramp,
    )


def replayed_source(path: Path, config: RunConfig, clock: Clock = SYSTEM_CLOCK) -> StoppableSource:
    """A replay of ``path`` paced by ``config.rate`` or ``config.speed``, stoppable."""
    return StoppableSource.from_file(
        path, rate=config.rate, speed=config.speed, duration_s=config.duration_s, clock=clock
    )
