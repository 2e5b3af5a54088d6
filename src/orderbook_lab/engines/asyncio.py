"""Phase 2, the ``asyncio`` engine: one thread, one event loop, many tasks.

The shape, every task owned by a ``TaskGroup``::

    reader ──► ingress queue ──► dispatcher ──► lane queue ──► lane worker ─┐
    (network    (bounded,         (batches;       (bounded,     (book update, │ one per
     frames,     backpressure      asset ->        blocks)       CPU work,    │ group of
     parse)      policy)           lane)                         awaited I/O) ┘ assets
    query clients: one task per query, at --query-rate

What it buys: while one lane awaits its ``--io-ms``, the loop runs the other
lanes, so waits for different assets overlap and throughput grows with the
number of lanes, up to ``lanes / io``. What it cannot buy: every line of
Python still runs on this one thread, so ``--work-ms`` of CPU blocks the
loop and everything on it, queries included. ``--offload thread`` moves
that work to threads, which only take turns holding the GIL: still one core.

Ordering. Each asset's messages must be applied in stream order, or the
books would differ from phase 1. A lane is a worker with a FIFO queue, so
routing every message of an asset to one lane keeps that asset in order.
A ``price_change`` may touch several assets (the YES and NO tokens of a
market travel together), so a lane serves a *group* of assets: the ones
messages tie together. The dispatcher keeps asset -> lane; an asset seen
for the first time joins the lane of its market (so YES and NO, whose first
snapshots come separately, share a lane from the start), and a message
that ties assets of two lanes waits until the other lanes have finished
everything queued (a barrier, counted as a merge), then moves its assets to
one lane. The live feed never needs a merge; a recording that mixes
formats might. Routing by the ``market`` field alone would be simpler but
would trust every message to name its market consistently; this is correct
whatever the messages say.

Shutdown is by closing, never by cancelling: the reader closes the ingress
queue after the last frame, the dispatcher drains it and closes the lane
queues, the lanes drain theirs and return, and the query clients stop when
processing is done. Cancellation happens only when a task fails; then the
messages caught in flight are counted as dropped (``aborted``), so even a
failed run accounts for every message.

The ingress queue keeps a ``QueueMeter``, so the result checks it against
Little's law (``littles_law``): the backlog observed, L, against the
arrival rate times the mean wait, λW. A run that drains its queue makes
them agree whatever the load, policy or batching, so a disagreement means
a miscounted queue, or a failed run that left a backlog inside.

(This module is ``engines/asyncio.py``, named after its ``--engine`` like
every engine. It does not shadow the standard library: imports are
absolute, so ``import asyncio`` here and everywhere else finds the stdlib.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any

from ..core.clock import Clock
from ..core.messages import Message, OtherMessage, PriceChangeMessage
from ..core.metrics import LittlesLaw
from ..core.source import MessageSource
from ._async_source import network_frames
from ._pipeline import PROGRESS_EVERY, Pipeline, QuerySchedule
from ._queues import POLICIES, BoundedQueue, QueueClosed
from ._stats import AsyncioStats, BatchingStats, EventLoopStats, LaneStats, NetworkStats, OffloadStats
from ._work import CpuWork
from .base import Lifecycle, RunConfig, RunStats

__all__ = ["AsyncioEngine", "LOOPS"]

LOOPS = ("uvloop", "asyncio")
"""``--loop`` choices. The default is uvloop when it is installed."""

_LANE_CAPACITY = 8
"""Messages a lane may hold. Small, so the ingress queue (whose size and
policy the user chooses) is where backlog builds. Measured at 10 assets and
2 ms of I/O (``compare --phases 1,2 --io-ms 2``), capacities 8 to 64 gave the
same throughput within 2 %; 4 lost about 6 % to the dispatcher waiting on
one full lane while others ran dry."""

_MAX_LANES = 512
"""Lane tasks at most; past that, new asset groups share lanes round-robin
(fewer overlapping waits, never a wrong order)."""

_OFFLOAD_THREADS = 4
"""Threads for ``--offload thread``. A small pool: Python code in them takes
turns on the GIL, so more threads would only queue for it."""

_MAX_QUERIES_IN_FLIGHT = 64
"""Query tasks alive at once; past that, query clients wait (and the wait
is charged to query latency)."""

_Item = tuple[int, Message]  # (produced_ns, message)


def _loop_factory(requested: str | None) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str, str]:
    """The event loop to run on: (factory or None for asyncio's own, name, why)."""
    if requested not in (None, *LOOPS):
        raise ValueError(f"unknown event loop {requested!r}; choose from {', '.join(LOOPS)}")
    if requested == "asyncio":
        return None, "asyncio", "requested"
    try:
        import uvloop
    except ImportError:
        return None, "asyncio", "uvloop is not installed; fell back to asyncio's own loop"
    return uvloop.new_event_loop, "uvloop", "requested" if requested else "default (uvloop is installed)"


def _touched(message: Message) -> tuple[tuple[str, ...], str]:
    """The assets a message changes, and its market ("" if it names none)."""
    kind = type(message)
    if kind is PriceChangeMessage:
        changes = message.changes
        if len(changes) == 2 and changes[0].asset_id != changes[1].asset_id:
            return (changes[0].asset_id, changes[1].asset_id), message.market
        return tuple(dict.fromkeys(c.asset_id for c in changes)), message.market
    if kind is OtherMessage:
        return ((message.asset_id,) if message.asset_id else ()), ""
    return (message.asset_id,), message.market


class _Lane:
    """One worker's queue, and whether it has work in flight."""

    __slots__ = ("index", "queue", "pending", "idle")

    def __init__(self, index: int, queue: BoundedQueue[_Item]) -> None:
        self.index = index
        self.queue = queue
        self.pending = 0  # queued or being processed
        self.idle = asyncio.Event()
        self.idle.set()


class _Lanes:
    """Asset -> lane assignment (see "Ordering" in the module docstring)."""

    def __init__(self, spawn: Callable[[_Lane], Any], clock: Clock) -> None:
        self._spawn = spawn
        self._clock = clock
        self.lanes: list[_Lane] = []
        self._asset_lane: dict[str, _Lane] = {}
        self._market_lane: dict[str, _Lane] = {}
        self._reuse = 0
        self.merges = 0

    async def lane_for(self, message: Message) -> _Lane:
        assets, market = _touched(message)
        asset_lane = self._asset_lane
        if len(assets) == 1:  # the common case, and it needs no set
            lane = asset_lane.get(assets[0])
            if lane is not None:
                return lane
        found = {id(lane): lane for a in assets if (lane := asset_lane.get(a)) is not None}
        if not found:
            lane = self._market_lane.get(market) if market else None
            if lane is None:
                lane = self._next_lane()
                if market:
                    self._market_lane[market] = lane
        elif len(found) == 1:
            (lane,) = found.values()
        else:
            lane = asset_lane.get(assets[0]) or next(iter(found.values()))
            for other in found.values():
                if other is not lane:
                    await other.idle.wait()  # everything it holds for these assets is applied
            self.merges += 1
        for asset in assets:
            asset_lane[asset] = lane
        return lane

    def _next_lane(self) -> _Lane:
        if len(self.lanes) < _MAX_LANES:
            index = len(self.lanes)
            lane = _Lane(index, BoundedQueue(_LANE_CAPACITY, "block", name=f"lane{index}", clock=self._clock))
            self.lanes.append(lane)
            self._spawn(lane)
            return lane
        self._reuse += 1
        return self.lanes[self._reuse % _MAX_LANES]

    def close(self) -> None:
        for lane in self.lanes:
            lane.queue.close()

    def summary(self) -> LaneStats:
        stats = [lane.queue.stats() for lane in self.lanes]
        return LaneStats(
            count=len(self.lanes),
            capacity=_LANE_CAPACITY,
            merges=self.merges,
            high_water=max((s.high_water for s in stats), default=0),
            dispatcher_waits=sum(s.blocked_puts for s in stats),
            wait_p99_ms=round(max((s.wait_p99_ms for s in stats), default=0.0), 3),
        )


class AsyncioEngine(Lifecycle):
    """Event-loop engine (phase 2); see the module docstring."""

    name = "asyncio"

    def __init__(self, config: RunConfig, **kwargs) -> None:
        _validate(config)
        super().__init__(config, **kwargs)
        self._pipeline: Pipeline | None = None
        self._source: MessageSource | None = None
        self._runner: asyncio.Runner | None = None
        self._offloaded: CpuWork | None = None
        self._loop_name = "asyncio"
        self._loop_reason = ""
        self._ingress: BoundedQueue[_Item] | None = None
        self._lanes: _Lanes | None = None
        self._batches = 0
        self._batched = 0
        self._full_batches = 0
        self._littles_law: LittlesLaw | None = None

    # ------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        """Calibrate the CPU work and create the event loop (startup_s)."""
        pipeline = self._pipeline = Pipeline(self.config, self.clock)
        if self.config.offload == "thread" and self.config.work_ms > 0:
            # The book update stays on the loop; only the CPU work moves.
            self._offloaded, pipeline.work = pipeline.work, CpuWork(0.0)
        factory, self._loop_name, self._loop_reason = _loop_factory(self.config.loop)
        self._runner = asyncio.Runner(loop_factory=factory)
        self._runner.get_loop()

    def run(self, source: MessageSource) -> None:
        """Consume ``source`` to its end on the event loop, then return
        once every accepted message is applied."""
        self._require_started()
        assert self._runner is not None
        self._source = source
        self._runner.run(self._main(source))

    def _close(self) -> None:
        """Close the event loop (and its default executor)."""
        if self._runner is not None:
            self._runner.close()

    def stats(self) -> RunStats:
        if self._pipeline is None:
            raise RuntimeError("engine never started")
        return self._pipeline.stats(
            self.name,
            self._source,
            startup_s=self._startup_s,
            shutdown_s=self._shutdown_s,
            asyncio=self._figures(),
            littles_law=self._littles_law,
        )

    def books(self) -> dict[str, dict[str, list[list]]]:
        if self._pipeline is None:
            raise RuntimeError("engine never started")
        return self._pipeline.router.export()

    # ------------------------------------------------------------ tasks

    async def _main(self, source: MessageSource) -> None:
        config, pipeline = self.config, self._pipeline
        assert pipeline is not None
        ingress: BoundedQueue[_Item] = BoundedQueue(
            config.queue_size,
            config.backpressure,
            name="ingress",
            clock=self.clock,
            on_drop=lambda _item, reason: pipeline.drop(reason),
        )
        self._ingress = ingress
        executor = (
            ThreadPoolExecutor(_OFFLOAD_THREADS, thread_name_prefix="offload")
            if self._offloaded is not None
            else None
        )
        processed = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._read(source, ingress), name="reader")
                tasks.create_task(self._dispatch(ingress, executor, processed), name="dispatcher")
                if config.query_rate > 0:
                    tasks.create_task(self._query_clients(tasks, processed), name="query-clients")
        except BaseException:
            # Cancelled by a failure (or Ctrl-C): what was in flight is lost, and counted.
            unfinished = (
                pipeline.generated - pipeline.invalid - pipeline.processed - sum(pipeline.dropped.values())
            )
            if unfinished > 0:
                pipeline.drop("aborted", unfinished)
            raise
        finally:
            if executor is not None:
                executor.shutdown(wait=True)
            pipeline.queue_high_water = ingress.high_water
            # Read when the run ends: the ingress queue is drained (unless
            # the run failed, and then the backlog shows as an error).
            self._littles_law = ingress.littles_law()

    async def _read(self, source: MessageSource, ingress: BoundedQueue[_Item]) -> None:
        """Network frames in, parsed messages into the ingress queue."""
        config, pipeline = self.config, self._pipeline
        assert pipeline is not None
        accept, put, on_progress = pipeline.accept, ingress.put, self.on_progress
        frames = 0
        stream = network_frames(
            source, clock=self.clock, jitter_ms=config.jitter_ms, burst=config.burst, seed=config.seed
        )
        try:
            async with aclosing(stream):
                async for frame in stream:
                    produced = frame.produced_ns
                    for message in accept(frame):
                        await put((produced, message))  # a refused one is counted by on_drop
                    frames += 1
                    if on_progress is not None and frames % PROGRESS_EVERY == 0:
                        on_progress(pipeline.generated)
        finally:
            ingress.close()  # "no more": the dispatcher drains what is queued, then ends
        if on_progress is not None:
            on_progress(pipeline.generated)

    async def _dispatch(
        self, ingress: BoundedQueue[_Item], executor: ThreadPoolExecutor | None, processed: asyncio.Event
    ) -> None:
        """Batches from the ingress queue, each message to its lane; the
        lanes live in this task's own TaskGroup, so leaving it means every
        lane has drained and returned."""
        config = self.config
        batch_size, timeout_s = config.batch_size, config.batch_timeout_ms / 1e3
        try:
            async with asyncio.TaskGroup() as lane_tasks:
                lanes = self._lanes = _Lanes(
                    lambda lane: lane_tasks.create_task(
                        self._work_lane(lane, executor), name=f"lane{lane.index}"
                    ),
                    self.clock,
                )
                try:
                    while True:
                        try:
                            batch = await ingress.get_batch(batch_size, timeout_s)
                        except QueueClosed:
                            break
                        self._batches += 1
                        self._batched += len(batch)
                        self._full_batches += len(batch) == batch_size
                        for item in batch:
                            lane = await lanes.lane_for(item[1])
                            lane.pending += 1
                            lane.idle.clear()
                            await lane.queue.put(item)
                finally:
                    lanes.close()
        finally:
            processed.set()

    async def _work_lane(self, lane: _Lane, executor: ThreadPoolExecutor | None) -> None:
        """Apply one lane's messages in order; await each one's I/O."""
        pipeline = self._pipeline
        assert pipeline is not None
        apply, record, now = pipeline.apply, pipeline.record, self.clock.now_ns
        io_s = self.config.io_ms / 1e3
        offloaded = self._offloaded
        loop = asyncio.get_running_loop()
        get = lane.queue.get
        yield_each = not io_s and executor is None  # otherwise an await already gave way
        while True:
            try:
                produced, message = await get()
            except QueueClosed:
                return
            started = now()
            apply(message)  # book update (+ CPU work unless offloaded): holds the loop
            if executor is not None:
                await loop.run_in_executor(executor, offloaded)
            if io_s:
                await asyncio.sleep(io_s)  # the loop runs other lanes meanwhile
            record(produced, started)
            lane.pending -= 1
            if not lane.pending:
                lane.idle.set()
            if yield_each:
                # get() does not suspend while the lane has a backlog: without
                # this, one lane would run its whole queue (8 messages of CPU
                # work) before a query or another lane got a turn.
                await asyncio.sleep(0)

    async def _query_clients(self, tasks: asyncio.TaskGroup, processed: asyncio.Event) -> None:
        """Start one query task per due time until processing is done."""
        config, now = self.config, self.clock.now_ns
        schedule = QuerySchedule(config.query_rate, config.seed, now())
        slots = asyncio.Semaphore(_MAX_QUERIES_IN_FLIGHT)
        while not processed.is_set():
            wait_s = (schedule.next_due_ns() - now()) / 1e9
            try:
                async with asyncio.timeout(max(wait_s, 0.0)):
                    await processed.wait()
                return
            except TimeoutError:
                pass
            due = schedule.take_due(now())
            if due is None:  # the timer fired a hair early
                continue
            await slots.acquire()
            tasks.create_task(self._query(schedule, due, slots))

    async def _query(self, schedule: QuerySchedule, due_ns: int, slots: asyncio.Semaphore) -> None:
        """One read of one book; latency from its due time to its answer."""
        pipeline = self._pipeline
        assert pipeline is not None
        try:
            pipeline.answer_query(schedule.pick(pipeline.router.assets()), due_ns)
        finally:
            slots.release()

    # ------------------------------------------------------------ results

    def _figures(self) -> AsyncioStats:
        config = self.config
        return AsyncioStats(
            event_loop=EventLoopStats(
                used=self._loop_name, why=self._loop_reason, default="uvloop when installed, else asyncio"
            ),
            batching=BatchingStats(
                batch_size=config.batch_size,
                batch_timeout_ms=config.batch_timeout_ms,
                batches=self._batches,
                mean_batch=round(self._batched / self._batches, 3) if self._batches else 0.0,
                full_batches=self._full_batches,
            ),
            offload=OffloadStats(
                mode=config.offload, threads=_OFFLOAD_THREADS if self._offloaded is not None else 0
            ),
            network=NetworkStats(
                jitter_ms=config.jitter_ms,
                burst=config.burst,
                applied=bool(
                    (config.rate > 0 or config.speed > 0) and (config.jitter_ms > 0 or config.burst > 1)
                ),
            ),
            queue=self._ingress.stats() if self._ingress is not None else None,
            lanes=self._lanes.summary() if self._lanes is not None else None,
        )


def _validate(config: RunConfig) -> None:
    if config.queue_size < 1:
        raise ValueError(f"queue_size must be at least 1, not {config.queue_size}")
    if config.backpressure not in POLICIES:
        raise ValueError(f"unknown backpressure {config.backpressure!r}; choose from {', '.join(POLICIES)}")
    if config.batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {config.batch_size}")
    if config.batch_timeout_ms < 0:
        raise ValueError(f"batch_timeout_ms must be >= 0, not {config.batch_timeout_ms}")
    if config.offload not in ("none", "thread"):
        raise ValueError(f"unknown offload {config.offload!r}; choose none or thread")
    if config.loop not in (None, *LOOPS):
        raise ValueError(f"unknown event loop {config.loop!r}; choose from {', '.join(LOOPS)}")
    if config.burst < 1:
        raise ValueError(f"burst must be at least 1, not {config.burst}")
    if config.jitter_ms < 0:
        raise ValueError(f"jitter_ms must be >= 0, not {config.jitter_ms}")
