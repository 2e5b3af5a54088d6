"""``FlowControl``: the parent's side of phase 7, one instance per run.

Between the dispatcher and each worker sits a ``SheddingQueue`` whose bound
is an ``AdaptiveCapacity`` and whose gate is a ``CircuitBreaker``. The
bound covers everything on its way to that worker: messages waiting here
*and* messages in flight (sent, not yet answered), since both wait for the
same worker. Of that capacity, at most half is let into flight, in frames
of at most a quarter, so a worker always has its next frame at hand while
the rest waits where it can still be shed or reordered by priority.

The engine calls, all under its lock:

* ``offer`` for each routed message: queued, shed (by the breaker or by
  priority; the reason is returned for the run's drop counts) or, when the
  stream is not paced, ``WAIT`` (nobody is late when the source can be held
  back, so a full queue blocks as phase 6 does rather than shed);
* ``ready`` for each worker: the next frame's entries, when one may go;
* ``replied`` for each reply that carried messages: the frame's outcomes
  feed the breaker, its mean wait feeds the capacity's EWMA and Little's
  law;
* ``tick`` now and then: capacity decisions, and breakers of silent workers.

While a worker's breaker is open, its messages are **shed, not parked**.
Parking would keep them for a worker whose recovery time nobody knows:
the backlog would grow without bound and, once it drained, every message
in it would be as late as the outage was long. Shedding loses them at
once, counted (``breaker_open``, by priority and asset), and the books of
that worker's assets stay behind until their next snapshot repairs them;
the run says so instead of pretending they are whole.

Pure bookkeeping: no thread, no clock of its own, no I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from ...core.metrics import QueueMeter
from .breaker import CircuitBreaker
from .capacity import AdaptiveCapacity, CapacityDecision
from .health import Health, HealthBoard, HealthSample
from .shedding import PRIORITY_NAMES, SheddingQueue

__all__ = ["SAMPLE_EVERY_S", "WAIT", "FlowControl", "WorkerFlow"]

WAIT = "wait"
"""``offer``'s answer when the message must wait for room (unpaced stream)."""

_INITIAL_CAPACITY = 64
_MIN_CAPACITY = 4
_MAX_CAPACITY = 100_000
SAMPLE_EVERY_S = 0.01
"""How often the engine samples the depth (10 ms: well under any wait it
is compared with), from a thread of its own, at moments unrelated to
arrivals."""
_MAX_FRAME_AGE_NS = 2_000_000
"""A partial frame leaves once its oldest message has waited this long
(as phase 3's batches)."""


@dataclass
class WorkerFlow:
    """What the parent keeps for one worker."""

    queue: SheddingQueue
    capacity: AdaptiveCapacity
    breaker: CircuitBreaker
    decisions: list[CapacityDecision]
    sent: deque  # (sum of enqueue times, messages) per frame in flight, in order
    pressed: bool = False
    lowest_capacity: int = 0


