"""Phase 4, the ``shared-memory`` engine: workers publish, readers read.

Everything of phase 3 stays: the parent parses and routes, each worker
process owns its books and applies its batches. What changes is how a book
gets *out*. Each worker also keeps a ``BookStore`` (``_shm/``) and, after
applying a frame (or at most every ``--sync-ms``), publishes every book the
frame touched into shared memory. The parent opens a ``BookReader`` on the
same run prefix and answers queries from there: a few 8-byte loads, one
``memcpy`` and a decode, about 8-10 µs for a depth-10 read, with no message
to the worker and no wait behind its queue.

What is published: **whole books**, not the top N. A whole book makes
shared memory an exact replica (any depth can be answered, and the final
books read from shared memory must equal the workers' own: this engine
checks it at the end of every run); the simulator's books have a few dozen
levels a side, 10 bytes each. ``BookStore(depth=N)`` exists for books too
deep for that.

Staleness: each answer carries ``age_ns``, how long before the read the
book was last known to be in that state (the later of its own publish and
its worker's last publish round). ``--sync-ms 0`` publishes after every
frame; a larger value trades fewer publishes (worker CPU) for older
answers (experiment 4.3), and a worker that runs out of frames publishes
what is pending once its interval is up (``idle_timeout_s``), so a quiet
stream is not left unpublished.

Hygiene: the parent draws a run-unique prefix (``obl-{pid}-{8 hex}``)
before spawning; each worker unlinks its own segments as it leaves (its
``WorkerCore.close``); and the parent, after joining every worker, unlinks
whatever of the prefix is still in ``/dev/shm`` (``cleanup``): the segments
of a worker that was SIGKILLed or terminated. That last step runs in
``stop``'s ``finally``, so a normal end, Ctrl-C, SIGTERM and a crashed run
all leave nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.metrics import LatencyHistogram
from ..core.router import books_digest
from ._pipeline import QuerySchedule
from ._shm import BookReader, BookStore, ReadBusy, ShmSnapshot, StoreStats, cleanup, new_prefix, touched_assets
from ._worker import Drain, Reply, Stop, WorkerCore, WorkerReport
from .base import RunConfig, RunStats
from .multiprocessing import MultiprocessingEngine

__all__ = ["SharedMemoryEngine"]


@dataclass(frozen=True)
class ShmWorkerReport(WorkerReport):
    """A phase 3 report plus what the worker's store did: its ``store``
    stats, publish ``rounds``, and the wall and CPU time spent publishing."""

    store: StoreStats
    rounds: int
    publish_ns: int
    publish_cpu_ns: int


class ShmWorkerCore(WorkerCore):
    """A phase 3 worker that also publishes its books to shared memory.

    The store (its directory segment) is created here, before the worker
    says ``Ready``, so the parent may attach as soon as ``start`` returns.
    Publishing costs about 5-10 µs per touched book (encode, then one
    ``memcpy`` under the seqlock), once per round however many messages
    touched that book in between.
    """

    def __init__(
        self,
        worker: int,
        config: RunConfig,
        per_ms: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        *,
        prefix: str,
    ) -> None:
        super().__init__(worker, config, per_ms, clock)
        self.store = BookStore(prefix, worker, clock=clock)
        self._sync_ns = int(config.sync_ms * 1e6)
        self._dirty: set[str] = set()
        self._last_round_ns = 0
        self.rounds = 0
        self.publish_ns = 0
        self.publish_cpu_ns = 0

    def handle(self, frame: tuple[list, list], received_ns: int) -> tuple[Reply, bool]:
        updates, controls = frame
        if updates:
            self._dirty.update(touched_assets(message for _, _, message in updates))
        if any(type(control) in (Drain, Stop) for control in controls):
            # The parent waits on a drain for "everything applied": make that
            # "everything applied and published", whatever --sync-ms says.
            self._last_round_ns = 0
        return super().handle(frame, received_ns)

    def after_frame(self) -> None:
        if self._dirty and self.clock.now_ns() - self._last_round_ns >= self._sync_ns:
            self._publish()

    def idle_timeout_s(self) -> float | None:
        if not self._dirty:
            return None
        return max(self._last_round_ns + self._sync_ns - self.clock.now_ns(), 0) / 1e9

    def on_idle(self) -> None:
        if self._dirty:
            self._publish()

    def _publish(self) -> None:
        """One round: every book touched since the last round, then the
        round's stamp (``mark_synced``). O(touched books x levels)."""
        began, cpu = self.clock.now_ns(), time.thread_time_ns()
        router, publish = self.pipeline.router, self.store.publish
        for asset_id in self._dirty:
            book = router.get(asset_id)
            if book is not None:
                publish(book, began)
        self._dirty.clear()
        self.store.mark_synced(began)
        self.rounds += 1
        self._last_round_ns = done = self.clock.now_ns()
        self.publish_ns += done - began
        self.publish_cpu_ns += time.thread_time_ns() - cpu

    def report(self) -> ShmWorkerReport:
        base = super().report()
        return ShmWorkerReport(
            **{f.name: getattr(base, f.name) for f in fields(WorkerReport)},
            store=self.store.stats(),
            rounds=self.rounds,
            publish_ns=self.publish_ns,
            publish_cpu_ns=self.publish_cpu_ns,
        )

    def close(self) -> None:
        self.store.close()


