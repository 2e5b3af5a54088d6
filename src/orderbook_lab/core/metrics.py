"""Latency histograms, throughput and queue meters: cheap enough to leave on.

``LatencyHistogram`` records integer nanoseconds into log-linear buckets
(the HdrHistogram idea): 64 sub-buckets per power of two, so any
percentile (and the mean) it reports is within 1/128 (0.8 %) of the true
figure, memory is fixed (a few thousand counters however long the run),
``record`` is O(1), and two histograms merge by adding counters, which is
how worker processes report to their parent.

Recording runs twice per message, so it is built to be cheap: a sample
below 65.5 µs (nearly every one in a flat-out run) finds its bucket with one
index into a shared 512 KiB table instead of a ``bit_length`` call and
three operations, and only the counters and the exact maximum are kept (a
running total would allocate a new int per sample). ``orderbook-lab bench
codec`` measures what the metrics cost a phase-1 message.

``QueueMeter`` watches one queue (items in, items out, how long each
stayed) and reports its mean depth both as observed and as Little's law
predicts it from arrivals and waits (``LittlesLaw``); two O(1) updates per
item, so a queue can keep one for the whole run.

    >>> h = LatencyHistogram()
    >>> for ns in range(1, 1001):
    ...     h.record(ns * 1000)           # 1 µs .. 1 ms
    >>> h.count, h.max_ns
    (1000, 1000000)
    >>> abs(h.percentile(50) - 500_000) / 500_000 < 0.008   # within 0.8 %
    True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LatencyHistogram", "LittlesLaw", "Percentiles", "QueueMeter", "record_pair", "throughput"]

_SUB_BITS = 7
_HALF = 1 << (_SUB_BITS - 1)  # sub-buckets per power of two above 128 ns
_MAX_SHIFT = 48  # values past 2**55 ns (over a year) land in the last bucket
_SIZE = (_MAX_SHIFT + 2) * _HALF
_TABLE_NS = 1 << 16
"""Samples below this many ns take their bucket from ``_BUCKET_OF``."""


def _bucket(ns: int) -> int:
    # Values below 2**7 get a bucket each; above, the top 7 bits of the
    # value (64..127) pick one of 64 buckets in the value's power of two.
    shift = ns.bit_length() - _SUB_BITS
    if shift <= 0:
        return ns
    if shift > _MAX_SHIFT:
        return _SIZE - 1
    return shift * _HALF + (ns >> shift)


def _bucket_table() -> list[int]:
    # Bucket by bucket: below 128 ns each value is its own bucket; above,
    # bucket ``shift * 64 + k`` (k in 64..127) covers 2**shift values.
    table = list(range(2 * _HALF))
    shift = 1
    while len(table) < _TABLE_NS:
        for k in range(_HALF, 2 * _HALF):
            table.extend([shift * _HALF + k] * (1 << shift))
        shift += 1
    return table[:_TABLE_NS]


_BUCKET_OF = _bucket_table()


def _bucket_mid(index: int) -> float:
    if index < 2 * _HALF:
        return float(index)
    shift = index // _HALF - 1
    low = (index % _HALF + _HALF) << shift
    return low + ((1 << shift) - 1) / 2


def _bucket_high(index: int) -> int:
    # The largest value ``_bucket`` maps to ``index`` (the inverse of the
    # layout above: bucket shift * 64 + k covers k << shift up to 2**shift more).
    if index < 2 * _HALF:
        return index
    shift = index // _HALF - 1
    return ((index % _HALF + _HALF) << shift) + (1 << shift) - 1


@dataclass(frozen=True)
class Percentiles:
    """A latency summary in one unit (named by the field that holds it)."""

    p50: float
    p95: float
    p99: float
    max: float

    def as_dict(self, keys: tuple[str, ...] = ("p50", "p95", "p99", "max")) -> dict[str, float]:
        return {key: round(getattr(self, key), 3) for key in keys}


class LatencyHistogram:
    """Fixed-memory histogram of non-negative integer nanoseconds."""

    __slots__ = ("_counts", "max_ns")

    def __init__(self) -> None:
        self._counts = [0] * _SIZE
        self.max_ns = 0

    def record(self, ns: int) -> None:
        """Add one sample. O(1); negative samples count as 0.

        A sample under ``_TABLE_NS`` takes its bucket from the table; only
        a longer one pays for the call to ``_bucket``, which is then a
        small share of what it measures."""
        if ns < _TABLE_NS:
            if ns < 0:
                ns = 0
            self._counts[_BUCKET_OF[ns]] += 1
        else:
            self._counts[_bucket(ns)] += 1
        if ns > self.max_ns:
            self.max_ns = ns

    def merge(self, other: LatencyHistogram) -> None:
        """Add every sample of ``other`` into this histogram. O(buckets)."""
        counts = self._counts
        for index, n in enumerate(other._counts):
            if n:
                counts[index] += n
        self.max_ns = max(self.max_ns, other.max_ns)

    @property
    def count(self) -> int:
        """Samples recorded. O(buckets): summed when asked, so that
        ``record``, which runs per message, has one counter less to bump."""
        return sum(self._counts)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) in ns; 0.0 when empty. O(buckets)."""
        count = self.count
        if count == 0:
            return 0.0
        rank = max(1, round(q / 100 * count))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                return min(_bucket_mid(index), float(self.max_ns))
        return float(self.max_ns)

    def mean_ns(self) -> float:
        """The mean in ns, within 0.8 % (from the buckets); 0.0 when empty. O(buckets)."""
        count = self.count
        if count == 0:
            return 0.0
        total = sum(n * min(_bucket_mid(index), self.max_ns) for index, n in enumerate(self._counts) if n)
        return total / count

    def buckets(self) -> list[tuple[int, int]]:
        """``(highest_ns, count)`` for every non-empty bucket, ascending:
        each of those ``count`` samples was at most ``highest_ns``. O(buckets).

        This is the exact content of the histogram, for exporters that
        re-bucket it (a Prometheus scrape wants its own fixed bounds). The
        last bucket's edge is clamped to ``max_ns``, which every sample is
        below, so no edge is wider than what was recorded.

            >>> h = LatencyHistogram()
            >>> for ns in (5, 5, 1_000, 1_003):
            ...     h.record(ns)
            >>> h.buckets()        # 1,000 and 1,003 share a bucket 8 ns wide
            [(5, 2), (1003, 2)]
        """
        found = []
        for index, n in enumerate(self._counts):
            if n:
                found.append((min(_bucket_high(index), self.max_ns), n))
        return found

    def summary(self, unit_ns: float) -> Percentiles:
        """p50/p95/p99/max divided by ``unit_ns`` (1e3 for µs, 1e6 for ms)."""
        return Percentiles(
            self.percentile(50) / unit_ns,
            self.percentile(95) / unit_ns,
            self.percentile(99) / unit_ns,
            self.max_ns / unit_ns,
        )

    def __getstate__(self) -> tuple:
        # Sparse on the wire: a worker's histogram crosses a pipe as a few
        # hundred pairs, not thousands of zeros.
        nonzero = [(i, n) for i, n in enumerate(self._counts) if n]
        return nonzero, self.max_ns

    def __setstate__(self, state: tuple) -> None:
        nonzero, self.max_ns = state
        self._counts = [0] * _SIZE
        for index, n in nonzero:
            self._counts[index] = n


