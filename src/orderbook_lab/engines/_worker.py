"""One worker's side of a pool: the books it owns and the frames it obeys.

A worker runs wherever its engine puts it (a thread, a process) and knows
nothing of how frames reach it. The parent sends *frames*; each frame is
``(updates, controls)``:

* ``updates``: ``(produced_ns, primary, message)`` tuples in stream order.
  Plain tuples, because they are the hot path: pickling a 3-tuple costs
  about half what a Struct wrapper does. ``primary`` is False for the extra
  parts of a split ``price_change`` (see ``_routing``): those update books
  but are not counted or worked on again.
* ``controls``: ``Query``, ``Drain`` and ``Stop``, applied after the
  updates of the same frame, so a query sees every message the parent
  accepted before it.

Every frame gets exactly one ``Reply``. The reply is also the credit that
frees a slot of the worker's bounded queue (see ``_pool``), and it carries
the answers to the frame's queries, the drain token and, after ``Stop``,
the worker's final ``WorkerReport``.

``WorkerCore.after_frame`` is the hook for engines whose workers do more
than answer: it gets the frame's messages (phase 4 publishes the books they
touched to shared memory there). An engine runs its own core by setting
``MultiprocessingEngine.core_factory`` to a ``WorkerCore`` subclass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any, Generic, TypeVar

import msgspec

from ..core.book import BookView
from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.messages import Line, Message
from ..core.metrics import LatencyHistogram
from ..core.parser import Rejection
from ..core.router import MessageRouter, RouterCheckpoint, RouterStats
from ._actor.updates import Update
from ._flow.faults import FaultInjector, FaultPlan, InjectedFault
from ._flow.health import HEALTH_EVERY_NS, Health, health_now
from ._pipeline import Pipeline
from ._work import CpuWork
from .base import RunConfig

__all__ = [
    "Answer",
    "Checkpoint",
    "Drain",
    "Line",
    "Query",
    "Ready",
    "Reply",
    "Restore",
    "Stop",
    "WorkerCheckpoint",
    "WorkerCore",
    "WorkerReport",
]

R = TypeVar("R")
"""A worker's final report (``WorkerReport`` or an engine's subclass)."""
V = TypeVar("V")
"""What a query's answer holds (``BookView``; phase 5: ``MarketView``)."""


