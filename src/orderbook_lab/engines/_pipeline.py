"""The per-message path every engine shares: parse, route, work, measure.

Engines differ in *where* these steps run (one thread, an event loop, a
worker process) and in how messages travel between them, never in what the
steps do. Keeping them here is what lets every engine reach the same books:

    started = clock.now_ns()
    for message in pipeline.accept(frame):      # parse; count generated/invalid
        pipeline.apply(message)                 # book update + CPU work
        ...engine-specific waiting (sleep, await)...
        started = pipeline.record(frame.produced_ns, started)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from ..core.clock import Clock
from ..core.messages import Message
from ..core.metrics import LatencyHistogram, LittlesLaw, record_pair
from ..core.parser import Rejection, parse_line, parse_line_msgspec
from ..core.router import MessageRouter, RouterStats, books_digest
from ..core.source import Frame, MessageSource
from ._stats import AsyncioStats, PoolStats
from ._work import CpuWork
from .base import RunConfig, RunStats

__all__ = ["Pipeline", "QuerySchedule", "MAX_KEPT_REJECTIONS", "PROGRESS_EVERY"]

PROGRESS_EVERY = 256
"""Frames between two progress callbacks, in every engine: each one costs a
call and a clock read, so not per frame; often enough for a live counter."""

MAX_KEPT_REJECTIONS = 1000
"""Rejections kept with their reasons; beyond that they are only counted."""


class Pipeline:
    """Counters, histograms and the router for one stream of messages."""

    def __init__(
        self,
        config: RunConfig,
        clock: Clock,
        router: MessageRouter | None = None,
        work: CpuWork | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.router = router if router is not None else MessageRouter()
        # A worker process gets the parent's calibrated work, so every
        # worker burns the same iterations per message as the baseline.
        self.work = work if work is not None else CpuWork(config.work_ms)
        # ``--codec msgspec`` decodes the wire with msgspec typed structs too;
        # both parsers give the same messages and the same rejections.
        self._parse = parse_line_msgspec if config.codec == "msgspec" else parse_line
        self._has_work = config.work_ms > 0
        self._now = clock.now_ns
        if not config.metrics:  # only to measure what the histograms cost
            self.record = self._record_count_only
        if not self._has_work:  # nothing to add to the router's work: skip a call per message
            self.apply = self.router.apply
        # Other event types are counted by the router (per type); this
        # pipeline reports the ones it applied.
        self._other_before = sum(self.router.other.values())
        self.generated = 0
        self.processed = 0
        self.invalid = 0
        self.dropped: dict[str, int] = {}
        self.rejections: list[Rejection] = []
        self.latency = LatencyHistogram()
        self.processing = LatencyHistogram()
        self.query_latency = LatencyHistogram()
        self.queries = 0
        self.queue_high_water = 0
        self.first_produced_ns: int | None = None
        self.last_applied_ns: int | None = None

    # ------------------------------------------------------------ messages

    def accept(self, frame: Frame) -> list[Message]:
        """Parse one frame; count every message in it and set aside the
        rejected ones. O(size of the line)."""
        if self.first_produced_ns is None:
            self.first_produced_ns = frame.produced_ns
        items = self._parse(frame.text, frame.line_no)
        self.generated += len(items)
        if len(items) == 1 and type(items[0]) is not Rejection:  # the common case
            return items
        return self._sift(items)

    def accept_unparsed(self, frame: Frame) -> None:
        """Count a one-object line that another process will parse
        (``--parse-in worker``): one message, valid or not (the parser
        counts it ``invalid`` there)."""
        if self.first_produced_ns is None:
            self.first_produced_ns = frame.produced_ns
        self.generated += 1

    def parse(self, text: str | bytes, line_no: int) -> list[Message]:
        """Parse a line counted elsewhere (``accept_unparsed``): rejections
        are counted and kept here, ``generated`` is not."""
        items = self._parse(text, line_no)
        if len(items) == 1 and type(items[0]) is not Rejection:
            return items
        return self._sift(items)

    def _sift(self, items: list) -> list[Message]:
        messages = []
        for item in items:
            if type(item) is Rejection:
                self.invalid += 1
                if len(self.rejections) < MAX_KEPT_REJECTIONS:
                    self.rejections.append(item)
            else:
                messages.append(item)
        return messages

    def apply(self, message: Message) -> None:
        """Update the books, then do the configured CPU work."""
        self.router.apply(message)
        self.work()

    @property
    def other(self) -> int:
        """Messages of other event types applied (counted, never invalid)."""
        return sum(self.router.other.values()) - self._other_before

    def restore_other(self, other: int) -> None:
        """Count ``other`` as already applied (a restored worker's router
        holds them in its per-type counts)."""
        self._other_before = sum(self.router.other.values()) - other

    def record(self, produced_ns: int, started_ns: int) -> int:
        """Count one processed message and measure it; returns now (ns)."""
        now = self._now()
        self.processed += 1
        record_pair(self.latency, now - produced_ns, self.processing, now - started_ns)
        self.last_applied_ns = now
        return now

    def _record_count_only(self, produced_ns: int, started_ns: int) -> int:
        # ``RunConfig(metrics=False)``: the same clock read and counting,
        # no histograms; what is left out is what the metrics cost.
        now = self._now()
        self.processed += 1
        self.last_applied_ns = now
        return now

    def answer_query(self, asset: str | None, due_ns: int) -> None:
        """Read ``asset``'s book from this pipeline's own router and count
        the query, charged from its due time. ``None`` (no book yet) is
        answered at once: there is nothing to read."""
        if asset is not None:
            self.router.query(asset, self.config.query_depth)
        self.count_query(due_ns)

    def count_query(self, due_ns: int) -> None:
        """Count one answered query; its latency runs from ``due_ns`` to now."""
        self.queries += 1
        self.query_latency.record(self._now() - due_ns)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count messages discarded on purpose (by a backpressure policy)."""
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    # ------------------------------------------------------------ results

    def run_s(self) -> float:
        """From the first message produced to the last one applied."""
        if self.first_produced_ns is None or self.last_applied_ns is None:
            return 0.0
        return max(self.last_applied_ns - self.first_produced_ns, 0) / 1e9

    def stats(
        self,
        engine: str,
        source: MessageSource | None,
        *,
        startup_s: float,
        shutdown_s: float,
        asyncio: AsyncioStats | None = None,
        pool: PoolStats | None = None,
        books: dict[str, dict[str, list[list]]] | None = None,
        router_stats: RouterStats | None = None,
        littles_law: LittlesLaw | None = None,
    ) -> RunStats:
        """Freeze the counters. Engines whose books live elsewhere (worker
        processes) pass the gathered ``books`` and summed ``router_stats``;
        an engine with a queue passes its ``littles_law``."""
        if books is None:
            books = self.router.export()
        lag = source.schedule_lag if source is not None else LatencyHistogram()
        return RunStats(
            engine=engine,
            generated=self.generated,
            processed=self.processed,
            invalid=self.invalid,
            dropped=dict(self.dropped),
            # Workers' routers counted their own other events.
            other=self.other if router_stats is None else sum(router_stats.other.values()),
            rejections=tuple(self.rejections),
            latency_ms=self.latency.summary(1e6),
            processing_us=self.processing.summary(1e3),
            queries=self.queries,
            query_latency_us=self.query_latency.summary(1e3),
            queue_high_water=self.queue_high_water,
            schedule_lag_ms=lag.summary(1e6),
            books=len(books),
            digest=books_digest(books),
            run_s=self.run_s(),
            startup_s=startup_s,
            shutdown_s=shutdown_s,
            router=router_stats if router_stats is not None else self.router.stats(),
            asyncio=asyncio,
            pool=pool,
            recording=source.recording_stats() if source is not None else None,
            littles_law=littles_law,
        )


