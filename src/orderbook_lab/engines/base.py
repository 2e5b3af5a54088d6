"""What every engine shares: its configuration, its statistics, its shape.

An engine is one module that composes the core behind this interface::

    engine = SyncEngine(config)     # configure: nothing starts yet
    engine.start()                  # spawn / allocate; timed as startup_s
    engine.run(source)              # consume the stream until it ends
    engine.stop()                   # drain and release; idempotent
    engine.stats()                  # frozen numbers: tables and --json

``run_engine`` drives that lifecycle and guarantees ``stop`` runs, so an
engine that starts processes or shared memory always gets to release them.
``Lifecycle`` is that lifecycle written once: an engine inherits it and
fills in ``_open`` (what start does) and ``_close`` (what stop releases).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.metrics import LittlesLaw, Percentiles
from ..core.parser import Rejection
from ..core.recording import RecordingStats
from ..core.router import RouterStats
from ..core.source import MessageSource, Popularity, SourceConfig
from ._stats import ActorStats, AsyncioStats, FlowStats, PoolStats, RayStats, RecoveryStats, ShmStats

__all__ = [
    "RunConfig",
    "RunStats",
    "Engine",
    "EngineError",
    "Lifecycle",
    "ProgressCallback",
    "run_engine",
]

ProgressCallback = Callable[[int], None]
"""Called now and then with the number of messages handled so far."""


@dataclass(frozen=True)
class RunConfig:
    """Every option of a run, engine-specific ones included. Engines read
    the fields they understand; the result JSON records all of them."""

    engine: str = "sync"
    phase: int | None = None
    messages: int | None = 10_000
    duration_s: float | None = None
    rate: float = 0.0
    speed: float = 0.0
    """Replays only: the recording's own pace times this (0 = off, see
    ``core/source.py``); never with ``rate``."""
    assets: int = 10
    seed: int = 1
    popularity: Popularity = "uniform"
    work_ms: float = 0.0
    io_ms: float = 0.0
    query_rate: float = 0.0
    query_depth: int = 10
    processes: int | None = None
    codec: Literal["pickle", "msgspec"] = "pickle"
    parse_in: Literal["dispatcher", "worker"] = "dispatcher"
    """Process engines: where wire lines are parsed. ``worker``: the
    dispatcher peeks at each line's market, sends it whole, and the worker
    that owns the market parses it (phase 6)."""
    # Phase 2 (asyncio): the ingress queue and its policy, batching, where
    # CPU work runs, which event loop, and how the network delivers frames.
    queue_size: int = 1000
    backpressure: Literal["block", "drop-newest", "drop-oldest"] = "block"
    batch_size: int = 64
    batch_timeout_ms: float = 0.0
    offload: Literal["none", "thread"] = "none"
    loop: Literal["uvloop", "asyncio"] | None = None
    jitter_ms: float = 0.0
    burst: int = 1
    metrics: bool = True
    """Latency histograms on; off only to measure what they cost (bench codec)."""
    ipc_batch: int = 64
    """Messages per IPC frame to one worker (process and thread engines)."""
    query_timeout_ms: float = 1000.0
    """How long a query sent to a worker may wait for its answer."""
    routing: Literal["directory", "hash"] = "directory"
    """How assets are placed on workers (see ``engines/_routing.py``)."""
    # Phase 4 (shared-memory): how often each worker publishes its books.
    sync_ms: float = 0.0
    """Least time between two publish rounds of a worker, ms; 0 = after
    every frame it applies. Larger: fewer publishes, older snapshots."""
    # Phase 5 (actor): where the actors live and how their updates travel.
    placement: Literal["market", "asset"] = "market"
    """``market``: both tokens of a market on one worker (updates stay in
    the process); ``asset``: spread by asset (updates cross processes)."""
    max_hops: int = 8
    """Longest chain of updates; a longer one is stopped and counted."""
    update_queue_size: int = 1000
    """Bound of each actor's update mailbox; a full one drops (counted)."""
    update_load: float | None = None
    """``None``: the domain's updates (implied quotes, opportunities).
    U >= 0: relay chains instead, U per market message (experiments)."""
    update_hops: int = 1
    """Hops of each relay chain (``update_load``); 0 = until ``max_hops``."""
    delivery: Literal["causal", "arrival"] = "causal"
    """``causal``: hold an update until its causal predecessors are applied;
    ``arrival``: apply as it comes and count what breaks causal order."""
    reorder_updates: bool = False
    """The coordinator shuffles each batch of updates it forwards (seeded):
    a network that reorders, for experiment 5.2."""
    slow_asset: str | None = None
    """This asset's actor spends ``slow_ms`` more CPU per market message."""
    slow_ms: float = 1.0
    """Extra CPU per message of ``slow_asset``'s actor, or of every message
    of ``slow_worker`` (phase 7)."""
    # Phase 7 (flow control): queues that size themselves, breakers, faults.
    flow: Literal["fixed", "adaptive"] = "fixed"
    """``fixed``: each worker's queue is ``queue_frames`` frames and a full
    one blocks the dispatcher; ``adaptive``: the queue's capacity follows
    the observed wait, breakers guard the workers and a paced stream's
    overload is shed by priority (``engines/_flow``)."""
    target_wait_ms: float = 100.0
    """The wait (dispatcher to applied) adaptive queues steer toward."""
    breaker_latency_ms: float = 100.0
    """A message whose service in its worker takes longer is a failure, for
    that worker's circuit breaker (so is one that raised)."""
    rate_ramp: tuple[float, float] | None = None
    """Pace the stream from ``rate * FROM`` to ``rate * TO`` over the run
    (fractions of ``rate``); ``None``: a constant ``rate``."""
    fault_rate: float = 0.0
    """Share of ``fault_worker``'s messages that fail (raise) on purpose."""
    fault_worker: int = 0
    fault_window: tuple[float, float] | None = None
    """Seconds ``(A, B)`` of the run during which faults strike; ``None``: all of it."""
    slow_worker: int | None = None
    """This worker spends ``slow_ms`` more CPU on every message."""
    # Phase 8 (production): recovery and shutdown.
    recovery: bool = False
    """Process engines: restart a worker that dies, from its last
    checkpoint and the messages sent to it since, and go on."""
    checkpoint_s: float = 1.0
    """With ``recovery``: how often each worker checkpoints its state."""
    kill_worker_at: int | None = None
    """Fault injection: SIGKILL worker ``kill_worker`` once this many
    messages have been generated."""
    kill_worker: int = 0
    drain_timeout_s: float | None = None
    """``None``: SIGTERM and Ctrl-C abort the run. Else they stop intake,
    drain what was accepted and end the run normally within this bound."""
    # Phase 8 (production): the event log, item 5 of issue #17.
    event_log: str | None = None
    """Directory of an event log (``core/eventlog.py``) that every applied
    message is appended to, with its seq and produced time; ``None``: no
    log. The ``sync`` engine only, for now."""
    # Beyond one machine (issue #18): phase 5's actors on Ray.
    ray_address: str | None = None
    """``--engine ray``: the address of a Ray cluster to join; ``None``:
    start a local one on 127.0.0.1 for the run and shut it down after."""
    ray_in_flight: int = 8
    """``--engine ray``: most frames (actor calls) in flight to one actor."""

    def source_config(self) -> SourceConfig:
        return SourceConfig(
            messages=self.messages,
            assets=self.assets,
            seed=self.seed,
            popularity=self.popularity,
        )

    def synthetic_source(self, clock: Clock = SYSTEM_CLOCK) -> MessageSource:
        """The simulated stream these options describe; a ``ValueError``
        if they cannot (a ``rate_ramp`` without a ``rate``, for one)."""
        return MessageSource.synthetic(
            self.source_config(),
            rate=self.rate,
            duration_s=self.duration_s,
            clock=clock,
            rate_ramp=self.rate_ramp,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """The stream and the load in a few words, for titles and logs."""
        parts = [
            f"{self.messages:,} msgs" if self.messages else f"{self.duration_s:g} s",
            f"{self.assets} assets",
            f"seed {self.seed}",
        ]
        for label, value, unit in (
            ("rate", self.rate, "/s"),
            ("work", self.work_ms, " ms"),
            ("io", self.io_ms, " ms"),
            ("queries", self.query_rate, "/s"),
        ):
            if value:
                parts.append(f"{label} {value:g}{unit}")
            if label == "rate" and self.rate_ramp is not None:
                parts.append("ramp {:g}:{:g}".format(*self.rate_ramp))
        return ", ".join(parts)


@dataclass(frozen=True)
class RunStats:
    """One run's numbers. Latencies: end to end in ms (source produced to
    book updated), processing and queries in µs (see ``core.metrics``)."""

    engine: str
    generated: int
    processed: int
    invalid: int
    dropped: dict[str, int]
    other: int
    rejections: tuple[Rejection, ...]
    latency_ms: Percentiles
    processing_us: Percentiles
    queries: int
    query_latency_us: Percentiles
    queue_high_water: int
    schedule_lag_ms: Percentiles
    books: int
    digest: str
    run_s: float
    startup_s: float
    shutdown_s: float
    router: RouterStats
    asyncio: AsyncioStats | None = None
    """The asyncio engine's figures (phase 2); ``None`` for the others."""
    pool: PoolStats | None = None
    """A worker pool's figures (phases 3 and 4); ``None`` for the others."""
    shm: ShmStats | None = None
    """The shared-memory store's figures (phase 4)."""
    actor: ActorStats | None = None
    """The actor engine's updates, clocks and mailboxes (phase 5)."""
    flow: FlowStats | None = None
    """Adaptive queues, breakers, shedding and health (phase 7)."""
    recovery: RecoveryStats | None = None
    """Checkpoints and restarts (phase 8)."""
    ray: RayStats | None = None
    """The cluster, the actor calls and the actors' memory (``--engine ray``)."""
    shutdown: dict[str, Any] | None = None
    """A graceful stop (``--drain-timeout``): what asked for it
    (``stopped_by``) and how long intake and the drain took after it."""
    recording: RecordingStats | None = None
    """Gaps and receive times of a replayed file; ``None`` for a simulated stream."""
    littles_law: LittlesLaw | None = None
    """The engine's main queue checked against Little's law (L against λW,
    ``core.metrics.QueueMeter``); ``None`` for an engine without one."""

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def throughput(self) -> float:
        """Processed messages per second of the run (start-up excluded)."""
        return self.processed / self.run_s if self.run_s > 0 else 0.0

    @property
    def wall_s(self) -> float:
        return self.startup_s + self.run_s + self.shutdown_s

    @property
    def conserved(self) -> bool:
        """``generated == processed + dropped + invalid``: nothing lost uncounted."""
        return self.generated == self.processed + self.dropped_total + self.invalid

    def as_result(self, config: RunConfig) -> dict[str, Any]:
        """The ``--json`` document of DESIGN.md, plus this lab's extra keys."""
        router = asdict(self.router)
        return {
            "phase": config.phase,
            "engine": self.engine,
            "config": config.as_dict(),
            "messages": {
                "generated": self.generated,
                "processed": self.processed,
                "dropped": self.dropped_total,
                "invalid": self.invalid,
                "other": self.other,
                "dropped_by_reason": dict(self.dropped),
            },
            "throughput_msgs_per_s": round(self.throughput, 3),
            "latency_ms": self.latency_ms.as_dict(),
            "processing_us": self.processing_us.as_dict(("p50", "p95", "p99")),
            "queries": {
                "count": self.queries,
                "latency_us": self.query_latency_us.as_dict(("p50", "p95", "p99")),
            },
            "queue": {"high_water": self.queue_high_water},
            "books": {"count": self.books, "digest": self.digest},
            "wall_s": round(self.wall_s, 6),
            "run_s": round(self.run_s, 6),
            "startup_s": round(self.startup_s, 6),
            "shutdown_s": round(self.shutdown_s, 6),
            "schedule_lag_ms": self.schedule_lag_ms.as_dict(),
            "book_events": router,
            "rejections": [
                {"line": r.line, "element": r.element, "reason": r.reason} for r in self.rejections
            ],
            **({"recording": self.recording.as_dict()} if self.recording is not None else {}),
            # Each engine's own figures, by name (``_stats``); the asyncio
            # engine's "queue" replaces the contract's with a superset.
            **(self.pool.as_dict() if self.pool is not None else {}),
            **(self.shm.as_dict() if self.shm is not None else {}),
            **(self.asyncio.as_dict() if self.asyncio is not None else {}),
            **(self.actor.as_dict() if self.actor is not None else {}),
            **(self.flow.as_dict() if self.flow is not None else {}),
            **(self.recovery.as_dict() if self.recovery is not None else {}),
            **(self.ray.as_dict() if self.ray is not None else {}),
            **({"shutdown": self.shutdown} if self.shutdown is not None else {}),
            **({"littles_law": self.littles_law.as_dict()} if self.littles_law is not None else {}),
        }


class EngineError(RuntimeError):
    """A run that cannot go on (a worker died, a codec is missing...).
    The message is one line meant for people; the CLI prints it and exits
    with ``exit_code``: 1, or 2 for a run that was asked for something this
    installation lacks (``--engine ray`` without Ray), like a bad argument."""

    exit_code = 1


class Engine(Protocol):
    """The lifecycle every engine follows (see the module docstring)."""

    name: str

    def start(self) -> None: ...

    def run(self, source: MessageSource) -> None: ...

    def stop(self) -> None: ...

    def stats(self) -> RunStats: ...

    def books(self) -> dict[str, dict[str, list[list]]]:
        """Final books in the ``--books-out`` form."""
        ...


class Lifecycle:
    """The lifecycle every engine shares: new -> starting -> started -> stopped.

    An engine inherits this (one level: it has no base of its own) and
    writes only what differs: ``_open`` (build, spawn, allocate) and
    ``_close`` (drain, join, release). This class times both, once for
    every engine (``startup_s``, ``shutdown_s``), refuses a second start
    and a run outside ``started``, and makes ``stop`` idempotent. A start
    that fails half-way leaves the state ``starting``, so ``stop`` still
    calls ``_close`` to release what was opened (the httpx client's
    unopened/opened/closed, STYLE.md point 8).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.on_progress = on_progress
        self._state = "new"
        self._startup_s = 0.0
        self._shutdown_s = 0.0

    def start(self) -> None:
        """Run ``_open``, timed as ``startup_s`` (not part of the run's throughput)."""
        if self._state != "new":
            raise RuntimeError(f"engine is {self._state}; an engine starts once")
        began = time.perf_counter()
        self._state = "starting"
        self._open()
        self._state = "started"
        self._startup_s = time.perf_counter() - began

    def stop(self) -> None:
        """Run ``_close``, timed as ``shutdown_s``. Idempotent; an engine
        that never started has nothing to release."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        began = time.perf_counter()
        try:
            self._close()
        finally:
            self._state = "stopped"
            self._shutdown_s = time.perf_counter() - began

    def _require_started(self) -> None:
        """For ``run``: only between ``start`` and ``stop``."""
        if self._state != "started":
            raise RuntimeError(f"engine is {self._state}; call start() first")

    def _open(self) -> None:
        """What ``start`` does; the state is ``starting`` meanwhile."""

    def _close(self) -> None:
        """What ``stop`` releases; runs at most once, even after a failed start."""


def run_engine(
    engine: Engine, source: MessageSource, *, on_started: Callable[[Engine], None] | None = None
) -> RunStats:
    """Start, run and stop ``engine`` on ``source``; ``stop`` always runs.
    ``on_started`` is called between start-up and the run (the CLI says
    which workers are up)."""
    try:
        engine.start()
        if on_started is not None:
            on_started(engine)
        engine.run(source)
    finally:
        engine.stop()
    return engine.stats()