class Query(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Read the top ``depth`` levels of ``asset_id``'s book. ``sent_ns`` is
    when the parent put the frame on the wire (a monotonic clock shared by
    every process on the machine, so the worker can subtract it)."""

    corr_id: int
    asset_id: str
    depth: int
    sent_ns: int


class Drain(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Answer ``token`` once everything before it is applied."""

    token: int


class Stop(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Send the final report and leave."""


class Checkpoint(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Phase 8: once this frame's messages are applied, send the whole
    state (``WorkerCheckpoint``) with the reply."""

    token: int


class WorkerCheckpoint(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Everything a restarted worker needs to continue as if it had never
    died, up to the frame that asked for it: the books and their counters
    (``RouterCheckpoint``) and the worker's own counts and histograms, so
    the final report still adds up (nothing counted twice or lost)."""

    token: int
    router: RouterCheckpoint
    processed: int
    other: int
    invalid: int
    failed: int
    rejections: list[tuple[int, str, int | None]]
    latency: LatencyHistogram
    processing: LatencyHistogram
    last_applied_ns: int | None
    frames: int
    parts: int


class Restore(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """Phase 8, the first frame of a restarted worker: its last checkpoint
    (``None``: none was taken, start empty) and every message its parent
    sent the dead worker after that checkpoint, to apply again (the tail
    of the run's log for this worker)."""

    checkpoint: WorkerCheckpoint | None
    entries: list[tuple[int, bool, Message | Line]]


class Answer(msgspec.Struct, Generic[V], frozen=True, array_like=True):
    """A query's answer and where the worker spent its time on it:
    ``received_ns`` (its frame was decoded) and ``answered_ns`` (the view
    was taken)."""

    corr_id: int
    view: V | None
    """A ``BookView`` (phase 5: a ``MarketView``), ``None`` if no book."""
    received_ns: int
    answered_ns: int


class Ready(msgspec.Struct, frozen=True, array_like=True, tag=True):
    """A worker is up: its first words to the parent."""

    worker: int
    pid: int


@dataclass(frozen=True)
class WorkerReport:
    """What one worker did, sent once at the end. Histograms merge in the
    parent (``LatencyHistogram.merge``); books are disjoint across workers,
    so their union is the whole ``--books-out``."""

    worker: int
    pid: int
    frames: int
    largest_frame: int
    parts: int
    processed: int
    other: int
    invalid: int
    """Lines this worker parsed (``--parse-in worker``) and rejected."""
    failed: int
    """Messages that raised here (``--fault-rate``): not applied, counted
    dropped (``worker_fault``) by the parent."""
    rejections: tuple[Rejection, ...]
    bytes_in: int
    decode_ns: int
    encode_ns: int
    busy_ns: int
    cpu_ns: int
    last_applied_ns: int | None
    latency: LatencyHistogram
    processing: LatencyHistogram
    router: RouterStats
    books: dict[str, dict[str, list[list]]] = field(repr=False)


class Reply(msgspec.Struct, Generic[R, V], frozen=True, array_like=True, tag=True):
    """The one answer to one frame (see the module docstring)."""

    worker: int
    updates: int
    answers: list[Answer[V]]
    drained: int | None = None
    report: R | None = None
    outbound: tuple[Update, ...] = ()
    """Phase 5: updates from this worker's actors to actors elsewhere,
    for the coordinator to pass on."""
    failed: int = 0
    """Phase 7: messages of this frame that raised (not applied)."""
    slow: int = 0
    """Phase 7: messages of this frame served slower than
    ``--breaker-latency-ms`` (judged on the frame's mean service time)."""
    health: Health | None = None
    """Phase 7: the worker's health report, when one was due."""
    checkpoint: WorkerCheckpoint | None = None
    """Phase 8: the state the frame's ``Checkpoint`` asked for."""


class WorkerCore:
    """The books of one worker and the loop body that applies frames.

    ``handle`` costs O(updates) plus, per update, the book's cost and the
    configured CPU work (``--work-ms``) and wait (``--io-ms``).

    ``frame_type``, ``report_type`` and ``view_type`` are what crosses the
    pipes, for a typed codec (``_codec``): a subclass that sends or takes
    more names its own.
    """

    frame_type: Any = tuple[
        list[tuple[int, bool, Message | Line]], list[Query | Drain | Stop | FaultPlan | Checkpoint | Restore]
    ]
    report_type: Any = WorkerReport
    view_type: Any = BookView

    def __init__(
        self,
        worker: int,
        config: RunConfig,
        per_ms: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.worker = worker
        self.clock = clock
        if config.slow_worker == worker:  # --slow-worker: this one does more per message
            config = replace(config, work_ms=config.work_ms + config.slow_ms)
        self.pipeline = Pipeline(config, clock, work=CpuWork(config.work_ms, per_ms))
        self._io_s = config.io_ms / 1e3
        self.frames = 0
        self.largest_frame = 0
        self.parts = 0
        self.bytes_in = 0
        self.decode_ns = 0
        self.encode_ns = 0
        self.busy_ns = 0
        self._cpu_started: int | None = None
        self.parsed: list[Message] = []
        """Messages parsed from this frame's ``Line``s (for ``after_frame``)."""
        # Phase 7: health reports, the breaker's latency bound, faults.
        self._reports_health = config.flow == "adaptive"
        self._health_due_ns = clock.now_ns() + HEALTH_EVERY_NS
        self._slow_ns = config.breaker_latency_ms * 1e6
        self.faults: FaultInjector | None = None
        self.failed = 0

    def handle(self, frame: tuple[list, list], received_ns: int) -> tuple[Reply, bool]:
        """Apply one frame; returns its reply and whether to stop."""
        if self._cpu_started is None:  # the worker's own thread, from its first frame
            self._cpu_started = time.thread_time_ns()
        updates, controls = frame
        now = self.clock.now_ns
        began = now()
        failed_before = self.failed
        checkpoint_token = None
        for control in controls:
            kind = type(control)
            if kind is Restore:  # a restarted worker: the state it died with, then what followed
                self.restore(control.checkpoint)
                updates = [*control.entries, *updates]
            elif kind is FaultPlan and self.faults is None:
                self.faults = FaultInjector(control)
            elif kind is Checkpoint:
                checkpoint_token = control.token
        self.apply_updates(updates, controls)
        self.frames += 1
        self.parts += len(updates)
        if len(updates) > self.largest_frame:
            self.largest_frame = len(updates)
        answers: list[Answer] = []
        drained = None
        stop = False
        for control in controls:
            kind = type(control)
            if kind is Query:
                view = self.view(control.asset_id, control.depth)
                answers.append(Answer(control.corr_id, view, received_ns, now()))
            elif kind is Drain:
                drained = control.token
            elif kind is Stop:
                stop = True
        parsed, self.parsed = self.parsed, []
        self.after_frame(chain((m for _, _, m in updates if type(m) is not Line), parsed))
        ended = now()
        spent = ended - began
        self.busy_ns += spent
        report = self.report() if stop else None
        failed = self.failed - failed_before
        served = len(updates) - failed
        slow = served if served and spent / len(updates) > self._slow_ns else 0
        health = None
        if self._reports_health and ended >= self._health_due_ns:
            health = self.health()
        reply = self.reply(len(frame[0]), answers, drained, report, failed, slow, health)
        if checkpoint_token is not None:
            reply = msgspec.structs.replace(reply, checkpoint=self.checkpoint(checkpoint_token))
        return reply, stop

    def apply_updates(self, updates: list, controls: list) -> None:
        """Apply the frame's messages in order: the primary part of each is
        counted, worked on and timed; the other parts only update books.
        (Phase 5 overrides this: its actors take the messages, and the
        frame's controls also carry their updates.)"""
        pipeline = self.pipeline
        router_apply = pipeline.router.apply
        now = self.clock.now_ns
        io_s = self._io_s
        faults = self.faults
        for produced_ns, primary, message in updates:
            if faults is not None and primary and self.struck(faults):
                continue
            if type(message) is Line:
                for parsed in pipeline.parse(message.text, message.line_no):
                    self.parsed.append(parsed)
                    started = now()
                    pipeline.apply(parsed)
                    if io_s:
                        time.sleep(io_s)
                    pipeline.record(produced_ns, started)
            elif primary:
                started = now()
                pipeline.apply(message)
                if io_s:
                    time.sleep(io_s)
                pipeline.record(produced_ns, started)
            else:
                router_apply(message)

    def checkpoint(self, token: int) -> WorkerCheckpoint:
        """This worker's whole state now (after the frame in hand)."""
        pipeline = self.pipeline
        return WorkerCheckpoint(
            token,
            pipeline.router.checkpoint(),
            pipeline.processed,
            pipeline.other,
            pipeline.invalid,
            self.failed,
            [tuple(r) for r in pipeline.rejections],
            pipeline.latency,
            pipeline.processing,
            pipeline.last_applied_ns,
            self.frames,
            self.parts,
        )

    def restore(self, checkpoint: WorkerCheckpoint | None) -> None:
        """Become the worker that took ``checkpoint`` (a fresh process,
        before its first message). Phase 5's actor host rebuilds its actors
        on top of the restored books."""
        if checkpoint is None:
            return
        pipeline = Pipeline(
            self.pipeline.config,
            self.clock,
            router=MessageRouter.restored(checkpoint.router),
            work=self.pipeline.work,
        )
        pipeline.processed = checkpoint.processed
        pipeline.restore_other(checkpoint.other)
        pipeline.invalid = checkpoint.invalid
        pipeline.rejections = [Rejection(*r) for r in checkpoint.rejections]
        pipeline.latency = checkpoint.latency
        pipeline.processing = checkpoint.processing
        pipeline.last_applied_ns = checkpoint.last_applied_ns
        self.pipeline = pipeline
        self.failed = checkpoint.failed
        self.frames = checkpoint.frames
        self.parts = checkpoint.parts

    def struck(self, faults: FaultInjector) -> bool:
        """Whether an injected fault fails this message (counted)."""
        try:
            faults.check(self.clock.now_ns())
        except InjectedFault:
            self.failed += 1
            return True
        return False

    def health(self) -> Health:
        """This worker's health report now (and the next one is due in a second)."""
        self._health_due_ns = self.clock.now_ns() + HEALTH_EVERY_NS
        pipeline = self.pipeline
        return health_now(
            self.worker, pipeline.processed, self.failed, self.busy_ns, pipeline.invalid, pipeline.processing
        )

    def view(self, asset_id: str, depth: int) -> Any:
        """A query's answer: the top of the asset's book (``None``: no book)."""
        return self.pipeline.router.query(asset_id, depth)

    def reply(
        self,
        updates: int,
        answers: list[Answer],
        drained: int | None,
        report: Any,
        failed: int = 0,
        slow: int = 0,
        health: Health | None = None,
    ) -> Reply:
        """The frame's one reply (phase 5 adds the updates it sends out)."""
        return Reply(self.worker, updates, answers, drained, report, (), failed, slow, health)

    def after_frame(self, messages: Iterator[Message]) -> None:
        """Called after every frame with the messages (parts) it applied,
        before its reply is sent; nothing here. Phase 4 publishes the books
        they touched (``BookStore.publish_touched(self.pipeline.router,
        messages)``), so a reader never sees a book older than its answer."""

    def idle_timeout_s(self) -> float | None:
        """How long the worker may wait for its next frame before ``on_idle``
        must run; ``None``: as long as it takes (phase 7: until its next
        health report is due)."""
        if not self._reports_health:
            return None
        return max(self._health_due_ns - self.clock.now_ns(), 0) / 1e9

    def on_idle(self) -> Any | None:
        """Called when no frame came within ``idle_timeout_s``; returns a
        message to send the parent, or ``None``. Phase 7: the health report
        an idle worker owes (a busy one sends it with a reply). Phase 4
        also publishes what a paced stream left unpublished."""
        if self._reports_health and self.clock.now_ns() >= self._health_due_ns:
            return self.health()
        return None

    def close(self) -> None:
        """Release what the core holds (phase 4: its shared memory). Called
        once, as the worker leaves, however it leaves."""

    @classmethod
    def reply_type(cls) -> Any:
        """What the parent decodes from this worker's pipe."""
        return Reply[cls.report_type, cls.view_type] | Ready | Health

    def report(self) -> WorkerReport:
        pipeline = self.pipeline
        return WorkerReport(
            worker=self.worker,
            pid=os.getpid(),
            frames=self.frames,
            largest_frame=self.largest_frame,
            parts=self.parts,
            processed=pipeline.processed,
            other=pipeline.other,
            invalid=pipeline.invalid,
            failed=self.failed,
            rejections=tuple(pipeline.rejections),
            bytes_in=self.bytes_in,
            decode_ns=self.decode_ns,
            encode_ns=self.encode_ns,
            busy_ns=self.busy_ns,
            # CPU this worker's thread really got; busy_ns is wall time, so on
            # a shared machine busy minus CPU is time other processes took.
            cpu_ns=time.thread_time_ns() - self._cpu_started if self._cpu_started is not None else 0,
            last_applied_ns=pipeline.last_applied_ns,
            latency=pipeline.latency,
            processing=pipeline.processing,
            router=pipeline.router.stats(),
            books=pipeline.router.export(),
        )