class FlowControl:
    """See the module docstring."""

    def __init__(
        self,
        workers: int,
        *,
        target_wait_ms: float,
        breaker_latency_ms: float,
        batch: int,
        queue_frames: int,
        paced: bool,
        start_ns: int,
    ) -> None:
        self.target_wait_ms = target_wait_ms
        self.breaker_latency_ms = breaker_latency_ms
        self.batch = batch
        self.queue_frames = queue_frames
        self.paced = paced
        self.start_ns = start_ns
        self.workers = [
            WorkerFlow(
                queue=SheddingQueue(),
                capacity=AdaptiveCapacity(
                    target_wait_ms * 1e6,
                    initial=_INITIAL_CAPACITY,
                    minimum=_MIN_CAPACITY,
                    maximum=_MAX_CAPACITY,
                ),
                breaker=CircuitBreaker(),
                decisions=[],
                sent=deque(),
                lowest_capacity=_INITIAL_CAPACITY,
            )
            for _ in range(workers)
        ]
        self.dropped: Counter[str] = Counter()
        """Reason -> messages (``breaker_open``, ``shed:change``...)."""
        self.dropped_by_priority: Counter[str] = Counter()
        self.dropped_by_asset: Counter[str] = Counter()
        self.meter = QueueMeter()
        self.health = HealthBoard(workers, start_ns)
        self.failed = 0
        self.slow = 0
        self.waits = 0  # times the dispatcher waited for room (unpaced)
        self.depth_samples = 0
        self.depth_sampled_sum = 0

    # ------------------------------------------------------------ in

    def offer(
        self, worker: int, entry: Any, rank: int, asset: str, now_ns: int, in_flight: int
    ) -> str | None:
        """Queue ``entry`` for ``worker``; returns ``None`` (queued), a drop
        reason (this message or a victim was shed; counted here) or ``WAIT``."""
        flow = self.workers[worker]
        if not flow.breaker.allow(now_ns):
            return self._drop("breaker_open", rank, asset)
        queue = flow.queue
        if len(queue) + in_flight >= flow.capacity.capacity:
            flow.pressed = True
            if not self.paced:
                return WAIT
            victim = queue.shed_for(rank, asset)
            if victim is None:
                return self._drop(f"shed:{PRIORITY_NAMES[rank]}", rank, asset)
            _item, enqueued_ns, victim_rank, victim_asset = victim
            self.meter.depart(now_ns, now_ns - enqueued_ns)
            reason = self._drop(f"shed:{PRIORITY_NAMES[victim_rank]}", victim_rank, victim_asset)
            queue.put(entry, rank, asset, now_ns)
            self.meter.arrive(now_ns)
            return reason
        queue.put(entry, rank, asset, now_ns)
        self.meter.arrive(now_ns)
        return None

    def _drop(self, reason: str, rank: int, asset: str) -> str:
        self.dropped[reason] += 1
        self.dropped_by_priority[PRIORITY_NAMES[rank]] += 1
        self.dropped_by_asset[asset] += 1
        return reason

    # ------------------------------------------------------------ out

    def ready(self, worker: int, now_ns: int, in_flight: int, frames_in_flight: int) -> list:
        """The entries of the next frame for ``worker``, or ``[]`` if none
        should go now (nothing waits, no room in flight, or a partial frame
        that may still fill while the worker is busy)."""
        flow = self.workers[worker]
        queue = flow.queue
        if not queue or frames_in_flight >= self.queue_frames:
            return []
        if flow.breaker.state == "open":  # accepted before it opened: shed now, not sent
            for _entry, enqueued_ns, rank, asset in queue.drain():
                self.meter.depart(now_ns, now_ns - enqueued_ns)
                self._drop("breaker_open", rank, asset)
            return []
        capacity = flow.capacity.capacity
        room = max(1, capacity // 2) - in_flight
        if room <= 0:
            return []
        size = min(self.batch, room, max(1, capacity // 4))
        oldest = queue.oldest_ns()
        if len(queue) < size and in_flight and oldest is not None and now_ns - oldest < _MAX_FRAME_AGE_NS:
            return []  # the worker is busy: let the frame fill a little
        taken = queue.take(size)
        flow.sent.append((sum(enqueued for _, enqueued in taken), len(taken)))
        return [entry for entry, _ in taken]

    def pending(self) -> int:
        """Messages waiting in every queue (not yet sent)."""
        return sum(len(flow.queue) for flow in self.workers)

    def shed_all(self, worker: int, now_ns: int, reason: str) -> int:
        """Drop everything waiting for ``worker`` (its breaker is open at the
        end of the stream, so nothing would ever take it)."""
        flow = self.workers[worker]
        drained = flow.queue.drain()
        for _entry, enqueued_ns, rank, asset in drained:
            self.meter.depart(now_ns, now_ns - enqueued_ns)
            self._drop(reason, rank, asset)
        return len(drained)

    # ------------------------------------------------------------ back

    def replied(self, worker: int, now_ns: int, failed: int, slow: int) -> None:
        """A reply to a frame of ``ready``'s came back."""
        flow = self.workers[worker]
        if not flow.sent:
            return
        enqueued_sum, count = flow.sent.popleft()
        waited = now_ns * count - enqueued_sum
        self.meter.depart(now_ns, waited, count)
        flow.capacity.observe(waited / count)
        self.failed += failed
        self.slow += slow
        failures = min(count, failed + slow)
        flow.breaker.record(now_ns, count - failures, failures)

    def sample_depth(self, in_flight: list[int]) -> None:
        """One look at the depth (waiting + in flight), as a monitor polling
        the queue would take it: Little's law held against a measurement
        of its own. Sampled at arrivals instead, every sample would include
        the message just queued, and read high."""
        self.depth_samples += 1
        self.depth_sampled_sum += self.pending() + sum(in_flight)

    def lost_in_flight(self, worker: int, now_ns: int) -> None:
        """``worker`` died with frames in flight: they leave this queue now
        (the restarted worker gets them again from the run's tail, outside
        the flow accounting)."""
        flow = self.workers[worker]
        while flow.sent:
            enqueued_sum, count = flow.sent.popleft()
            self.meter.depart(now_ns, now_ns * count - enqueued_sum, count)

    def heard(self, health: Health, now_ns: int, in_flight: int) -> HealthSample | None:
        """File a worker's health report with the parent's view of it."""
        flow = self.workers[health.worker]
        ewma = flow.capacity.wait_ewma_ns or 0.0
        return self.health.receive(
            health,
            now_ns,
            len(flow.queue) + in_flight,
            flow.capacity.capacity,
            ewma / 1e6,
            flow.breaker.state,
        )

    def tick(self, now_ns: int, in_flight: list[int]) -> None:
        """Capacity decisions that are due; breakers of workers silent too
        long while they have work in flight."""
        for flow in self.workers:
            capacity = flow.capacity
            if capacity.due(now_ns):
                decision = capacity.decide(now_ns, flow.pressed)
                flow.pressed = False
                flow.decisions.append(decision)
                flow.lowest_capacity = min(flow.lowest_capacity, decision.capacity)
        for worker in self.health.silent(now_ns):
            if in_flight[worker]:
                self.workers[worker].breaker.force_open(now_ns, "no health report for 3 s")