def record_pair(first: LatencyHistogram, first_ns: int, second: LatencyHistogram, second_ns: int) -> None:
    """``first.record(first_ns); second.record(second_ns)`` in one call.

    Every processed message records two samples (latency and processing
    time); one Python call instead of two keeps the metrics near 5 % of
    a phase-1 message (``orderbook-lab bench codec`` measures it).

    >>> a, b = LatencyHistogram(), LatencyHistogram()
    >>> record_pair(a, 1_000, b, -5)
    >>> (a.count, a.max_ns, b.count, b.max_ns)
    (1, 1000, 1, 0)
    """
    # ``record`` written out twice on purpose: a loop over the pair, or a
    # call per sample, costs more than it saves.
    if first_ns < _TABLE_NS:
        if first_ns < 0:
            first_ns = 0
        first._counts[_BUCKET_OF[first_ns]] += 1
    else:
        first._counts[_bucket(first_ns)] += 1
    if first_ns > first.max_ns:
        first.max_ns = first_ns
    if second_ns < _TABLE_NS:
        if second_ns < 0:
            second_ns = 0
        second._counts[_BUCKET_OF[second_ns]] += 1
    else:
        second._counts[_bucket(second_ns)] += 1
    if second_ns > second.max_ns:
        second.max_ns = second_ns


def throughput(count: int, seconds: float) -> float:
    """Events per second; 0.0 for an empty or instant interval."""
    return count / seconds if seconds > 0 and count else 0.0


@dataclass(frozen=True)
class LittlesLaw:
    """One queue's Little's law check (see ``QueueMeter``).

    ``mean_depth`` is L, the depth observed (averaged over ``elapsed_s``);
    ``predicted_depth`` is λ·W, from ``arrival_rate_per_s`` (λ) and
    ``mean_wait_ms`` (W, over the items that left); ``relative_error`` is
    |L - λW| / max(L, λW), a fraction (0 when both are 0).
    """

    arrivals: int
    departures: int
    elapsed_s: float
    mean_depth: float
    arrival_rate_per_s: float
    mean_wait_ms: float
    predicted_depth: float
    relative_error: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "arrivals": self.arrivals,
            "departures": self.departures,
            "elapsed_s": round(self.elapsed_s, 6),
            "mean_depth": round(self.mean_depth, 4),
            "arrival_rate_per_s": round(self.arrival_rate_per_s, 3),
            "mean_wait_ms": round(self.mean_wait_ms, 4),
            "predicted_depth": round(self.predicted_depth, 4),
            "relative_error": round(self.relative_error, 4),
        }


