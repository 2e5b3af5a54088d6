"""Phase 1, the ``sync`` engine: one thread, blocking, the baseline.

Everything happens in one loop: take a line from the source, parse it,
update the book, burn the CPU work, sleep the I/O wait, answer any queries
that fell due meanwhile. Nothing overlaps, so the ceiling is plain
arithmetic: at most ``1 / (work + io + overhead)`` messages per second, and
a query that falls due mid-message waits for that message to finish.
Every other engine is measured against this one.

With ``--event-log DIR`` each accepted message is appended to the event
log (``core/eventlog.py``) before it is applied: write-ahead, so the log
holds everything the books were built from. The append is inside the
timed loop, so its cost shows in the processing figures; ``stop`` syncs the
log to disk and closes it.
"""

from __future__ import annotations

import time

from ..core.eventlog import CorruptLog, EventLogWriter
from ..core.source import MessageSource
from ._pipeline import PROGRESS_EVERY, Pipeline, QuerySchedule
from .base import EngineError, Lifecycle, RunConfig, RunStats

__all__ = ["SyncEngine"]


class SyncEngine(Lifecycle):
    """Single-threaded, blocking engine (phase 1). The only thing ``stop``
    releases is the event log, when there is one."""

    name = "sync"

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self._pipeline: Pipeline | None = None
        self._source: MessageSource | None = None
        self._event_log: EventLogWriter | None = None

    def _open(self) -> None:
        """Build the router, calibrate the CPU work and open the event log,
        recovering a torn tail a crashed run left (startup_s)."""
        self._pipeline = Pipeline(self.config, self.clock)
        if self.config.event_log is not None:
            try:
                self._event_log = EventLogWriter(self.config.event_log)
            except (OSError, CorruptLog) as error:
                raise EngineError(f"cannot open the event log {self.config.event_log}: {error}") from None

    def _close(self) -> None:
        """Make the event log durable (one fsync) and close it."""
        if self._event_log is not None:
            try:
                self._event_log.sync()
            finally:
                self._event_log.close()

    def run(self, source: MessageSource) -> None:
        self._require_started()
        pipeline = self._pipeline
        assert pipeline is not None
        self._source = source
        now = self.clock.now_ns
        io_s = self.config.io_ms / 1e3
        queries = QuerySchedule(self.config.query_rate, self.config.seed, now())
        on_progress = self.on_progress
        frames = 0
        # Bound once: this loop runs per message, and each attribute lookup
        # in it is paid 100,000 times a second.
        accept, apply, record = pipeline.accept, pipeline.apply, pipeline.record
        log = self._event_log.append if self._event_log is not None else None
        answer_queries = queries.enabled
        for frame in source:
            produced = frame.produced_ns
            started = now()  # parsing counts as processing
            for message in accept(frame):
                if log is not None:
                    log(message, produced)
                apply(message)
                if io_s:
                    time.sleep(io_s)
                started = record(produced, started)
                if answer_queries:  # between messages: the only gap one thread has
                    self._answer_due_queries(queries)
                    started = now()
            frames += 1
            if on_progress is not None and frames % PROGRESS_EVERY == 0:
                on_progress(pipeline.generated)
        if on_progress is not None:
            on_progress(pipeline.generated)

    def _answer_due_queries(self, queries: QuerySchedule) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        assets = None
        for due in queries.due(self.clock.now_ns):
            if assets is None:  # the books cannot change while queries are answered
                assets = pipeline.router.assets()
            pipeline.answer_query(queries.pick(assets), due)

    def stats(self) -> RunStats:
        if self._pipeline is None:
            raise RuntimeError("engine never started")
        return self._pipeline.stats(
            self.name, self._source, startup_s=self._startup_s, shutdown_s=self._shutdown_s
        )

    def books(self) -> dict[str, dict[str, list[list]]]:
        if self._pipeline is None:
            raise RuntimeError("engine never started")
        return self._pipeline.router.export()
