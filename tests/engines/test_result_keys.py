"""The ``--json`` keys of an asyncio and a pool run are a contract (DESIGN.md, the
lessons' saved runs): typed stats must turn into exactly these keys, in
this order. The lists were taken from a run before the stats were typed."""

from __future__ import annotations

from orderbook_lab.engines import RunConfig, run_engine
from orderbook_lab.engines.actor import ActorEngine
from orderbook_lab.engines.asyncio import AsyncioEngine
from orderbook_lab.engines.multiprocessing import MultiprocessingEngine
from orderbook_lab.engines.shared_memory import SharedMemoryEngine

COMMON = (
    "phase",
    "engine",
    "config",
    "messages",
    "messages.generated",
    "messages.processed",
    "messages.dropped",
    "messages.invalid",
    "messages.other",
    "messages.dropped_by_reason",
    "throughput_msgs_per_s",
    "latency_ms",
    "latency_ms.p50",
    "latency_ms.p95",
    "latency_ms.p99",
    "latency_ms.max",
    "processing_us",
    "processing_us.p50",
    "processing_us.p95",
    "processing_us.p99",
    "queries",
    "queries.count",
    "queries.latency_us",
    "queries.latency_us.p50",
    "queries.latency_us.p95",
    "queries.latency_us.p99",
    "queue",
    "queue.high_water",
    "books",
    "books.count",
    "books.digest",
    "wall_s",
    "run_s",
    "startup_s",
    "shutdown_s",
    "schedule_lag_ms",
    "schedule_lag_ms.p50",
    "schedule_lag_ms.p95",
    "schedule_lag_ms.p99",
    "schedule_lag_ms.max",
    "book_events",
    "rejections",
)

POOL = (
    "workers",
    "workers[].worker",
    "workers[].pid",
    "workers[].processed",
    "workers[].parts",
    "workers[].frames",
    "workers[].bytes_in",
    "workers[].busy_s",
    "workers[].busy_share",
    "workers[].cpu_s",
    "workers[].cpu_share",
    "workers[].assets",
    "load_balance",
    "load_balance.routing",
    "load_balance.max_over_mean",
    "load_balance.assets_per_worker",
    "ipc",
    "ipc.codec",
    "ipc.batch",
    "ipc.queue_frames",
    "ipc.frames_sent",
    "ipc.bytes_sent",
    "ipc.bytes_per_message",
    "ipc.encode_ms",
    "ipc.decode_ms",
    "ipc.reply_encode_ms",
    "ipc.reply_decode_ms",
    "ipc.full_waits",
    "ipc.split_messages",
    "query_outcomes",
    "query_outcomes.answered",
    "query_outcomes.timed_out",
    "query_outcomes.late",
    "query_outcomes.shed",
    "query_breakdown_us",
    "query_breakdown_us.send",
    "query_breakdown_us.send.p50",
    "query_breakdown_us.send.p99",
    "query_breakdown_us.send.max",
    "query_breakdown_us.send.mean",
    "query_breakdown_us.queue",
    "query_breakdown_us.queue.p50",
    "query_breakdown_us.queue.p99",
    "query_breakdown_us.queue.max",
    "query_breakdown_us.queue.mean",
    "query_breakdown_us.worker",
    "query_breakdown_us.worker.p50",
    "query_breakdown_us.worker.p99",
    "query_breakdown_us.worker.max",
    "query_breakdown_us.worker.mean",
    "query_breakdown_us.reply",
    "query_breakdown_us.reply.p50",
    "query_breakdown_us.reply.p99",
    "query_breakdown_us.reply.max",
    "query_breakdown_us.reply.mean",
    "query_breakdown_us.total",
    "query_breakdown_us.total.p50",
    "query_breakdown_us.total.p99",
    "query_breakdown_us.total.max",
    "query_breakdown_us.total.mean",
    "stragglers_terminated",
)

SHM = (
    "query_outcomes",
    "query_outcomes.answered",
    "query_outcomes.timed_out",
    "query_outcomes.late",
    "query_outcomes.shed",
    "query_outcomes.busy",
    "query_outcomes.unpublished",
    "query_breakdown_us",
    "query_breakdown_us.wait",
    "query_breakdown_us.wait.p50",
    "query_breakdown_us.wait.p99",
    "query_breakdown_us.wait.max",
    "query_breakdown_us.wait.mean",
    "query_breakdown_us.read",
    "query_breakdown_us.read.p50",
    "query_breakdown_us.read.p99",
    "query_breakdown_us.read.max",
    "query_breakdown_us.read.mean",
    "query_breakdown_us.from_due",
    "query_breakdown_us.from_due.p50",
    "query_breakdown_us.from_due.p99",
    "query_breakdown_us.from_due.max",
    "query_breakdown_us.from_due.mean",
    "stragglers_terminated",
    "staleness_ms",
    "staleness_ms.p50",
    "staleness_ms.p95",
    "staleness_ms.p99",
    "staleness_ms.max",
    "shared_memory",
    "shared_memory.prefix",
    "shared_memory.queries_from",
    "shared_memory.sync_ms",
    "shared_memory.publishes",
    "shared_memory.rounds",
    "shared_memory.moves",
    "shared_memory.bytes_written",
    "shared_memory.mapped_bytes",
    "shared_memory.used_bytes",
    "shared_memory.segments",
    "shared_memory.publish_ms",
    "shared_memory.publish_cpu_ms",
    "shared_memory.publish_cpu_share",
    "shared_memory.workers",
    "shared_memory.workers[].worker",
    "shared_memory.workers[].books",
    "shared_memory.workers[].publishes",
    "shared_memory.workers[].rounds",
    "shared_memory.workers[].moves",
    "shared_memory.workers[].mapped_bytes",
    "shared_memory.workers[].used_bytes",
    "shared_memory.workers[].publish_cpu_ms",
    "shared_memory.reader",
    "shared_memory.reader.reads",
    "shared_memory.reader.retries",
    "shared_memory.reader.busy",
    "shared_memory.reader.relocations",
    "shared_memory.reader.torn_rejected",
    "shared_memory.reader.misses",
    "shared_memory.books_match",
    "shared_memory.segments_left_at_stop",
)
"""From ``query_outcomes`` on: phase 4 adds two outcomes, times its
queries in other segments, and adds staleness and the store's figures."""


