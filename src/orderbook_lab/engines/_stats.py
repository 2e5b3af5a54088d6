"""Typed figures of the engines that have more to say than ``RunStats``.

The asyncio engine (phase 2) reports its loop, batches and lanes; a
worker pool (phases 3 and 4) its workers, its wire and its queries;
phase 4 adds its shared-memory store. Each part is a frozen
dataclass a reader finds by name (``stats.pool.ipc.encode_ms``), not a
string path into a dict; ``as_dict`` gives the ``--json`` form, whose keys
are the contract (``tests/engines/test_result_keys.py`` pins them). ``RunStats`` carries
them as ``asyncio``, ``pool`` and ``shm``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.metrics import LatencyHistogram, Percentiles

if TYPE_CHECKING:  # only a type here: importing _queues would pull asyncio into base
    from ._queues import QueueStats

__all__ = [
    "EventLoopStats",
    "BatchingStats",
    "OffloadStats",
    "NetworkStats",
    "LaneStats",
    "AsyncioStats",
    "WorkerStats",
    "LoadBalance",
    "IpcStats",
    "QueryOutcomes",
    "QueryPart",
    "PoolStats",
    "ShmWorkerStats",
    "ShmStats",
    "ActorTallyStats",
    "ActorStats",
    "FlowWorkerStats",
    "FlowStats",
    "WorkerStatus",
    "LiveStatus",
    "RecoveryStats",
    "RayStats",
]


@dataclass(frozen=True)
class EventLoopStats:
    """Which event loop ran, and why that one."""

    used: str
    why: str
    default: str


@dataclass(frozen=True)
class BatchingStats:
    """How the dispatcher took messages from the ingress queue."""

    batch_size: int
    batch_timeout_ms: float
    batches: int
    mean_batch: float
    full_batches: int


@dataclass(frozen=True)
class OffloadStats:
    """Where the CPU work ran (``--offload``) and on how many threads."""

    mode: str
    threads: int


@dataclass(frozen=True)
class NetworkStats:
    """The simulated network (``--jitter-ms``, ``--burst``); ``applied``
    only on a paced stream."""

    jitter_ms: float
    burst: int
    applied: bool


@dataclass(frozen=True)
class LaneStats:
    """The lanes (one task per group of assets) and their small queues."""

    count: int
    capacity: int
    merges: int
    high_water: int
    dispatcher_waits: int
    wait_p99_ms: float


@dataclass(frozen=True)
class AsyncioStats:
    """The asyncio engine's figures (phase 2). ``queue`` (the ingress
    queue) replaces the result's ``{"high_water": n}`` with a superset."""

    event_loop: EventLoopStats
    batching: BatchingStats
    offload: OffloadStats
    network: NetworkStats
    queue: QueueStats | None
    lanes: LaneStats | None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "event_loop": asdict(self.event_loop),
            "batching": asdict(self.batching),
            "offload": asdict(self.offload),
            "network": asdict(self.network),
        }
        if self.queue is not None:
            doc["queue"] = self.queue.as_dict()
        if self.lanes is not None:
            doc["lanes"] = asdict(self.lanes)
        return doc


@dataclass(frozen=True)
class WorkerStats:
    """One worker: what it applied, and how busy it was (shares of ``run_s``)."""

    worker: int
    pid: int
    processed: int
    parts: int
    frames: int
    bytes_in: int
    busy_s: float
    busy_share: float
    cpu_s: float
    cpu_share: float
    assets: int


@dataclass(frozen=True)
class LoadBalance:
    """How assets were placed and how evenly the messages followed them."""

    routing: str
    max_over_mean: float
    assets_per_worker: list[int]


@dataclass(frozen=True)
class IpcStats:
    """The parent-to-worker wire: frames, bytes and the codec's time, ms."""

    codec: str
    batch: int
    queue_frames: int
    frames_sent: int
    bytes_sent: int
    bytes_per_message: float
    encode_ms: float
    decode_ms: float
    reply_encode_ms: float
    reply_decode_ms: float
    full_waits: int
    split_messages: int


@dataclass(frozen=True)
class QueryOutcomes:
    """What became of the ``--query-rate`` queries. ``busy`` and
    ``unpublished`` are phase 4's (reads of shared memory); ``None`` elsewhere."""

    answered: int
    timed_out: int
    late: int
    shed: int
    busy: int | None = None
    unpublished: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class QueryPart:
    """One segment of a query's latency, µs. Means add up across segments;
    percentiles do not."""

    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, histogram: LatencyHistogram) -> QueryPart:
        summary = histogram.summary(1e3).as_dict(("p50", "p99", "max"))
        return cls(**summary, mean=round(histogram.mean_ns() / 1e3, 3))


