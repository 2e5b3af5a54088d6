"""Prometheus metrics, read from the engine when Prometheus scrapes.

Nothing here runs per message. A pool engine already keeps every figure a
dashboard wants (the parent counts what it generated and shed; each worker
reports its counters and its service-time histogram about once a second),
so ``EngineCollector`` asks for one ``LiveStatus`` per scrape and turns it
into metric families. The hot path pays nothing for metrics, and a scrape
costs one pass over a few thousand histogram counters.

Because the parent aggregates the workers' reports, one process exposes the
whole pipeline: no multiprocess directory, no per-process registries to
merge. The price is lag: worker counts (processed, invalid, faults, the
histogram, memory) are as of each worker's latest health report, up to
about a second old, and exist only with ``--flow adaptive`` (phase 7 and
later); before that they read 0. What the parent knows itself (generated,
shed, queue depth, breakers) is current.

Names follow Prometheus's conventions: base units (seconds, bytes), ``_total``
on counters, and labels of bounded cardinality: ``outcome`` and ``reason``
have a few fixed values, ``worker`` one per process; nothing is labelled by
asset or message, which would make one series per book.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from ..core.metrics import LatencyHistogram
from ..engines._stats import LiveStatus

__all__ = ["DROP_REASONS", "PROCESSING_BOUNDS_S", "EngineCollector", "cumulative_buckets", "metrics_registry"]

PREFIX = "orderbook_lab"

DROP_REASONS = ("shed:snapshot", "shed:change", "shed:trade", "breaker_open", "worker_fault")
"""Every reason a message is dropped for; always exported (0 until it
happens) so a rate() over them never starts from a missing series."""

PROCESSING_BOUNDS_S = (
    1e-6,
    2.5e-6,
    5e-6,
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""The ``le`` bounds of ``orderbook_lab_processing_seconds``: 1 µs to 10 s,
1-2.5-5 per decade. A book update takes a few µs, ``--work-ms`` adds ms;
fixed bounds, so buckets from different runs and scrapes line up."""


def cumulative_buckets(
    histogram: LatencyHistogram, bounds_s: Sequence[float] = PROCESSING_BOUNDS_S
) -> tuple[list[tuple[str, float]], float]:
    """``([(le, cumulative count), ..., ("+Inf", count)], sum_s)`` for
    ``histogram``. O(buckets + bounds).

    A ``LatencyHistogram`` bucket is 1/64 of a power of two wide and rarely
    lines up with a bound. It is counted under the first bound at or above
    its upper edge, so ``le`` keeps its meaning (every sample counted there
    was at most ``le``); a bucket straddling a bound moves to the next one,
    an error of at most 1/64 of the sample's value. The sum comes from the
    buckets' midpoints, within 0.8 % (the histogram keeps no exact total).

        >>> h = LatencyHistogram()
        >>> for ns in (800, 3_000, 3_000, 2_000_000_000):
        ...     h.record(ns)
        >>> buckets, sum_s = cumulative_buckets(h, (1e-6, 1e-5, 1.0))
        >>> buckets
        [('1e-06', 1.0), ('1e-05', 3.0), ('1.0', 3.0), ('+Inf', 4.0)]
        >>> round(sum_s, 3)
        2.0
    """
    edges = histogram.buckets()
    cumulative: list[tuple[str, float]] = []
    seen = 0
    position = 0
    for bound_s in bounds_s:
        bound_ns = bound_s * 1e9
        while position < len(edges) and edges[position][0] <= bound_ns:
            seen += edges[position][1]
            position += 1
        cumulative.append((floatToGoString(bound_s), float(seen)))
    count = sum(n for _, n in edges)
    cumulative.append(("+Inf", float(count)))
    return cumulative, histogram.mean_ns() * count / 1e9


class EngineCollector(Collector):
    """The ``orderbook_lab_*`` families of one running engine (module
    docstring). ``status`` is anything that returns a ``LiveStatus`` now,
    from any thread: ``engine.live_status``."""

    def __init__(self, status: Callable[[], LiveStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        yield from _message_families(status)
        yield _processing_family(status.processing)
        yield from _worker_families(status)

    def describe(self) -> list[Metric]:
        # Registering calls describe(); returning nothing keeps it from
        # calling collect() (and the engine) before there is anything to read.
        return []


def metrics_registry(status: Callable[[], LiveStatus]) -> CollectorRegistry:
    """A registry of its own holding one ``EngineCollector``: the process's
    default registry (and its process_* and python_* metrics) is left out,
    so a test or a second service never sees another's series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(status))
    return registry


def _message_families(status: LiveStatus) -> Iterator[Metric]:
    messages = CounterMetricFamily(
        f"{PREFIX}_messages",
        "Messages by what became of them: applied to a book, dropped (any reason) or rejected as invalid.",
        labels=["outcome"],
    )
    messages.add_metric(["processed"], status.processed)
    messages.add_metric(["dropped"], sum(status.dropped.values()))
    messages.add_metric(["invalid"], status.invalid)
    yield messages
    dropped = CounterMetricFamily(
        f"{PREFIX}_dropped",
        "Messages dropped, by reason (shed by priority, breaker open, worker fault).",
        labels=["reason"],
    )
    for reason in DROP_REASONS:
        dropped.add_metric([reason], status.dropped.get(reason, 0))
    yield dropped
    yield CounterMetricFamily(
        f"{PREFIX}_generated", "Messages the source produced and the dispatcher accepted.", status.generated
    )
    yield CounterMetricFamily(
        f"{PREFIX}_worker_restarts", "Workers restarted after they died.", status.restarts
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_running", "1 while the engine's run is under way.", int(status.running)
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_uptime_seconds", "Time since the run's first message.", status.uptime_s
    )


def _processing_family(processing: LatencyHistogram) -> Metric:
    buckets, sum_s = cumulative_buckets(processing)
    return HistogramMetricFamily(
        f"{PREFIX}_processing_seconds",
        "Service time per message in its worker (parse, apply, work), as of each worker's latest report.",
        buckets=buckets,
        sum_value=sum_s,
    )


def _worker_families(status: LiveStatus) -> Iterator[Metric]:
    gauges = {
        "queue_depth": "Messages waiting for the worker in the parent plus those in flight.",
        "capacity": "Messages its queue may hold now (adaptive queues resize themselves).",
        "wait_seconds": "Moving average of the wait from dispatcher to book.",
        "breaker_open": "1 while the worker's circuit breaker is open (half-open and closed: 0).",
        "worker_up": "1 while the worker process is alive.",
        "rss_bytes": "Resident memory of the worker process, as of its latest report.",
        "last_report_age_seconds": "Time since the worker's latest health report (absent before its first).",
    }
    families = {
        name: GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=["worker"])
        for name, help_text in gauges.items()
    }
    for worker in status.workers:
        label = [str(worker.worker)]
        families["queue_depth"].add_metric(label, worker.depth)
        families["capacity"].add_metric(label, worker.capacity)
        families["wait_seconds"].add_metric(label, worker.wait_ms / 1e3)
        families["breaker_open"].add_metric(label, int(worker.breaker == "open"))
        families["worker_up"].add_metric(label, int(worker.alive))
        families["rss_bytes"].add_metric(label, worker.rss_mb * 2**20)
        if worker.last_report_s is not None:
            families["last_report_age_seconds"].add_metric(label, worker.last_report_s)
    yield from families.values()