ASYNCIO_QUEUE = (
    "queue",
    "queue.name",
    "queue.capacity",
    "queue.policy",
    "queue.depth",
    "queue.high_water",
    "queue.accepted",
    "queue.taken",
    "queue.dropped",
    "queue.dropped_by_reason",
    "queue.blocked_puts",
    "queue.wait_ms",
    "queue.wait_ms.mean",
    "queue.wait_ms.p99",
    "queue.wait_ms.max",
    "queue.put_wait_p99_ms",
)
"""The asyncio engine's ingress queue, where the contract has ``queue.high_water``."""

ASYNCIO = (
    "event_loop",
    "event_loop.used",
    "event_loop.why",
    "event_loop.default",
    "batching",
    "batching.batch_size",
    "batching.batch_timeout_ms",
    "batching.batches",
    "batching.mean_batch",
    "batching.full_batches",
    "offload",
    "offload.mode",
    "offload.threads",
    "network",
    "network.jitter_ms",
    "network.burst",
    "network.applied",
    "lanes",
    "lanes.count",
    "lanes.capacity",
    "lanes.merges",
    "lanes.high_water",
    "lanes.dispatcher_waits",
    "lanes.wait_p99_ms",
)


LITTLES_LAW = (
    "littles_law",
    "littles_law.arrivals",
    "littles_law.departures",
    "littles_law.elapsed_s",
    "littles_law.mean_depth",
    "littles_law.arrival_rate_per_s",
    "littles_law.mean_wait_ms",
    "littles_law.predicted_depth",
    "littles_law.relative_error",
)
"""The ingress queue against Little's law (``core.metrics.LittlesLaw``), last."""


def _paths(doc: dict, prefix: str = "") -> list[str]:
    """Every key, dotted; a list of objects shows its first one as ``[]``."""
    out = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        out.append(path)
        if isinstance(value, dict) and key not in ("config", "book_events"):
            out += _paths(value, path + ".")
        elif isinstance(value, list) and value and isinstance(value[0], dict) and key != "rejections":
            out += _paths(value[0], path + "[].")
    return out


def _run(engine_type, name: str, **options) -> list[str]:
    config = RunConfig(engine=name, messages=300, assets=3, query_rate=2000, **options)
    stats = run_engine(engine_type(config), config.synthetic_source())
    return _paths(stats.as_result(config))


def test_multiprocessing_result_keys_are_pinned():
    assert _run(MultiprocessingEngine, "multiprocessing", processes=2) == [*COMMON, *POOL, *LITTLES_LAW]


def test_shared_memory_result_keys_are_pinned():
    pool_head = POOL[: POOL.index("query_outcomes")]
    expected = [*COMMON, *pool_head, *SHM, *LITTLES_LAW]
    assert _run(SharedMemoryEngine, "shared-memory", processes=2) == expected


def test_asyncio_result_keys_are_pinned():
    at = COMMON.index("queue")
    expected = [*COMMON[:at], *ASYNCIO_QUEUE, *COMMON[at + 2 :], *ASYNCIO, *LITTLES_LAW]
    assert _run(AsyncioEngine, "asyncio") == expected


ACTOR = (
    "actor",
    "actor.updates_sent",
    "actor.updates_applied",
    "actor.updates_dropped",
    "actor.updates_buffered",
    "actor.update_latency_ms",
    "actor.update_latency_ms.p50",
    "actor.update_latency_ms.p95",
    "actor.update_latency_ms.p99",
    "actor.hops",
    "actor.causal_violations",
    "actor.cycles_stopped",
    "actor.opportunities",
)
"""The keys issue 14 names for phase 5's ``"actor"``; more may follow them."""


def test_actor_result_keys_extend_the_pools():
    paths = _run(ActorEngine, "actor", processes=2)
    assert paths[: len(COMMON) + len(POOL)] == [*COMMON, *POOL]
    assert set(ACTOR) <= set(paths[len(COMMON) + len(POOL) :])
    assert paths[-len(LITTLES_LAW) :] == list(LITTLES_LAW)


FLOW = (
    "flow",
    "flow.target_wait_ms",
    "flow.paced",
    "flow.dropped_by_reason",
    "flow.dropped_by_priority",
    "flow.sampled_depth",
    "flow.workers",
    "flow.workers[].capacity",
    "flow.workers[].breaker",
    "flow.workers[].transitions",
    "flow.workers[].decisions",
    "flow.health",
)
"""Phase 7's ``"flow"``: the queues' capacity decisions and the breakers'
transitions as time series, drops by reason and priority, health samples."""


def test_phase_7_adds_flow_before_littles_law():
    paths = _run(ActorEngine, "actor", processes=2, flow="adaptive")
    assert set(FLOW) <= set(paths)
    assert paths.index("flow") > paths.index("actor")
    assert paths[-len(LITTLES_LAW) :] == list(LITTLES_LAW)
