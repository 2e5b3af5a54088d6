"""The parent's side of a worker pool: route, batch, ask, wait, gather.

``PoolEngine`` is the part the ``multiprocessing`` and ``threads`` engines
share; they differ only in how a frame reaches a worker (``_transmit``),
how workers start (``_launch``) and how they are stopped (``_halt``).

The main loop parses each frame (``Pipeline.accept``: generated and
invalid are counted here), cuts each message into per-worker parts
(``AssetRoutes.parts``) and appends them to that worker's batch. A batch
leaves when it holds ``--ipc-batch`` messages or has been open
``_MAX_BATCH_AGE_NS`` (so a slow, paced stream is not held back waiting
for a full batch).

Every worker has a bounded queue of ``queue_frames`` frames. The bound is a
credit count kept here: sending takes a credit, the worker's ``Reply`` to
that frame gives it back. A full queue blocks the main loop (backpressure
to the source: nothing is dropped, ``full_waits`` counts the waits), and
the wait wakes on every reply and on any worker failure, so a dead worker
ends the run with ``WorkerCrashed`` instead of a hang.

Queries are request/response: a ``Query`` with a correlation id rides in
the owner's next frame (flushed at once); the answer comes back in the
``Reply``, is matched by id and timed in four segments:

    due -> sent        send:   the main loop noticed it and got a credit
    sent -> received   queue:  behind earlier frames, then the wire
    received -> answered worker: the updates ahead of it in its frame
    answered -> back   reply:  the wire back and the parent's reader

An answer later than ``--query-timeout-ms`` is counted ``timed_out`` (and
``late`` if it shows up after all); the main loop never waits for one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

from ..core.book import BookView
from ..core.eventlog import CorruptLog, EventLogWriter
from ..core.metrics import LatencyHistogram, QueueMeter
from ..core.parser import peek_route
from ..core.router import RouterStats
from ..core.source import MessageSource
from ._flow.control import SAMPLE_EVERY_S, WAIT, FlowControl
from ._flow.faults import FaultPlan
from ._flow.health import Health, HealthSample
from ._flow.shedding import rank_of_event, rank_of_message
from ._pipeline import MAX_KEPT_REJECTIONS, PROGRESS_EVERY, Pipeline, QuerySchedule
from ._routing import AssetRoutes
from ._stats import (
    FlowStats,
    FlowWorkerStats,
    IpcStats,
    LiveStatus,
    LoadBalance,
    PoolStats,
    QueryOutcomes,
    QueryPart,
    RecoveryStats,
    WorkerStats,
    WorkerStatus,
)
from ._worker import (
    Checkpoint,
    Drain,
    Line,
    Query,
    Ready,
    Reply,
    Restore,
    Stop,
    WorkerCheckpoint,
    WorkerReport,
)
from .base import EngineError, Lifecycle, RunConfig, RunStats

__all__ = ["PoolEngine", "WorkerCrashed", "QueryTimeout"]

_MAX_BATCH_AGE_NS = 2_000_000
"""A partial batch leaves once it has been open 2 ms. Counted from when the
dispatcher started it, not from when its first message was produced: a
dispatcher running behind a paced stream gets messages already older than
that, and aging them by their birth would send every message in a frame
of its own, the most expensive way to fall further behind (measured: one
frame per message, phase 5 at 8,050 of 14,000 msg/s)."""
_MAX_PENDING_QUERIES = 10_000
"""Queries in flight at once; more are shed (counted)."""
_LIVENESS_POLL_S = 0.5
"""Longest a wait goes without re-checking for a failed worker (every wait
is also woken by replies and failures; this is the safety net)."""
_STARTUP_TIMEOUT_S = 60.0
_MAX_RESTARTS = 3
"""A worker restarted this many times and dead again ends the run: it is
not an accident any more (a message that crashes it, a broken host)."""
_REPORT_TIMEOUT_S = 30.0


class WorkerCrashed(EngineError):
    """A worker died or failed; the run cannot reach correct books."""


class QueryTimeout(EngineError):
    """A query's answer did not come within its timeout."""