@dataclass(frozen=True)
class PoolStats:
    """A worker pool's figures (``multiprocessing``, ``threads``, ``shared-memory``)."""

    workers: tuple[WorkerStats, ...]
    load_balance: LoadBalance
    ipc: IpcStats
    query_outcomes: QueryOutcomes
    query_breakdown_us: dict[str, QueryPart]
    """Segment name -> its latency (``send``, ``queue``, ``worker``,
    ``reply``, ``total``; phase 4: ``wait``, ``read``, ``from_due``)."""
    stragglers_terminated: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "workers": [asdict(worker) for worker in self.workers],
            "load_balance": asdict(self.load_balance),
            "ipc": asdict(self.ipc),
            "query_outcomes": self.query_outcomes.as_dict(),
            "query_breakdown_us": {name: asdict(part) for name, part in self.query_breakdown_us.items()},
            "stragglers_terminated": self.stragglers_terminated,
        }


@dataclass(frozen=True)
class ShmWorkerStats:
    """One worker's store: its books, what it published, its memory."""

    worker: int
    books: int
    publishes: int
    rounds: int
    moves: int
    mapped_bytes: int
    used_bytes: int
    publish_cpu_ms: float


@dataclass(frozen=True)
class ShmStats:
    """Phase 4's store, summed over workers, and the parent's reader.
    ``staleness_ms`` (the age of the answers) is a key of its own in the
    result, beside ``shared_memory``."""

    staleness_ms: Percentiles
    prefix: str
    queries_from: str
    sync_ms: float
    publishes: int
    rounds: int
    moves: int
    bytes_written: int
    mapped_bytes: int
    used_bytes: int
    segments: int
    publish_ms: float
    publish_cpu_ms: float
    publish_cpu_share: float
    workers: tuple[ShmWorkerStats, ...]
    reader: Any
    """The parent's ``ReaderStats`` (``_shm``), ``None`` if it never opened."""
    books_match: bool
    segments_left_at_stop: int

    def as_dict(self) -> dict[str, Any]:
        shm = {key: getattr(self, key) for key in _SHM_KEYS}
        shm["workers"] = [asdict(worker) for worker in self.workers]
        shm["reader"] = None if self.reader is None else asdict(self.reader)
        return {"staleness_ms": self.staleness_ms.as_dict(), "shared_memory": shm}


_SHM_KEYS = (
    "prefix",
    "queries_from",
    "sync_ms",
    "publishes",
    "rounds",
    "moves",
    "bytes_written",
    "mapped_bytes",
    "used_bytes",
    "segments",
    "publish_ms",
    "publish_cpu_ms",
    "publish_cpu_share",
    "workers",
    "reader",
    "books_match",
    "segments_left_at_stop",
)


@dataclass(frozen=True)
class ActorTallyStats:
    """One asset actor: updates it applied, sent and lost, and how deep
    its mailboxes got."""

    asset: str
    worker: int
    applied: int
    sent: int
    dropped: int
    market_high_water: int
    update_high_water: int


@dataclass(frozen=True)
class ActorStats:
    """Phase 5: the actors' updates, their causal order and their
    mailboxes, summed over workers. ``as_dict`` is the result's ``"actor"``."""

    placement: str
    delivery: str
    coordinator: str
    actors: int
    summaries: int
    max_hops: int
    update_queue_size: int
    updates_sent: int
    updates_local: int
    updates_via_coordinator: int
    updates_applied: int
    updates_dropped: int
    dropped_by_reason: dict[str, int]
    updates_buffered: int
    held_at_end: int
    update_latency_ms: Percentiles
    chain_latency_ms: dict[int, Percentiles]
    """Hops -> latency from the chain's first send to this hop's apply."""
    hops: dict[int, int]
    causal_violations: int
    stale_quotes_at_end: int
    """Tokens whose implied quote differs, at the end, from what their
    complement's final top implies (0 unless updates were lost)."""
    cycles_stopped: int
    opportunities: int
    market_high_water: int
    update_high_water: int
    coordinator_high_water: int
    drain_rounds: int
    slow_asset: ActorTallyStats | None
    busiest: tuple[ActorTallyStats, ...]
    tallies: tuple[ActorTallyStats, ...] = field(default=(), repr=False)
    """Every asset actor (not in ``--json``: one row per asset)."""

    @property
    def conserved(self) -> bool:
        """Every update sent was applied, dropped, or is still held."""
        return self.updates_sent == self.updates_applied + self.updates_dropped + self.held_at_end

    def as_dict(self) -> dict[str, Any]:
        actor = asdict(self)
        del actor["tallies"]
        actor["update_latency_ms"] = self.update_latency_ms.as_dict(("p50", "p95", "p99", "max"))
        actor["chain_latency_ms"] = {
            str(hops): p.as_dict(("p50", "p95", "p99")) for hops, p in sorted(self.chain_latency_ms.items())
        }
        actor["hops"] = {str(hops): count for hops, count in sorted(self.hops.items())}
        actor["conserved"] = self.conserved
        return {"actor": actor}