class QuerySchedule:
    """Read queries at a steady rate: query i is due at ``start + i / rate``.

    A query's latency runs from its due time to its answer, so a query that
    had to wait for a busy engine is charged for the wait. The asset asked
    about is drawn from a seeded RNG among the books that exist.
    """

    def __init__(self, rate: float, seed: int, start_ns: int) -> None:
        self.interval_ns = 1e9 / rate if rate > 0 else 0.0
        self.start_ns = start_ns
        self.issued = 0
        self._rng = random.Random(seed ^ 0x5EED)

    @property
    def enabled(self) -> bool:
        return self.interval_ns > 0

    def next_due_ns(self) -> float:
        return self.start_ns + self.issued * self.interval_ns

    def take_due(self, now_ns: int) -> int | None:
        """The due time of the next query if it is due by ``now_ns``, else None."""
        if not self.interval_ns:
            return None
        due = self.next_due_ns()
        if due > now_ns:
            return None
        self.issued += 1
        return int(due)

    def due(self, now: Callable[[], int]) -> Iterator[int]:
        """The due time of each query due by now, reading ``now`` again
        before each: the loop every engine runs to answer what fell due
        (answering takes time, and more may fall due meanwhile)."""
        while (due := self.take_due(now())) is not None:
            yield due

    def pick(self, assets: list[str]) -> str | None:
        return assets[self._rng.randrange(len(assets))] if assets else None