class QueueMeter:
    """Measures one queue two ways, so Little's law can check them against each other.

    Little's law: over a stretch of time, the mean number of items inside a
    queue (L) equals the rate at which they arrive (λ) times the mean time
    each spends inside (W): L = λW. It needs no assumption about the order
    items are served in or how arrivals and waits are distributed, because
    both sides count the same thing. Draw each item's stay as a bar from
    its arrival to its departure: stacking the bars gives the depth curve,
    so the area under that curve (item-seconds) is also the sum of the
    bars' lengths. Divide that area by the elapsed time and it is L; divide
    it by the number of items instead and it is W; and λ is items over
    elapsed time. The law is that identity, for any queue, scheduler or
    load.

    It holds exactly only when every bar is finished. An item still inside
    when the law is read adds area (to L) but no wait (to W), so a queue
    read with a backlog disagrees with itself; a queue that never settles
    (its backlog grows the whole run, as under an overload) disagrees
    more the longer it runs, and no mean describes it. A large
    ``relative_error`` therefore means "not a stable queue over this
    window" (or a meter told the wrong waits), not a failure of the law.

    The meter keeps the area under the depth curve, adding depth times
    the time since the last event at every event: ``arrive`` and
    ``depart`` are O(1), with integer nanoseconds, so the area is exact.
    Its clock is the caller's: every ``now_ns`` and ``waited_ns`` must come
    from the same one, and times must not run backwards.

        >>> meter = QueueMeter()
        >>> meter.arrive(0)
        >>> meter.arrive(1_000_000_000)                          # two items in, 1 s apart
        >>> meter.depart(2_000_000_000, waited_ns=2_000_000_000)  # the first leaves after 2 s
        >>> meter.depart(3_000_000_000, waited_ns=2_000_000_000)  # the second after 2 s too
        >>> law = meter.law(4_000_000_000)
        >>> law.mean_depth, law.arrival_rate_per_s, law.mean_wait_ms, law.predicted_depth
        (1.0, 0.5, 2000.0, 1.0)
        >>> law.relative_error
        0.0
    """

    __slots__ = ("arrivals", "departures", "depth", "_first_ns", "_last_ns", "_area", "_waited_ns")

    def __init__(self) -> None:
        self.arrivals = 0
        self.departures = 0
        self.depth = 0
        self._first_ns: int | None = None
        self._last_ns = 0
        self._area = 0  # item-nanoseconds under the depth curve, up to _last_ns
        self._waited_ns = 0  # the waits of every item that left, summed

    def arrive(self, now_ns: int, n: int = 1) -> None:
        """``n`` items enter at ``now_ns``. O(1)."""
        if self._first_ns is None:
            self._first_ns = self._last_ns = now_ns
        self._area += self.depth * (now_ns - self._last_ns)
        self._last_ns = now_ns
        self.depth += n
        self.arrivals += n

    def depart(self, now_ns: int, waited_ns: int, n: int = 1) -> None:
        """``n`` items leave at ``now_ns``; ``waited_ns`` is the sum of their
        times inside (from their ``arrive`` to now). O(1)."""
        self._area += self.depth * (now_ns - self._last_ns)
        self._last_ns = now_ns
        self.depth -= n
        self.departures += n
        self._waited_ns += waited_ns

    def law(self, now_ns: int) -> LittlesLaw:
        """L and λW from the first arrival up to ``now_ns``. O(1)."""
        first = self._first_ns
        elapsed_ns = 0 if first is None else now_ns - first
        if elapsed_ns <= 0:
            return LittlesLaw(self.arrivals, self.departures, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        area = self._area + self.depth * (now_ns - self._last_ns)
        mean_depth = area / elapsed_ns
        mean_wait_ns = self._waited_ns / self.departures if self.departures else 0.0
        # λW = (arrivals / elapsed) * (waited / departures), in one division
        # so that a queue that ends empty gives exactly its L.
        predicted = (
            self.arrivals * self._waited_ns / (elapsed_ns * self.departures) if self.departures else 0.0
        )
        larger = max(mean_depth, predicted)
        return LittlesLaw(
            arrivals=self.arrivals,
            departures=self.departures,
            elapsed_s=elapsed_ns / 1e9,
            mean_depth=mean_depth,
            arrival_rate_per_s=self.arrivals * 1e9 / elapsed_ns,
            mean_wait_ms=mean_wait_ns / 1e6,
            predicted_depth=predicted,
            relative_error=abs(mean_depth - predicted) / larger if larger > 0 else 0.0,
        )