class SharedMemoryEngine(MultiprocessingEngine):
    """Phase 3's workers, publishing to shared memory; queries read it (phase 4)."""

    name = "shared-memory"
    core_factory = ShmWorkerCore

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.prefix = new_prefix()
        self._books_reader: BookReader | None = None
        self._staleness = LatencyHistogram()
        self._query_wait = LatencyHistogram()
        self._query_read = LatencyHistogram()
        self._busy = 0
        self._unpublished = 0
        self._shm_digest: str | None = None
        self._leftover: list[str] = []

    def _core_factory(self):
        return partial(ShmWorkerCore, prefix=self.prefix)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        super().start()
        self._books_reader = BookReader(self.prefix, self.workers, clock=self.clock)

    def _run(self, source) -> None:
        super()._run(source)
        # Drained: every worker has applied and published everything, so
        # shared memory must now hold exactly the workers' books.
        self._shm_digest = books_digest(self.shm_books())

    def _halt(self, abort: bool) -> None:
        # Readers first (they never unlink), then the workers (each unlinks
        # its own segments as it leaves), then whatever a killed or
        # terminated worker left: only after every worker is joined, so no
        # live writer loses a segment under its readers.
        try:
            if self._books_reader is not None:
                self._books_reader.close()
        finally:
            try:
                super()._halt(abort)
            finally:
                self._leftover = cleanup(self.prefix)

    # ------------------------------------------------------------ reading

    def read(self, asset_id: str, depth: int | None = None) -> ShmSnapshot | None:
        """``asset_id``'s book as last published (best ``depth`` levels a
        side, or all), with its age; ``None`` if not published yet. No IPC.
        Between ``start`` and ``stop``, from the thread that drives the engine."""
        if self._books_reader is None or self._state != "started":
            raise RuntimeError("reads need a started engine")
        return self._books_reader.read(asset_id, depth)

    def shm_books(self) -> dict[str, dict[str, list[list]]]:
        """Every published book, whole, read from shared memory, in the
        ``--books-out`` form. O(books x levels)."""
        if self._books_reader is None or self._state != "started":
            raise RuntimeError("reads need a started engine")
        books = {}
        for asset_id in self._books_reader.assets():
            snapshot = self._books_reader.read(asset_id)
            if snapshot is not None:
                books[asset_id] = snapshot.export()
        return books

    def _issue_queries(self, queries: QuerySchedule, batches: list[list]) -> None:
        """Answer every due query from shared memory, here and now: no frame
        to a worker, no waiting for a reply."""
        now = self.clock.now_ns
        read = self._books_reader.read
        depth = self.config.query_depth
        pipeline = self._pipeline
        while (due := queries.take_due(now())) is not None:
            asset = queries.pick(self._routes.book_assets)
            began = now()
            snapshot = None
            if asset is not None:
                try:
                    snapshot = read(asset, depth)
                except ReadBusy:
                    self._busy += 1
                    continue
            done = now()
            pipeline.queries += 1
            pipeline.query_latency.record(done - due)
            self._query_wait.record(began - due)
            self._query_read.record(done - began)
            if snapshot is None:
                self._unpublished += 1  # routed to a worker, not yet published by it
            else:
                self._staleness.record(snapshot.age_ns)

    # ------------------------------------------------------------ results

    def _gather(self) -> RunStats:
        stats = super()._gather()
        reports: list[ShmWorkerReport] = [self._reports[w] for w in range(self.workers)]  # type: ignore[misc]
        extra: dict[str, Any] = stats.extra
        extra["query_breakdown_us"] = {
            name: {**histogram.summary(1e3).as_dict(("p50", "p99", "max")),
                   "mean": round(histogram.mean_ns() / 1e3, 3)}
            for name, histogram in (("wait", self._query_wait), ("read", self._query_read),
                                    ("total", self._pipeline.query_latency))
        }  # fmt: skip
        extra["query_outcomes"].update(busy=self._busy, unpublished=self._unpublished)
        extra["staleness_ms"] = self._staleness.summary(1e6).as_dict()
        run_s = stats.run_s
        stores = [r.store for r in reports]
        reader = self._books_reader.stats() if self._books_reader is not None else None
        extra["shared_memory"] = {
            "prefix": self.prefix,
            "sync_ms": self.config.sync_ms,
            "publishes": sum(s.publishes for s in stores),
            "rounds": sum(r.rounds for r in reports),
            "moves": sum(s.moves for s in stores),
            "bytes_written": sum(s.bytes_written for s in stores),
            "mapped_bytes": sum(s.mapped_bytes for s in stores),
            "used_bytes": sum(s.used_bytes for s in stores),
            "segments": sum(s.segments for s in stores),
            "publish_ms": round(sum(r.publish_ns for r in reports) / 1e6, 3),
            "publish_cpu_ms": round(sum(r.publish_cpu_ns for r in reports) / 1e6, 3),
            "publish_cpu_share": round(sum(r.publish_cpu_ns for r in reports) / 1e9 / run_s, 4) if run_s else 0.0,
            "workers": [
                {"worker": r.worker, "books": r.store.books, "publishes": r.store.publishes,
                 "rounds": r.rounds, "moves": r.store.moves, "mapped_bytes": r.store.mapped_bytes,
                 "used_bytes": r.store.used_bytes, "publish_cpu_ms": round(r.publish_cpu_ns / 1e6, 3)}
                for r in reports
            ],
            "reader": None if reader is None else {
                "reads": reader.reads, "retries": reader.retries, "busy": reader.busy,
                "relocations": reader.relocations, "torn_rejected": reader.torn_rejected,
                "misses": reader.misses,
            },
            "books_match": self._shm_digest == stats.digest,
            "segments_left_at_stop": len(self._leftover),
        }  # fmt: skip
        return stats