@dataclass(frozen=True)
class FlowWorkerStats:
    """Phase 7, one worker: where its queue's capacity went and what its
    breaker did, as time series (``t_s`` from the run's start)."""

    worker: int
    capacity: int
    """At the end of the run."""
    capacity_lowest: int
    wait_ewma_ms: float
    breaker: str
    """State at the end."""
    breaker_opened: int
    transitions: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]
    """Every capacity decision with its inputs (``wait_ewma_ms``, ``pressed``)."""


@dataclass(frozen=True)
class FlowStats:
    """Phase 7 (``--flow adaptive``): queues, breakers, shedding and health.
    ``as_dict`` is the result's ``"flow"``."""

    target_wait_ms: float
    breaker_latency_ms: float
    paced: bool
    """Shedding is for paced streams; an unpaced one waits for room instead."""
    dropped_by_reason: dict[str, int]
    dropped_by_priority: dict[str, int]
    most_dropped_assets: dict[str, int]
    """The five assets that lost the most messages (fairness at a glance)."""
    assets_dropped_from: int
    worker_faults: int
    slow_messages: int
    dispatcher_waits: int
    sampled_depth: float
    """Mean of the depth (waiting + in flight) sampled every 10 ms: L as a
    monitor sees it, to hold against Little's λW."""
    workers: tuple[FlowWorkerStats, ...]
    health: tuple[dict[str, Any], ...]
    """One sample per worker per report (about one a second)."""

    def as_dict(self) -> dict[str, Any]:
        flow = asdict(self)
        flow["health"] = list(self.health)
        flow["workers"] = [
            {**worker, "transitions": list(worker["transitions"]), "decisions": list(worker["decisions"])}
            for worker in flow["workers"]
        ]
        return {"flow": flow}


@dataclass(frozen=True)
class WorkerStatus:
    """One worker as the parent sees it during a run (phase 7 and later:
    from its latest health report and the parent's own view)."""

    worker: int
    alive: bool
    breaker: str
    depth: int
    """Messages waiting for it in the parent plus those in flight."""
    capacity: int
    wait_ms: float
    processed: int
    failed: int
    invalid: int
    busy: float
    cpu: float
    rss_mb: float
    last_report_s: float | None
    """Seconds since its last health report (``None``: none yet)."""


@dataclass(frozen=True)
class LiveStatus:
    """A running engine's numbers at one moment, safe to read from another
    thread (``serve``'s endpoints, a metrics scrape). Counters are
    cumulative since the run started."""

    running: bool
    uptime_s: float
    generated: int
    processed: int
    invalid: int
    dropped: dict[str, int]
    restarts: int
    workers: tuple[WorkerStatus, ...]
    processing: LatencyHistogram
    """Service time per message, merged over the workers' latest reports."""


@dataclass(frozen=True)
class RecoveryStats:
    """Phase 8 (``--recovery``): checkpoints taken and workers brought back.
    ``as_dict`` is the result's ``"recovery"``."""

    restarts: int
    checkpoints: int
    checkpoint_s: float
    events: tuple[dict[str, Any], ...]
    """Per restart: ``worker``, ``died_at_s`` (into the run),
    ``detected_ms`` (death to the main loop acting on it), ``restart_ms``
    (a new process up), ``checkpoint_age_ms``, ``replayed`` (entries of
    the tail sent again), ``frames_lost_in_flight``."""

    def as_dict(self) -> dict[str, Any]:
        recovery = asdict(self)
        recovery["events"] = list(self.events)
        return {"recovery": recovery}


@dataclass(frozen=True)
class RayStats:
    """Phase 5's actors on Ray (``--engine ray``): what the cluster cost to
    start, what one actor call costs, what each actor weighs, and how the
    frames went. ``as_dict`` is the result's ``"ray"``."""

    address: str
    """``local (127.0.0.1)``: a cluster this run started and stopped;
    else the cluster it joined (``--ray-address``)."""
    actors: int
    """Book actors, one per group of markets (``--processes``)."""
    batch: int
    """Messages per frame (``--ipc-batch``)."""
    in_flight_cap: int
    """Most frames (calls) in flight to one actor (``--ray-in-flight``)."""
    frames_sent: int
    ray_waits: int
    """``ray.wait`` calls that returned at least one reply."""
    cluster_start_s: float
    """``ray.init``: starting (or joining) the cluster; part of ``startup_s``."""
    actors_start_s: float
    """Creating the actors until each answered; part of ``startup_s``."""
    call_round_trip_ms: Percentiles
    """An empty actor call (``ping``), timed from the driver at start-up."""
    calls_timed: int
    actor_rss_mib: tuple[float, ...]
    """Each actor's resident memory at the end of the run, MiB."""

    def as_dict(self) -> dict[str, Any]:
        ray = asdict(self)
        ray["call_round_trip_ms"] = self.call_round_trip_ms.as_dict(("p50", "p95", "p99", "max"))
        ray["actor_rss_mib"] = list(self.actor_rss_mib)
        return {"ray": ray}
