"""Phase 4, the ``shared-memory`` engine: workers publish, readers read.

Everything of phase 3 stays: the parent parses and routes, each worker
process owns its books and applies its batches. What changes is how a book
gets *out*. Each worker also keeps a ``BookStore`` (``_shm/``) and, after
applying a frame (or at most every ``--sync-ms``), publishes every book the
frame touched into shared memory. The parent opens a ``BookReader`` on the
same run prefix and answers queries from there: a few 8-byte loads, one
``memcpy``, a crc32 and a decode, about 8-10 µs for a depth-10 read on a
quiet core, with no message to the worker and no wait behind its queue.

What is published: **whole books**, not the top N. A whole book makes
shared memory an exact replica (any depth can be answered, and the books
read back from shared memory at the end of every run must equal the
workers' own: ``shared_memory.books_match`` in the result); the
simulator's books have a few dozen levels a side, at 10 bytes a level.
``BookStore(depth=N)`` exists for books too deep for that.

Staleness: each answer carries ``age_ns``, how long before the read its
worker last vouched for that state (the later of the book's own publish and
the worker's last publish round). With ``--sync-ms 0`` a worker publishes
after every frame it applies; a larger value trades fewer publishes (worker
CPU) for older answers (experiment 4.3). A worker that runs out of frames
publishes what is pending once its interval is up (``idle_timeout_s``), so
a paced stream is not left unpublished. The age is an upper bound: a worker
with nothing to apply does not re-stamp its books, so their age grows
although they are current.

Hygiene: the parent draws a run-unique prefix (``obl-{pid}-{8 hex}``)
before spawning; each worker unlinks its own segments as it leaves (its
``WorkerCore.close``, however it leaves, short of being killed); and the
parent, after joining every worker, unlinks whatever of the prefix is
still in ``/dev/shm`` (``cleanup``): the segments of a worker that was
SIGKILLed or had to be terminated. That last step runs in ``stop``, in a
``finally``, so a normal end, Ctrl-C, SIGTERM and a crashed worker all
leave nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Literal

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.messages import Message
from ..core.metrics import LatencyHistogram, Percentiles
from ..core.router import books_digest
from ..core.source import MessageSource
from ._pipeline import QuerySchedule
from ._shm import (
    BookReader,
    BookStore,
    ReadBusy,
    ShmSnapshot,
    StoreStats,
    cleanup,
    new_prefix,
    touched_assets,
)
from ._stats import QueryPart, ShmStats, ShmWorkerStats
from ._worker import Drain, Reply, Stop, WorkerCore, WorkerReport
from .base import EngineError, RunConfig, RunStats
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
    Publishing costs about 5-10 µs per touched book (take its columns,
    encode, one ``memcpy`` under the seqlock), once per round however many
    messages touched that book since the last one.
    """

    report_type = ShmWorkerReport

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
        self._next_round_ns = 0  # a round may start from then on (0: at once)
        self.rounds = 0
        self.publish_ns = 0
        self.publish_cpu_ns = 0

    def handle(self, frame: tuple[list, list], received_ns: int) -> tuple[Reply, bool]:
        _updates, controls = frame
        if any(type(control) in (Drain, Stop) for control in controls):
            # The parent waits on a drain for "everything applied": make that
            # "everything applied and published", whatever --sync-ms says.
            self._next_round_ns = 0
        return super().handle(frame, received_ns)

    def after_frame(self, messages: Iterator[Message]) -> None:
        self._dirty.update(touched_assets(messages))
        if self._dirty and self.clock.now_ns() >= self._next_round_ns:
            self._publish()

    def idle_timeout_s(self) -> float | None:
        health = super().idle_timeout_s()
        if not self._dirty:
            return health
        publish = max(self._next_round_ns - self.clock.now_ns(), 0) / 1e9
        return publish if health is None else min(publish, health)

    def on_idle(self):
        if self._dirty and self.clock.now_ns() >= self._next_round_ns:
            self._publish()
        return super().on_idle()

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
        self._next_round_ns = began + self._sync_ns
        self.publish_ns += self.clock.now_ns() - began
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
    """Phase 3's workers, publishing to shared memory; queries read it (phase 4).

    ``queries_from`` says who asks the ``--query-rate`` queries:

    * ``"loop"`` (the default): the dispatch loop itself, between two input
      lines, where phase 3 sends its queries, so the two phases compare
      like for like. No thread, no GIL hand-over; a due query waits for
      whatever the loop is doing (parsing a line, encoding and writing a
      frame to a worker).
    * ``"thread"``: a query-client thread of the parent, which sleeps until
      a query is due. Dispatch never runs queries; but the thread must wake
      up and then get the GIL, which the dispatch loop holds most of the
      time (experiment 4.1: it waits longer than the loop's queries do).

    Either way a query's latency (``queries.latency_us``) runs from the
    moment it is *issued* (the asking thread holds the GIL and starts the
    read) to its answer: the query path, which has no IPC. How late after
    its due time it was issued is reported apart (``query_breakdown_us``:
    ``wait``, and ``from_due`` for the sum), because that measures the
    asking thread's scheduling, not the path. Before it reads, the asker
    maps any segment the workers created since its last queries
    (``map_ahead``): mapping one costs several reads, so it is done once,
    outside every read, and shows in that query's wait.
    """

    name = "shared-memory"
    core_factory = ShmWorkerCore

    def __init__(
        self, config: RunConfig, *, queries_from: Literal["loop", "thread"] = "loop", **kwargs
    ) -> None:
        if queries_from not in ("loop", "thread"):
            raise ValueError(f"queries_from must be 'loop' or 'thread', not {queries_from!r}")
        super().__init__(config, **kwargs)
        self.queries_from = queries_from
        self.prefix = new_prefix()
        self._books_reader: BookReader | None = None
        self._query_path = LatencyHistogram()  # issued -> answered
        self._query_wait = LatencyHistogram()  # due -> issued
        self._query_from_due = LatencyHistogram()  # due -> answered
        self._staleness = LatencyHistogram()
        self._queries_done = threading.Event()
        self._busy = 0
        self._unpublished = 0
        self._shm_digest: str | None = None
        self._leftover: list[str] = []

    def _core_factory(self) -> partial[ShmWorkerCore]:
        return partial(ShmWorkerCore, prefix=self.prefix)

    # ------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        super()._open()
        # Every worker created its directory before saying Ready: map them now.
        self._books_reader = BookReader(self.prefix, self.workers, clock=self.clock)
        self._books_reader.map_ahead()

    def _run(self, source: MessageSource) -> None:
        client = None
        if self.queries_from == "thread" and self.config.query_rate > 0:
            schedule = QuerySchedule(self.config.query_rate, self.config.seed, self.clock.now_ns())
            client = threading.Thread(
                target=self._query_client, args=(schedule,), name="orderbook-lab-queries"
            )
            client.start()
        try:
            super()._run(source)
        finally:
            if client is not None:
                self._queries_done.set()  # wakes it at once; it leaves before its next read
                client.join()
        pipeline = self._pipeline
        assert pipeline is not None
        pipeline.queries += self._query_path.count
        pipeline.query_latency.merge(self._query_path)
        # Drained: every worker has applied and published everything, so
        # shared memory must now hold exactly the workers' books.
        self._shm_digest = books_digest(self.shm_books())

    def _halt(self, abort: bool) -> None:
        # Readers first (they never unlink), then the workers (each unlinks
        # its own segments as it leaves), then whatever a killed or
        # terminated worker left: only once every worker is joined, so no
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
        side, or all), with its age; ``None`` if not published yet. No IPC;
        about 10 µs for depth 10. Between ``start`` and ``stop``, from the
        thread that drives the engine, outside ``run``."""
        return self._reader_now().read(asset_id, depth)

    def shm_books(self) -> dict[str, dict[str, list[list]]]:
        """Every published book, whole, read from shared memory, in the
        ``--books-out`` form. O(books x levels). Same rules as ``read``."""
        reader = self._reader_now()
        books = {}
        for asset_id in reader.assets():
            snapshot = reader.read(asset_id)
            if snapshot is not None:
                books[asset_id] = snapshot.export()
        return books

    def _reader_now(self) -> BookReader:
        if self._books_reader is None or self._state != "started":
            raise RuntimeError("shared-memory reads need a started engine")
        return self._books_reader

    # ------------------------------------------------------------ queries

    def _issue_queries(self, queries: QuerySchedule, batches: list[list]) -> None:
        if self.queries_from == "loop":
            self._answer_due(queries)

    def _query_client(self, queries: QuerySchedule) -> None:
        """The query-client thread: sleep until the next query is due (or
        the run ends), answer what is due, repeat."""
        done, now = self._queries_done, self.clock.now_ns
        try:
            while not done.wait(max(queries.next_due_ns() - now(), 0) / 1e9):
                self._answer_due(queries)
        except Exception as error:  # a bug, not a query outcome: end the run with it
            self._fail(EngineError(f"the query client failed: {error!r}"))

    def _answer_due(self, queries: QuerySchedule) -> None:
        """Answer every due query from shared memory, here and now: no frame
        to a worker, no waiting for a reply."""
        now, reader = self.clock.now_ns, None
        for due in queries.due(now):
            if reader is None:
                reader = self._reader_now()
                # Segments the workers created since the last queries get
                # mapped first, outside any read: a few loads when there is
                # none, 30-170 µs for each new one (counted in this query's
                # wait, not its path).
                reader.map_ahead()
            asset = queries.pick(self._routes.book_assets)
            issued = now()
            snapshot = None
            if asset is not None:
                try:
                    snapshot = reader.read(asset, self.config.query_depth)
                except ReadBusy:  # mid-write for every retry: counted, not answered
                    self._busy += 1
                    continue
            answered = now()
            self._query_path.record(answered - issued)
            self._query_wait.record(issued - due)
            self._query_from_due.record(answered - due)
            if snapshot is None:
                self._unpublished += 1  # routed to a worker, not yet published by it
            else:
                self._staleness.record(snapshot.age_ns)

    # ------------------------------------------------------------ results

    def _gather(self) -> RunStats:
        stats = super()._gather()
        reports: list[ShmWorkerReport] = [self._reports[w] for w in range(self.workers)]  # type: ignore[misc]
        assert stats.pool is not None
        pool = replace(
            stats.pool,
            query_outcomes=replace(stats.pool.query_outcomes, busy=self._busy, unpublished=self._unpublished),
            query_breakdown_us={
                name: QueryPart.of(histogram)
                for name, histogram in (
                    ("wait", self._query_wait),
                    ("read", self._query_path),
                    ("from_due", self._query_from_due),
                )
            },
        )
        run_s = stats.run_s
        stores = [r.store for r in reports]
        publish_cpu_ns = sum(r.publish_cpu_ns for r in reports)
        shm = ShmStats(
            # Rounded as the result has always shown it (3 decimals).
            staleness_ms=Percentiles(**self._staleness.summary(1e6).as_dict()),
            prefix=self.prefix,
            queries_from=self.queries_from,
            sync_ms=self.config.sync_ms,
            publishes=sum(s.publishes for s in stores),
            rounds=sum(r.rounds for r in reports),
            moves=sum(s.moves for s in stores),
            bytes_written=sum(s.bytes_written for s in stores),
            mapped_bytes=sum(s.mapped_bytes for s in stores),
            used_bytes=sum(s.used_bytes for s in stores),
            segments=sum(s.segments for s in stores),
            publish_ms=round(sum(r.publish_ns for r in reports) / 1e6, 3),
            publish_cpu_ms=round(publish_cpu_ns / 1e6, 3),
            publish_cpu_share=round(publish_cpu_ns / 1e9 / run_s, 4) if run_s else 0.0,
            workers=tuple(
                ShmWorkerStats(
                    worker=r.worker,
                    books=r.store.books,
                    publishes=r.store.publishes,
                    rounds=r.rounds,
                    moves=r.store.moves,
                    mapped_bytes=r.store.mapped_bytes,
                    used_bytes=r.store.used_bytes,
                    publish_cpu_ms=round(r.publish_cpu_ns / 1e6, 3),
                )
                for r in reports
            ),
            reader=self._books_reader.stats() if self._books_reader is not None else None,
            books_match=self._shm_digest == stats.digest,
            segments_left_at_stop=len(self._leftover),
        )
        return replace(stats, pool=pool, shm=shm)
