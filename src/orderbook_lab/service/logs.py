"""Structured logs: one JSON object a line, written off the caller's thread.

Each event is a dict, not a sentence: ``{"event": "breaker", "worker": 0,
"to": "open", ...}``, so a log tool can filter on ``worker == 0`` without
a regular expression. Context that several events share (the component,
the worker, the asset, a request's correlation id) is bound once with
``bind`` and carried by every event logged through the bound logger.

Writing is not the caller's job. structlog renders the event to a JSON
string in the calling thread (microseconds), then hands it to a
``logging.handlers.QueueHandler``, which only appends to a queue; a
``QueueListener`` thread takes lines off that queue and writes them to the
file or stderr. A slow disk, a full pipe or a paused terminal then holds
up the listener thread, never the thread that logged. The queue is
unbounded on purpose: a bounded one would have to block or drop when the
writer falls behind, and a service's log volume is bounded by what it
logs (events, and per-message events only at ``--log-sample``).

Per-message events (one per book request here) would swamp the log at
full rate, so they are sampled: ``sample`` is the share kept, counted
deterministically (0.25 keeps exactly every fourth), which makes the
volume predictable and a test exact. Events that happen once (start,
stop, a breaker opening) are never sampled.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any, TextIO

import structlog

__all__ = ["LOG_LEVELS", "LogSink", "open_log"]

LOG_LEVELS = ("debug", "info", "warning", "error")

_LOGGER_NAME = "orderbook_lab.service"


class _Sampler:
    """A structlog processor that keeps ``rate`` of the events logged with
    ``sampled=True`` and drops the rest (module docstring). Thread-safe."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a sample rate is a share from 0 to 1, got {rate!r}")
        self.rate = rate
        self._credit = 0.0
        self._lock = threading.Lock()

    def __call__(self, _logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        if not event.pop("sampled", False):
            return event
        with self._lock:
            self._credit += self.rate
            if self._credit < 1.0 - 1e-9:
                raise structlog.DropEvent
            self._credit -= 1.0
        event["sample_rate"] = self.rate
        return event


class LogSink:
    """Where a service's events go: ``logger()`` gives bound loggers,
    ``close()`` flushes every queued line and stops the writer thread
    (idempotent). ``destination`` is the handler that does the writing (a
    ``StreamHandler`` or ``FileHandler``; tests pass their own)."""

    def __init__(self, destination: logging.Handler, level: str = "info", sample: float = 1.0) -> None:
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        destination.setFormatter(logging.Formatter("%(message)s"))
        self.destination = destination
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.handler = QueueHandler(self.queue)
        self._listener = QueueListener(self.queue, destination)
        self._listener.start()
        # A logger of its own for each sink, so two sinks in one process
        # (tests) never write into each other's file.
        self._stdlib = logging.getLogger(f"{_LOGGER_NAME}.{id(self):x}")
        self._stdlib.propagate = False
        self._stdlib.setLevel(logging.DEBUG)
        self._stdlib.addHandler(self.handler)
        self.sampler = _Sampler(sample)
        self._level = getattr(logging, level.upper())
        self._closed = False

    def logger(self, **context: Any) -> structlog.typing.FilteringBoundLogger:
        """A logger with ``context`` bound (``component=...``); bind more
        with ``.bind(worker=...)``. Events below the level cost one comparison."""
        logger = structlog.wrap_logger(
            self._stdlib,
            processors=[
                structlog.processors.add_log_level,
                self.sampler,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(sort_keys=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(self._level),
            cache_logger_on_first_use=False,
        )
        return logger.bind(**context)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._listener.stop()  # writes what is queued, then joins the thread
        self._stdlib.removeHandler(self.handler)
        self.destination.close()


def open_log(
    path: Path | None, level: str = "info", sample: float = 1.0, stream: TextIO | None = None
) -> LogSink:
    """A sink writing JSON lines to ``path`` (appended), or to ``stream``
    (default stderr) when no path is given. ``OSError`` if the file
    cannot be opened, before any thread starts."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        destination: logging.Handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    else:
        destination = logging.StreamHandler(stream if stream is not None else sys.stderr)
    try:
        return LogSink(destination, level, sample)
    except ValueError:
        destination.close()
        raise
