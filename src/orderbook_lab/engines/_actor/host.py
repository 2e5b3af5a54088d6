"""A worker process that hosts actors: phase 3's worker, with an
``ActorSystem`` in place of applying messages straight to the books.

A frame is ``(messages, controls)`` as in phase 3. For an actor host the
controls also carry the coordinator's ``Introduce`` notes and the updates
other workers' actors sent here; they are taken first (in order), then the
messages go to their actors' market mailboxes, and the actors run until
every mailbox is empty. Only then are the frame's queries answered, so a
query sees every message and update that reached this worker before it.
The reply carries the updates bound for other workers (``outbound``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.complements import MarketView
from ...core.messages import Message
from .._flow.faults import FaultPlan
from .._flow.health import Health
from .._work import CpuWork
from .._worker import (
    Answer,
    Checkpoint,
    Drain,
    Line,
    Query,
    Reply,
    Restore,
    Stop,
    WorkerCheckpoint,
    WorkerCore,
    WorkerReport,
)
from ..base import RunConfig
from .system import ActorCounters, ActorSettings, ActorSystem
from .updates import Introduce, Update

__all__ = ["ActorHost", "ActorWorkerReport"]


@dataclass(frozen=True)
class ActorWorkerReport(WorkerReport):
    """A phase 3 report plus what this worker's actors did."""

    actors: ActorCounters


class ActorHost(WorkerCore):
    """The actors of one worker (see the module docstring)."""

    frame_type = tuple[
        list[tuple[int, bool, Message | Line]],
        list[Query | Drain | Stop | FaultPlan | Checkpoint | Restore | Introduce | Update],
    ]
    report_type = ActorWorkerReport
    view_type = MarketView

    def __init__(
        self,
        worker: int,
        config: RunConfig,
        per_ms: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(worker, config, per_ms, clock)
        self._slow_work = CpuWork(config.slow_ms, per_ms) if config.slow_asset else None
        self.system = self._new_system()

    def _new_system(self) -> ActorSystem:
        config = self.pipeline.config
        return ActorSystem(
            self.worker,
            self.pipeline,
            ActorSettings.from_config(config),
            slow_work=self._slow_work,
            io_s=self._io_s,
        )

    def restore(self, checkpoint: WorkerCheckpoint | None) -> None:
        """The books come back from the checkpoint; the actors start anew
        on them (the restore frame introduces their markets again, and each
        token quotes its complement at its next message). Their update
        counters count from the restart."""
        super().restore(checkpoint)
        self.system = self._new_system()

    def apply_updates(self, updates: list, controls: list) -> None:
        system = self.system
        for control in controls:
            kind = type(control)
            if kind is Update:
                system.post_update(control)
            elif kind is Introduce:
                system.introduce(control)
        post, parse = system.post_market, self.pipeline.parse
        faults = self.faults
        for produced_ns, primary, message in updates:
            if faults is not None and primary and self.struck(faults):
                continue
            if type(message) is Line:
                for parsed in parse(message.text, message.line_no):
                    post(produced_ns, True, parsed)
            else:
                post(produced_ns, primary, message)
        system.run()

    def view(self, asset_id: str, depth: int):
        return self.system.view(asset_id, depth)

    def reply(
        self,
        updates: int,
        answers: list[Answer],
        drained: int | None,
        report,
        failed: int = 0,
        slow: int = 0,
        health: Health | None = None,
    ) -> Reply:
        outbound = tuple(self.system.take_outbound())
        return Reply(self.worker, updates, answers, drained, report, outbound, failed, slow, health)

    def report(self) -> ActorWorkerReport:
        base = super().report()
        return ActorWorkerReport(
            **{f.name: getattr(base, f.name) for f in fields(WorkerReport)},
            actors=self.system.counters(),
        )