class PoolEngine(Lifecycle):
    """A parent that feeds ``workers`` owners of disjoint sets of books.

    Subclasses set ``name`` and implement ``_launch`` (start workers; each
    announces itself with ``Ready``), ``_transmit`` (deliver one frame) and
    ``_halt`` (stop workers; graceful unless ``abort``).
    """

    name = "pool"
    queue_frames = 4
    """Bound of each worker's queue, in frames (of up to ``ipc_batch``
    messages): enough to keep a worker busy while the parent refills it,
    small enough that a backlog stays short."""

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.workers = config.processes or os.cpu_count() or 1
        self.batch = max(1, config.ipc_batch)
        self._completed = False
        self._pipeline: Pipeline | None = None
        self._routes = AssetRoutes(self.workers, config.routing)
        if config.parse_in == "worker" and config.routing != "directory":
            raise EngineError(
                "--parse-in worker sends whole lines to the worker of their market, which needs "
                "--routing directory (a market's assets together)"
            )
        self._source: MessageSource | None = None
        self._cond = threading.Condition()
        self._failure: EngineError | None = None
        self._stopping = False
        self._ready: dict[int, int] = {}
        self._drained: set[int] = set()
        self._drain_token = 0
        self._drained_ns = 0
        self._reports: dict[int, WorkerReport] = {}
        self._in_flight = [0] * self.workers
        self._in_flight_messages = [0] * self.workers
        self._queue_high_water = 0
        self._full_waits = 0
        self._frames_sent = 0
        self._bytes_sent = 0
        self._encode_ns = 0
        self._reply_decode_ns = 0
        self._pending: dict[int, tuple[int, int]] = {}
        self._wanted: set[int] = set()
        self._answers: dict[int, BookView | None] = {}
        self._running = False
        self._next_corr_id = 0
        self._timed_out = 0
        self._late = 0
        self._shed = 0
        self._segments = {name: LatencyHistogram() for name in ("send", "queue", "worker", "reply")}
        self._answered_latency = LatencyHistogram()  # worker round trips only (not "no book yet")
        self._sigterm_before: Any = None
        self._sigint_before: Any = None
        self._stop_requested: tuple[str, int] | None = None
        """``(signal name, when)`` of a graceful stop (``--drain-timeout``)."""
        self._shutdown: dict[str, Any] | None = None
        self._drain_deadline_ns: int | None = None
        self._stragglers = 0
        self._stats: RunStats | None = None
        self._books: dict[str, dict[str, list[list]]] | None = None
        self._flow: FlowControl | None = None
        """Phase 7 (``--flow adaptive``): made when the run starts."""
        self._asks: list[tuple[int, str, int]] = []
        """Queries other threads asked for during the run (``ask``)."""
        self._run_thread: threading.Thread | None = None
        self._exited: set[int] = set()
        self._restarts = 0
        # Phase 8 (--recovery): what a restarted worker is rebuilt from.
        self._recovery = config.recovery
        self._dead: set[int] = set()
        """Workers that died and wait for ``_revive`` (main thread)."""
        self._tail: list[list] = [[] for _ in range(self.workers)]
        """Each worker's entries sent since its last checkpoint, in order."""
        self._marks: dict[tuple[int, int], int] = {}
        """(checkpoint token, worker) -> length of its tail when asked."""
        self._checkpoints: list[WorkerCheckpoint | None] = [None] * self.workers
        self._checkpoint_token = 0
        self._checkpoints_taken = 0
        self._recoveries: list[dict[str, Any]] = []
        self._killed = False
        self._fault_plan: FaultPlan | None = None
        self._died_ns: dict[int, int] = {}
        self._event_log: EventLogWriter | None = None
        self._checkpoint_at = [0] * self.workers
        self._restarts_of = [0] * self.workers
        self._in_flight_meter = QueueMeter()
        """Little's law for the messages between a send and its reply (with
        ``--flow adaptive`` the flow control meters from acceptance instead)."""
        self._sent_frames: list[deque[tuple[int, int]]] = [deque() for _ in range(self.workers)]

    # ------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        """Start the workers and wait until each has said ``Ready``
        (``startup_s``: spawning is not part of the run's throughput)."""
        self._check_flow_options()
        self._open_event_log()
        self._install_sigterm()
        self._pipeline = Pipeline(self.config, self.clock)
        self._launch()
        self._wait_for(lambda: len(self._ready) == self.workers, _STARTUP_TIMEOUT_S, "workers to start")

    def _check_flow_options(self) -> None:
        config = self.config
        if config.flow == "adaptive" and self._routes.scheme != "directory":
            raise EngineError(
                "--flow adaptive sheds whole messages, which needs each message on one worker: "
                "--routing directory (and, for the actor engine, --placement market)"
            )
        for option, worker, used in (
            ("--fault-worker", config.fault_worker, config.fault_rate > 0),
            ("--slow-worker", config.slow_worker, config.slow_worker is not None),
        ):
            if used and not 0 <= worker < self.workers:
                raise EngineError(f"{option} {worker}: this run has workers 0 to {self.workers - 1}")

    def _open_event_log(self) -> None:
        """``--event-log DIR``: every entry sent to a worker is appended, in
        the order sent (each asset's messages in stream order), so
        ``replay-log`` rebuilds the books the workers built. A restarted
        worker's tail is not logged again: it was logged when first sent."""
        if self.config.event_log is None:
            return
        if self._routes.scheme != "directory":
            raise EngineError("--event-log with worker processes needs --routing directory (whole messages)")
        try:
            self._event_log = EventLogWriter(self.config.event_log)
        except (OSError, CorruptLog) as error:
            raise EngineError(f"cannot open the event log {self.config.event_log}: {error}") from None

    def _close_event_log(self) -> None:
        log, self._event_log = self._event_log, None
        if log is not None:
            try:
                log.sync()
            finally:
                log.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers, once they are ready (empty for threads)."""
        return [pid for _, pid in sorted(self._ready.items()) if pid != os.getpid()]

    def run(self, source: MessageSource) -> None:
        self._require_started()
        self._source = source
        self._run_thread = threading.current_thread()
        self._running = True
        try:
            self._run(source)
        finally:
            self._running = False
        self._completed = True

    def _run(self, source: MessageSource) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        routes, limit, workers = self._routes, self.batch, self.workers
        now = self.clock.now_ns
        batches: list[list] = [[] for _ in range(workers)]
        born = [0] * workers
        queries = QuerySchedule(self.config.query_rate, self.config.seed, now())
        on_progress = self.on_progress
        peek = peek_route if self.config.parse_in == "worker" else None
        flow = self._start_flow(source)
        self._send_fault_plan()
        next_checkpoint = now() + int(self.config.checkpoint_s * 1e9)
        kill_at = self.config.kill_worker_at
        for frames, frame in enumerate(source, 1):
            if self._failure is not None:
                raise self._failure
            if self._stop_requested is not None:
                break  # intake stops here: this frame was never accepted
            if self._dead:
                self._revive_all()
            produced = frame.produced_ns
            route = peek(frame.text) if peek is not None else None
            if route is not None:  # the worker parses it: counted here, checked there
                pipeline.accept_unparsed(frame)
                worker = routes.place_line(route[0], route[1])
                text = frame.text
                entry = (produced, True, Line(frame.line_no, text if type(text) is bytes else text.encode()))
                if flow is not None:
                    self._offer(worker, entry, rank_of_event(route[2]), route[1])
                else:
                    batch = batches[worker]
                    if not batch:
                        born[worker] = now()
                    batch.append(entry)
                    if len(batch) >= limit:
                        batches[worker] = []
                        self._send(worker, (batch, []))
            for message in pipeline.accept(frame) if route is None else ():
                primary = True
                for worker, part in routes.parts(message):
                    if flow is not None:  # one part per message here (directory routing)
                        self._offer(worker, (produced, True, part), rank_of_message(part), _asset_of(part))
                        continue
                    batch = batches[worker]
                    if not batch:
                        born[worker] = now()
                    batch.append((produced, primary, part))
                    primary = False
                    if len(batch) >= limit:
                        batches[worker] = []
                        self._send(worker, (batch, []))
            current = now()
            if flow is not None:
                self._dispatch(current)
            else:
                for worker in range(workers):
                    if batches[worker] and current - born[worker] >= _MAX_BATCH_AGE_NS:
                        batch, batches[worker] = batches[worker], []
                        self._send(worker, (batch, []))
            self._pump(batches, current)
            if queries.enabled:
                self._issue_queries(queries, batches)
            if self._asks:
                self._serve_asks(batches)
            if self._recovery and current >= next_checkpoint:
                next_checkpoint = current + int(self.config.checkpoint_s * 1e9)
                self._checkpoint_all(batches)
            if kill_at is not None and not self._killed and pipeline.generated >= kill_at:
                self._kill_worker(self.config.kill_worker)
            if self._pending:
                self._expire_queries(current)
            if on_progress is not None and frames % PROGRESS_EVERY == 0:
                on_progress(pipeline.generated)
        stopping = self._stop_requested
        if stopping is not None:
            intake_stopped = now()
            self._drain_deadline_ns = stopping[1] + int((self.config.drain_timeout_s or 0) * 1e9)
        if flow is not None:
            self._flush_flow()
        self._drain(batches)
        if stopping is not None:
            self._shutdown = {
                "stopped_by": stopping[0],
                "intake_stopped_ms": round((intake_stopped - stopping[1]) / 1e6, 3),
                "drained_ms": round((self._drained_ns - stopping[1]) / 1e6, 3),
                "drain_timeout_s": self.config.drain_timeout_s,
            }
        self._settle_queries()
        if on_progress is not None:
            on_progress(pipeline.generated)

    # ------------------------------------------------------------ phase 7: flow control

    def _start_flow(self, source: MessageSource) -> FlowControl | None:
        if self.config.flow != "adaptive":
            return None
        threading.Thread(target=self._sample_depths, name="orderbook-lab-depth", daemon=True).start()
        self._flow = FlowControl(
            self.workers,
            target_wait_ms=self.config.target_wait_ms,
            breaker_latency_ms=self.config.breaker_latency_ms,
            batch=self.batch,
            queue_frames=self.queue_frames,
            paced=source.paced,
            start_ns=self.clock.now_ns(),
        )
        return self._flow

    def _sample_depths(self) -> None:
        """Every ``SAMPLE_EVERY_S`` while the run lasts, one look at the
        flow's depth (``FlowControl.sample_depth``)."""
        while self._running:
            time.sleep(SAMPLE_EVERY_S)
            with self._cond:
                if self._flow is not None:
                    self._flow.sample_depth(self._in_flight_messages)

    def _send_fault_plan(self) -> None:
        """``--fault-rate``: tell the struck worker when to fail, before any
        message reaches it (as two readings of the shared monotonic clock)."""
        config = self.config
        if config.fault_rate <= 0:
            return
        start = self.clock.now_ns()
        begin_s, end_s = config.fault_window or (0.0, float("inf"))
        until = start + int(end_s * 1e9) if end_s != float("inf") else 2**62
        plan = self._fault_plan = FaultPlan(config.fault_rate, start + int(begin_s * 1e9), until, config.seed)
        self._send(config.fault_worker, ([], [plan]))

    def _offer(self, worker: int, entry: tuple, rank: int, asset: str) -> None:
        """Hand one message to the flow control: queued or shed at once; on
        an unpaced stream a full queue waits for room instead (nobody is
        late when the source can be held back)."""
        flow = self._flow
        assert flow is not None
        cond = self._cond
        while True:
            if self._dead:
                self._revive_all()
            now = self.clock.now_ns()
            with cond:
                outcome = flow.offer(worker, entry, rank, asset, now, self._in_flight_messages[worker])
            if outcome != WAIT:
                return
            self._dispatch(now)
            with cond:
                if self._failure is not None:
                    raise self._failure
                if self._in_flight[worker]:  # room comes back with a reply
                    flow.waits += 1
                    cond.wait(_LIVENESS_POLL_S)

    def _dispatch(self, now_ns: int) -> None:
        """Send each worker the frame its flow control lets go now, and make
        the decisions that are due."""
        flow = self._flow
        assert flow is not None
        cond = self._cond
        for worker in range(self.workers):
            with cond:
                entries = flow.ready(
                    worker, now_ns, self._in_flight_messages[worker], self._in_flight[worker]
                )
            if entries:
                self._send(worker, (entries, []))
        with cond:
            flow.tick(now_ns, self._in_flight_messages)

    def _flush_flow(self) -> None:
        """At the end of the stream: send everything still waiting (as room
        comes back), except to a worker whose breaker stays open."""
        flow = self._flow
        assert flow is not None
        cond = self._cond
        while True:
            if self._dead:
                self._revive_all()
            now = self.clock.now_ns()
            with cond:
                if self._failure is not None:
                    raise self._failure
                for worker, state in enumerate(flow.workers):
                    if state.queue and state.breaker.state == "open" and not self._in_flight[worker]:
                        flow.shed_all(worker, now, "breaker_open")
                if not flow.pending():
                    return
            if self._drain_deadline_ns is not None and now > self._drain_deadline_ns:
                raise EngineError(
                    f"{self.name}: gave up draining after --drain-timeout {self.config.drain_timeout_s:g} s"
                )
            self._dispatch(now)
            with cond:
                if flow.pending() and any(self._in_flight):
                    cond.wait(0.005)  # woken by a reply; or an open breaker turns half-open

    # ------------------------------------------------------------ phase 8: recovery

    def _checkpoint_all(self, batches: list[list]) -> None:
        """Ask every worker for its state (main loop, every ``--checkpoint-s``)."""
        self._checkpoint_token += 1
        token = self._checkpoint_token
        for worker in range(self.workers):
            batch, batches[worker] = batches[worker], []
            self._send(worker, (batch, [Checkpoint(token)]))

    def _file_checkpoint(self, worker: int, checkpoint: WorkerCheckpoint) -> None:
        """Keep a worker's newest state and forget the tail it covers
        (reader thread, under the lock)."""
        mark = self._marks.pop((checkpoint.token, worker), None)
        if mark is None:  # asked of a worker that has died since
            return
        del self._tail[worker][:mark]
        for key in [k for k in self._marks if k[1] == worker]:
            self._marks[key] -= mark
        self._checkpoints[worker] = checkpoint
        self._checkpoint_at[worker] = self.clock.now_ns()
        self._checkpoints_taken += 1

    def _on_worker_death(self, worker: int) -> bool:
        """A worker died unasked (reader thread, lock held). With
        ``--recovery`` it is marked for ``_revive`` and the run goes on
        (True); else the caller fails the run."""
        if not self._recovery or self._stopping:
            return False
        if self._restarts_of[worker] >= _MAX_RESTARTS:
            return False  # it keeps dying: something is wrong beyond a restart's reach
        self._restarts_of[worker] += 1
        self._dead.add(worker)
        self._exited.add(worker)
        self._died_ns[worker] = self.clock.now_ns()
        self._cond.notify_all()
        return True

    def _revive(self, worker: int) -> None:
        """Start a new process for ``worker`` and give it what the dead one
        had: its last checkpoint, then every entry sent after it (the tail,
        which includes whatever was in flight when it died). Main thread."""
        with self._cond:
            if worker not in self._dead:
                return
            began = self.clock.now_ns()
            died = self._died_ns.pop(worker, began)
            lost_frames = self._in_flight[worker]
            self._in_flight[worker] = 0
            self._in_flight_messages[worker] = 0
            for sent, count in self._sent_frames[worker]:  # they leave this queue now; their tail is resent
                self._in_flight_meter.depart(began, (began - sent) * count, count)
            self._sent_frames[worker].clear()
            if self._flow is not None:
                self._flow.lost_in_flight(worker, began)
            for key in [k for k in self._marks if k[1] == worker]:
                del self._marks[key]
            checkpoint = self._checkpoints[worker]
            entries = list(self._tail[worker])
            self._ready.pop(worker, None)
        self._respawn(worker)
        self._wait_for(lambda: worker in self._ready, _STARTUP_TIMEOUT_S, f"worker {worker} to restart")
        ready = self.clock.now_ns()
        with self._cond:
            self._dead.discard(worker)
            self._exited.discard(worker)
            self._restarts += 1
            if self._flow is not None:  # a new process: its health reports start now
                self._flow.health.last_heard_ns[worker] = ready
        controls: list = [*self._restore_controls(worker), Restore(checkpoint, entries)]
        if self._fault_plan is not None and worker == self.config.fault_worker:
            controls.insert(0, self._fault_plan)
        self._send(worker, ([], controls))
        start = self._pipeline.first_produced_ns or began
        self._recoveries.append(
            {
                "worker": worker,
                "died_at_s": round((died - start) / 1e9, 3),
                "detected_ms": round((began - died) / 1e6, 3),
                "restart_ms": round((ready - began) / 1e6, 3),
                "checkpoint_age_ms": None
                if checkpoint is None
                else round((began - self._checkpoint_at[worker]) / 1e6, 3),
                "replayed": len(entries),
                "frames_lost_in_flight": lost_frames,
            }
        )

    def _drain_left_s(self) -> float | None:
        """Seconds left to drain after a graceful stop; ``None``: no bound."""
        if self._drain_deadline_ns is None:
            return None
        return max((self._drain_deadline_ns - self.clock.now_ns()) / 1e9, 0.0)

    def _revive_all(self) -> None:
        for worker in sorted(self._dead):
            self._revive(worker)

    def _restore_controls(self, worker: int) -> list:
        """Controls a restarted worker needs before its tail (phase 5: the
        introductions of its markets)."""
        return []

    def _respawn(self, worker: int) -> None:
        raise EngineError(f"{self.name}: workers here cannot be restarted")

    def _kill_worker(self, worker: int) -> None:
        """``--kill-worker-at``: SIGKILL one worker, once, on purpose."""
        self._killed = True
        pids = dict(self._ready)
        pid = pids.get(worker)
        if pid is None or pid == os.getpid():
            raise EngineError(f"--kill-worker {worker}: no such worker process")
        os.kill(pid, signal.SIGKILL)

    def live_status(self) -> LiveStatus:
        """The run's numbers now (any thread). Worker counts come from their
        health reports, so they lag by up to a second and exist only with
        ``--flow adaptive`` (phase 7 and later); before that they are 0."""
        now = self.clock.now_ns()
        pipeline = self._pipeline
        with self._cond:
            flow = self._flow
            dropped = dict(flow.dropped) if flow is not None else {}
            processing = LatencyHistogram()
            processed = invalid = failed_total = 0
            workers = []
            for worker in range(self.workers):
                report = flow.health.reports[worker] if flow is not None else None
                sample = flow.health.latest[worker] if flow is not None else None
                state = flow.workers[worker] if flow is not None else None
                if report is not None:
                    processed += report.processed
                    invalid += report.invalid
                    failed_total += report.failed
                    if report.processing is not None:
                        processing.merge(report.processing)
                heard = flow.health.last_heard_ns[worker] if flow is not None and report is not None else None
                workers.append(
                    WorkerStatus(
                        worker=worker,
                        alive=worker in self._ready and worker not in self._exited,
                        breaker=state.breaker.state if state is not None else "closed",
                        depth=(len(state.queue) if state is not None else 0)
                        + self._in_flight_messages[worker],
                        capacity=state.capacity.capacity
                        if state is not None
                        else self.queue_frames * self.batch,
                        wait_ms=(state.capacity.wait_ewma_ns or 0.0) / 1e6 if state is not None else 0.0,
                        processed=report.processed if report is not None else 0,
                        failed=report.failed if report is not None else 0,
                        invalid=report.invalid if report is not None else 0,
                        busy=sample.busy if sample is not None else 0.0,
                        cpu=sample.cpu if sample is not None else 0.0,
                        rss_mb=report.rss_bytes / 2**20 if report is not None else 0.0,
                        last_report_s=None if heard is None else (now - heard) / 1e9,
                    )
                )
            if failed_total:
                dropped["worker_fault"] = failed_total
            started = pipeline.first_produced_ns if pipeline is not None else None
            return LiveStatus(
                running=self._running,
                uptime_s=0.0 if started is None else (now - started) / 1e9,
                generated=pipeline.generated if pipeline is not None else 0,
                processed=processed,
                invalid=(pipeline.invalid if pipeline is not None else 0) + invalid,
                dropped=dropped,
                restarts=self._restarts,
                workers=tuple(workers),
                processing=processing,
            )

    def ask(self, asset_id: str, depth: int = 10, timeout_s: float | None = None) -> BookView | None:
        """The top of ``asset_id``'s book, from any thread, during a run or
        outside one: during a run the main loop sends the query with its
        next frame (``_serve_asks``); outside, it goes at once. ``None``:
        no book for that asset. Raises ``QueryTimeout``."""
        if self._running and threading.current_thread() is not self._run_thread:
            with self._cond:
                self._next_corr_id += 1
                corr_id = self._next_corr_id
                self._wanted.add(corr_id)
                self._asks.append((corr_id, asset_id, depth))
            return self.wait_answer(corr_id, timeout_s)
        return self.query(asset_id, depth, timeout_s)

    def _serve_asks(self, batches: list[list]) -> None:
        """Send the queries other threads asked for (main loop)."""
        with self._cond:
            asks, self._asks = self._asks, []
        now = self.clock.now_ns()
        for corr_id, asset_id, depth in asks:
            worker = self._routes.placed(asset_id)
            if worker is None:
                with self._cond:
                    self._answers[corr_id] = None  # never seen: no book
                    self._cond.notify_all()
                continue
            with self._cond:
                self._pending[corr_id] = (now, now)
            batch, batches[worker] = batches[worker], []
            self._send(worker, (batch, [Query(corr_id, asset_id, depth, now)]))

    def health_samples(self) -> list[HealthSample]:
        """The latest health sample of each worker that has one (phase 7;
        any thread: a live display reads it during the run)."""
        flow = self._flow
        if flow is None:
            return []
        with self._cond:
            return [sample for sample in flow.health.latest if sample is not None]

    def _close(self) -> None:
        """Drain and stop the workers (``stop`` times this and makes it
        idempotent).

        After a complete run: ``Stop`` to each worker, wait for its report,
        join. After an error or an interrupt: close the channels (a worker
        leaves after the frame in hand), join with a timeout, terminate
        stragglers. Ctrl-C and SIGTERM arriving meanwhile are held until
        the workers are gone, then raised. The books and numbers the
        workers reported are gathered once, by ``stats`` or ``books``."""
        held = _HeldSignals()
        try:
            try:
                self._halt(abort=not self._completed)
            finally:
                self._close_event_log()
        finally:
            sigterm_before, self._sigterm_before = self._sigterm_before, None
            sigint_before, self._sigint_before = self._sigint_before, None
            held.release(sigterm_before, sigint_before)

    def _gathered(self) -> RunStats | None:
        """The run's statistics once stopped after a complete run (every
        worker reported); gathered on first use, since gathering merges the
        workers' counters into the pipeline."""
        if (
            self._stats is None
            and self._state == "stopped"
            and self._completed
            and len(self._reports) == self.workers
        ):
            self._stats = self._gather()
        return self._stats

    def stats(self) -> RunStats:
        stats = self._gathered()
        if stats is None:
            raise EngineError("no statistics: the run did not complete (see the error it raised)")
        return stats

    def books(self) -> dict[str, dict[str, list[list]]]:
        self._gathered()
        if self._books is None:
            raise EngineError("no books: the run did not complete")
        return self._books

    def worker_assets(self) -> dict[int, list[str]]:
        """The assets whose books each worker returned (after ``stop``)."""
        return {worker: sorted(report.books) for worker, report in sorted(self._reports.items())}

    # ------------------------------------------------------------ queries on demand

    def submit_query(self, asset_id: str, depth: int = 10) -> int:
        """Ask ``asset_id``'s worker for its book now; returns the
        correlation id to pass to ``wait_answer``. Between ``start`` and
        ``stop``, from the thread that drives the engine, outside ``run``
        (which issues ``--query-rate`` queries itself)."""
        if self._state != "started" or self._running:
            raise RuntimeError("queries on demand need a started engine that is not inside run()")
        now = self.clock.now_ns()
        with self._cond:
            self._next_corr_id += 1
            corr_id = self._next_corr_id
            self._pending[corr_id] = (now, now)
            self._wanted.add(corr_id)
        self._send(self._routes.owner(asset_id), ([], [Query(corr_id, asset_id, depth, now)]))
        return corr_id

    def wait_answer(self, corr_id: int, timeout_s: float | None = None) -> BookView | None:
        """The answer to query ``corr_id`` (``None`` if the asset has no
        book); ``QueryTimeout`` after ``timeout_s`` (default
        ``--query-timeout-ms``)."""
        timeout_s = self.config.query_timeout_ms / 1e3 if timeout_s is None else timeout_s
        try:
            self._wait_for(
                lambda: corr_id in self._answers, timeout_s, f"the answer to query {corr_id}", QueryTimeout
            )
        except QueryTimeout:
            with self._cond:
                if self._pending.pop(corr_id, None) is not None:
                    self._timed_out += 1
                self._wanted.discard(corr_id)
            raise
        with self._cond:
            self._wanted.discard(corr_id)
            return self._answers.pop(corr_id)

    def query(self, asset_id: str, depth: int = 10, timeout_s: float | None = None) -> BookView | None:
        """``submit_query`` then ``wait_answer``: one blocking round trip."""
        return self.wait_answer(self.submit_query(asset_id, depth), timeout_s)

    # ------------------------------------------------------------ to subclass

    def _launch(self) -> None:
        raise NotImplementedError

    def _transmit(self, worker: int, frame: tuple[list, list]) -> None:
        raise NotImplementedError

    def _halt(self, abort: bool) -> None:
        raise NotImplementedError

    def _pump(self, batches: list[list], now_ns: int) -> None:
        """Called once per source frame, for engines whose workers talk to
        each other through the parent (phase 5's coordinator sends their
        updates here); nothing to do in a plain pool."""

    # ------------------------------------------------------------ sending

    def _send(self, worker: int, frame: tuple[list, list]) -> None:
        """Take a credit of ``worker``'s queue (waiting if it is full), then
        transmit. Raises the pool's failure instead of waiting forever."""
        cond = self._cond
        if worker in self._dead:
            self._revive(worker)
        with cond:
            while self._in_flight[worker] >= self.queue_frames and self._failure is None:
                if worker in self._dead:  # it died holding our credits: bring it back, then send
                    cond.release()
                    try:
                        self._revive(worker)
                    finally:
                        cond.acquire()
                    continue
                self._full_waits += 1
                cond.wait(_LIVENESS_POLL_S)
            if self._failure is not None:
                raise self._failure
            self._in_flight[worker] += 1
            count = len(frame[0])
            queued = self._in_flight_messages[worker] = self._in_flight_messages[worker] + count
            if count and self._flow is None:
                sent = self.clock.now_ns()
                self._in_flight_meter.arrive(sent, count)
                self._sent_frames[worker].append((sent, count))
            if self._recovery:
                tail = self._tail[worker]
                tail.extend(frame[0])
                for control in frame[1]:
                    if type(control) is Checkpoint:
                        self._marks[control.token, worker] = len(tail)
            if queued > self._queue_high_water:
                self._queue_high_water = queued
        log = self._event_log
        if log is not None:  # main thread only: no lock needed, and none held while writing
            for produced_ns, _primary, message in frame[0]:
                log.append(message, produced_ns)
        self._transmit(worker, frame)
        self._frames_sent += 1

    def _drain(self, batches: list[list]) -> None:
        """Flush every batch with a ``Drain`` and wait until each worker
        has applied everything sent to it (a worker that dies meanwhile is
        revived, with the tail that holds what it had not applied, and
        asked again)."""
        while True:
            self._drain_token += 1
            self._drained.clear()
            for worker in range(self.workers):
                batch, batches[worker] = batches[worker], []
                self._send(worker, (batch, [Drain(self._drain_token)]))
            self._wait_for(
                lambda: len(self._drained) == self.workers or bool(self._dead),
                self._drain_left_s(),
                "workers to drain (--drain-timeout)",
            )
            if not self._dead:
                break
            self._revive_all()
        self._drained_ns = self.clock.now_ns()

    def _request_reports(self, timeout_s: float) -> bool:
        """Ask every worker for its final report; True if all came back."""
        with self._cond:
            self._stopping = True
        try:
            for worker in range(self.workers):
                self._send(worker, ([], [Stop()]))
            self._wait_for(lambda: len(self._reports) == self.workers, timeout_s, "final reports")
        except EngineError:  # a worker failed meanwhile: the caller falls back to closing
            return False
        return True

    # ------------------------------------------------------------ replies (any thread)

    def _on_ready(self, ready: Ready) -> None:
        with self._cond:
            self._ready[ready.worker] = ready.pid
            self._cond.notify_all()

    def _on_reply(self, reply: Reply) -> None:
        """Return the frame's credit and settle what it carries."""
        arrived = self.clock.now_ns()
        with self._cond:
            worker = reply.worker
            self._in_flight[worker] -= 1
            self._in_flight_messages[worker] -= reply.updates
            flow = self._flow
            if flow is None and reply.updates:
                sent, count = self._sent_frames[worker].popleft()
                self._in_flight_meter.depart(arrived, (arrived - sent) * count, count)
            if flow is not None:
                if reply.updates:
                    flow.replied(worker, arrived, reply.failed, reply.slow)
                if reply.health is not None:
                    flow.heard(reply.health, arrived, self._in_flight_messages[worker])
            if reply.answers:
                self._settle_answers(reply, arrived)
            if reply.checkpoint is not None:
                self._file_checkpoint(worker, reply.checkpoint)
            if reply.drained is not None and reply.drained == self._drain_token:
                self._drained.add(worker)
            if reply.report is not None:
                self._reports[worker] = reply.report
            self._cond.notify_all()

    def _on_health(self, health: Health) -> None:
        """A health report an idle worker sent on its own."""
        arrived = self.clock.now_ns()
        with self._cond:
            if self._flow is not None:
                self._flow.heard(health, arrived, self._in_flight_messages[health.worker])

    def _settle_answers(self, reply: Reply, arrived: int) -> None:
        pipeline = self._pipeline
        segments = self._segments
        timeout_ns = self.config.query_timeout_ms * 1e6
        for answer in reply.answers:
            entry = self._pending.pop(answer.corr_id, None)
            if entry is None:  # it timed out already; the answer came anyway
                self._late += 1
                continue
            due, sent = entry
            if answer.corr_id in self._wanted:  # its waiter judges the timeout
                self._answers[answer.corr_id] = answer.view
            elif arrived - due > timeout_ns:  # too late, though nobody had expired it yet
                self._timed_out += 1
                self._late += 1
                continue
            pipeline.queries += 1
            pipeline.query_latency.record(arrived - due)
            self._answered_latency.record(arrived - due)
            segments["send"].record(sent - due)
            segments["queue"].record(answer.received_ns - sent)
            segments["worker"].record(answer.answered_ns - answer.received_ns)
            segments["reply"].record(arrived - answer.answered_ns)

    def _fail(self, error: EngineError) -> None:
        """Record the first failure and wake every waiter."""
        with self._cond:
            if self._failure is None:
                self._failure = error
            self._cond.notify_all()

    def _wait_for(
        self, done, timeout_s: float | None, what: str, error: type[EngineError] = EngineError
    ) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not done():
                if self._failure is not None:
                    raise self._failure
                remaining = (
                    _LIVENESS_POLL_S
                    if deadline is None
                    else min(_LIVENESS_POLL_S, deadline - time.monotonic())
                )
                if remaining <= 0:
                    raise error(f"{self.name}: gave up waiting {timeout_s:g} s for {what}")
                self._cond.wait(remaining)

    # ------------------------------------------------------------ queries

    def _issue_queries(self, queries: QuerySchedule, batches: list[list]) -> None:
        now = self.clock.now_ns
        depth = self.config.query_depth
        for due in queries.due(now):
            asset = queries.pick(self._routes.book_assets)
            with self._cond:
                if asset is None:  # no book yet: nothing to ask, answered at once (as sync does)
                    self._pipeline.count_query(due)
                    continue
                if len(self._pending) >= _MAX_PENDING_QUERIES:
                    self._shed += 1
                    continue
                self._next_corr_id += 1
                corr_id = self._next_corr_id
                sent = now()
                self._pending[corr_id] = (due, sent)
            worker = self._routes.owner(asset)
            batch, batches[worker] = batches[worker], []
            self._send(worker, (batch, [Query(corr_id, asset, depth, sent)]))

    def _expire_queries(self, now_ns: int) -> None:
        timeout_ns = self.config.query_timeout_ms * 1e6
        with self._cond:
            pending = self._pending
            while pending:
                corr_id, (due, _sent) = next(iter(pending.items()))
                if now_ns - due < timeout_ns:
                    break
                del pending[corr_id]
                self._timed_out += 1

    def _settle_queries(self) -> None:
        """At the end of a run: wait for the answers still out, each at most
        until its timeout."""
        timeout_s = self.config.query_timeout_ms / 1e3
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending and self._failure is None and time.monotonic() < deadline:
                self._cond.wait(min(_LIVENESS_POLL_S, max(deadline - time.monotonic(), 0.0)))
        self._expire_queries(self.clock.now_ns() + int(timeout_s * 1e9) + 1)

    # ------------------------------------------------------------ signals

    def _install_sigterm(self) -> None:
        # SIGTERM's default action kills the parent on the spot, leaving no
        # chance to stop workers. During a run it raises instead, so every
        # finally block (stop() above all) runs. With --drain-timeout
        # (phase 8) SIGTERM and Ctrl-C ask for a graceful end instead.
        if threading.current_thread() is not threading.main_thread():
            return
        if self.config.drain_timeout_s is not None:
            self._sigterm_before = signal.signal(signal.SIGTERM, self._request_stop)
            self._sigint_before = signal.signal(signal.SIGINT, self._request_stop)
        else:
            self._sigterm_before = signal.signal(signal.SIGTERM, _raise_terminated)

    def _request_stop(self, signum: int, _frame: object) -> None:
        """The first SIGTERM or Ctrl-C: stop taking messages, drain what was
        accepted, end the run normally. A second one: stop now."""
        if not self.request_stop(signal.Signals(signum).name):
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)

    def request_stop(self, reason: str) -> bool:
        """End the run gracefully: intake stops before the next frame, what
        was accepted is drained (within ``--drain-timeout`` when given) and
        the run ends as if its stream had. From a signal handler or any
        thread; False if a stop was already asked for."""
        if self._stop_requested is not None:
            return False
        self._stop_requested = (reason, self.clock.now_ns())
        if self._source is not None:
            self._source.stop()  # a live feed waiting for its next frame wakes up and ends
        return True

    @property
    def stop_requested(self) -> str | None:
        """Why the run was asked to stop (``SIGTERM``...), or ``None``."""
        return None if self._stop_requested is None else self._stop_requested[0]

    # ------------------------------------------------------------ results

    def _gather(self) -> RunStats:
        pipeline = self._pipeline
        assert pipeline is not None
        reports = [self._reports[w] for w in range(self.workers)]
        books: dict[str, dict[str, list[list]]] = {}
        router = RouterStats()
        last = pipeline.last_applied_ns
        for report in reports:
            pipeline.processed += report.processed
            pipeline.invalid += report.invalid
            if report.failed:
                pipeline.dropped["worker_fault"] = pipeline.dropped.get("worker_fault", 0) + report.failed
            pipeline.rejections.extend(report.rejections)
            pipeline.latency.merge(report.latency)
            pipeline.processing.merge(report.processing)
            if report.last_applied_ns is not None:
                last = report.last_applied_ns if last is None else max(last, report.last_applied_ns)
            books.update(report.books)
            router = router + report.router
        pipeline.last_applied_ns = last
        pipeline.queue_high_water = self._queue_high_water
        # Lines parsed in the workers were rejected there: one list, by line.
        pipeline.rejections = sorted(pipeline.rejections, key=lambda r: (r.line, r.element or 0))[
            :MAX_KEPT_REJECTIONS
        ]
        self._books = books
        run_s = pipeline.run_s()
        processed = [r.processed for r in reports]
        mean = sum(processed) / len(processed)
        pool = PoolStats(
            workers=tuple(
                WorkerStats(
                    worker=r.worker,
                    pid=r.pid,
                    processed=r.processed,
                    parts=r.parts,
                    frames=r.frames,
                    bytes_in=r.bytes_in,
                    busy_s=round(r.busy_ns / 1e9, 6),
                    busy_share=round(r.busy_ns / 1e9 / run_s, 4) if run_s else 0.0,
                    cpu_s=round(r.cpu_ns / 1e9, 6),
                    cpu_share=round(r.cpu_ns / 1e9 / run_s, 4) if run_s else 0.0,
                    assets=len(r.books),
                )
                for r in reports
            ),
            load_balance=LoadBalance(
                routing=self._routes.scheme,
                max_over_mean=round(max(processed) / mean, 4) if mean else 1.0,
                assets_per_worker=self._routes.assets_per_worker(),
            ),
            ipc=IpcStats(
                codec=self.config.codec if self._bytes_sent else "none (in-process)",
                batch=self.batch,
                queue_frames=self.queue_frames,
                frames_sent=self._frames_sent,
                bytes_sent=self._bytes_sent,
                bytes_per_message=round(self._bytes_sent / max(pipeline.generated, 1), 1),
                encode_ms=round(self._encode_ns / 1e6, 3),
                decode_ms=round(sum(r.decode_ns for r in reports) / 1e6, 3),
                reply_encode_ms=round(sum(r.encode_ns for r in reports) / 1e6, 3),
                reply_decode_ms=round(self._reply_decode_ns / 1e6, 3),
                full_waits=self._full_waits,
                split_messages=self._routes.split_messages,
            ),
            query_outcomes=QueryOutcomes(
                answered=pipeline.queries, timed_out=self._timed_out, late=self._late, shed=self._shed
            ),
            # Means add up (send + queue + worker + reply = total, per query);
            # percentiles of the parts do not add up to the whole.
            query_breakdown_us={
                name: QueryPart.of(histogram)
                for name, histogram in (*self._segments.items(), ("total", self._answered_latency))
            },
            stragglers_terminated=self._stragglers,
        )
        flow = self._flow_stats()
        meter = self._in_flight_meter if self._flow is None else self._flow.meter
        stats = pipeline.stats(
            self.name,
            self._source,
            startup_s=self._startup_s,
            shutdown_s=self._shutdown_s,
            pool=pool,
            books=books,
            router_stats=router,
            littles_law=meter.law(self._drained_ns) if meter.arrivals else None,
        )
        if flow is not None:
            stats = replace(stats, flow=flow)
        if self._recovery:
            stats = replace(
                stats,
                recovery=RecoveryStats(
                    restarts=self._restarts,
                    checkpoints=self._checkpoints_taken,
                    checkpoint_s=self.config.checkpoint_s,
                    events=tuple(self._recoveries),
                ),
            )
        if self._shutdown is not None:
            stats = replace(stats, shutdown=self._shutdown)
        return stats

    def _flow_stats(self) -> FlowStats | None:
        """Phase 7's figures; its drops join the run's (by reason)."""
        flow = self._flow
        if flow is None:
            return None
        pipeline = self._pipeline
        assert pipeline is not None
        for reason, count in flow.dropped.items():
            pipeline.dropped[reason] = pipeline.dropped.get(reason, 0) + count
        start = flow.start_ns
        return FlowStats(
            target_wait_ms=flow.target_wait_ms,
            breaker_latency_ms=flow.breaker_latency_ms,
            paced=flow.paced,
            dropped_by_reason=dict(sorted(flow.dropped.items())),
            dropped_by_priority=dict(flow.dropped_by_priority),
            most_dropped_assets=dict(flow.dropped_by_asset.most_common(5)),
            assets_dropped_from=len(flow.dropped_by_asset),
            worker_faults=flow.failed,
            slow_messages=flow.slow,
            dispatcher_waits=flow.waits,
            sampled_depth=round(flow.depth_sampled_sum / flow.depth_samples, 3)
            if flow.depth_samples
            else 0.0,
            workers=tuple(
                FlowWorkerStats(
                    worker=worker,
                    capacity=state.capacity.capacity,
                    capacity_lowest=state.lowest_capacity,
                    wait_ewma_ms=round((state.capacity.wait_ewma_ns or 0.0) / 1e6, 3),
                    breaker=state.breaker.state,
                    breaker_opened=state.breaker.opened,
                    transitions=tuple(t.as_dict(start) for t in state.breaker.transitions),
                    decisions=tuple(d.as_dict(start) for d in state.decisions),
                )
                for worker, state in enumerate(flow.workers)
            ),
            health=tuple(sample.as_dict() for sample in flow.health.samples),
        )


def _asset_of(message) -> str:
    """The (first) asset a parsed message is for: what shedding is fair across."""
    asset = getattr(message, "asset_id", None)
    if asset is None:
        changes = getattr(message, "changes", ())
        asset = changes[0].asset_id if changes else ""
    return asset


def _raise_terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


class _HeldSignals:
    """While the pool stops, Ctrl-C and SIGTERM are recorded, not raised
    (an exception in the middle of joining would leave workers behind);
    ``release`` puts the handlers back and raises what was held."""

    def __init__(self) -> None:
        self._held: list[int] = []
        self._before: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._before[signum] = signal.signal(signum, self._hold)

    def _hold(self, signum: int, _frame: object) -> None:
        self._held.append(signum)

    def release(self, sigterm_before: Any = None, sigint_before: Any = None) -> None:
        """Restore the handlers (SIGTERM to ``sigterm_before``, SIGINT to
        ``sigint_before`` when given: what they were before the run, not
        the run's own handlers)."""
        for signum, handler in self._before.items():
            if signum == signal.SIGTERM and sigterm_before is not None:
                handler = sigterm_before
            if signum == signal.SIGINT and sigint_before is not None:
                handler = sigint_before
            signal.signal(signum, handler)
        if self._held:
            if self._held[0] == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + self._held[0])
