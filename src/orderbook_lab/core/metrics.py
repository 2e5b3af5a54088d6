"""Latency histograms and throughput: cheap enough to leave on.

``LatencyHistogram`` records integer nanoseconds into log-linear buckets
(the HdrHistogram idea): 64 sub-buckets per power of two, so any
percentile it reports is within 1/128 (0.8 %) of the true sample, memory is
fixed (a few thousand counters however long the run), ``record`` is O(1)
with no allocation, and two histograms merge by adding counters, which is
how worker processes report to their parent.

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

__all__ = ["LatencyHistogram", "Percentiles", "record_pair", "throughput"]

_SUB_BITS = 7
_HALF = 1 << (_SUB_BITS - 1)  # sub-buckets per power of two above 128 ns
_MAX_SHIFT = 48  # values past 2**55 ns (over a year) land in the last bucket
_SIZE = (_MAX_SHIFT + 2) * _HALF


def _bucket(ns: int) -> int:
    # Values below 2**7 get a bucket each; above, the top 7 bits of the
    # value (64..127) pick one of 64 buckets in the value's power of two.
    shift = ns.bit_length() - _SUB_BITS
    if shift <= 0:
        return ns
    if shift > _MAX_SHIFT:
        return _SIZE - 1
    return shift * _HALF + (ns >> shift)


def _bucket_mid(index: int) -> float:
    if index < 2 * _HALF:
        return float(index)
    shift = index // _HALF - 1
    low = (index % _HALF + _HALF) << shift
    return low + ((1 << shift) - 1) / 2


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

    __slots__ = ("_counts", "total_ns", "max_ns")

    def __init__(self) -> None:
        self._counts = [0] * _SIZE
        self.total_ns = 0
        self.max_ns = 0

    def record(self, ns: int) -> None:
        """Add one sample. O(1); negative samples count as 0.

        ``_bucket`` is inlined here: this runs once or twice per message,
        and a Python call costs as much as the rest of the method."""
        if ns < 0:
            ns = 0
        shift = ns.bit_length() - _SUB_BITS
        if shift <= 0:
            self._counts[ns] += 1
        elif shift > _MAX_SHIFT:
            self._counts[_SIZE - 1] += 1
        else:
            self._counts[shift * _HALF + (ns >> shift)] += 1
        self.total_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def merge(self, other: LatencyHistogram) -> None:
        """Add every sample of ``other`` into this histogram. O(buckets)."""
        counts = self._counts
        for index, n in enumerate(other._counts):
            if n:
                counts[index] += n
        self.total_ns += other.total_ns
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
        count = self.count
        return self.total_ns / count if count else 0.0

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
        return nonzero, self.total_ns, self.max_ns

    def __setstate__(self, state: tuple) -> None:
        nonzero, self.total_ns, self.max_ns = state
        self._counts = [0] * _SIZE
        for index, n in nonzero:
            self._counts[index] = n


def record_pair(first: LatencyHistogram, first_ns: int, second: LatencyHistogram, second_ns: int) -> None:
    """``first.record(first_ns); second.record(second_ns)`` in one call.

    Every processed message records two samples (latency and processing
    time); one Python call instead of two keeps the metrics under 5 % of
    a phase-1 message (``orderbook-lab bench codec`` measures it).

    >>> a, b = LatencyHistogram(), LatencyHistogram()
    >>> record_pair(a, 1_000, b, -5)
    >>> (a.count, a.max_ns, b.count, b.max_ns)
    (1, 1000, 1, 0)
    """
    # Written out twice on purpose: a loop over the pair costs more than it saves.
    ns = first_ns if first_ns > 0 else 0
    shift = ns.bit_length() - _SUB_BITS
    first._counts[
        ns if shift <= 0 else (shift * _HALF + (ns >> shift) if shift <= _MAX_SHIFT else _SIZE - 1)
    ] += 1
    first.total_ns += ns
    if ns > first.max_ns:
        first.max_ns = ns
    ns = second_ns if second_ns > 0 else 0
    shift = ns.bit_length() - _SUB_BITS
    second._counts[
        ns if shift <= 0 else (shift * _HALF + (ns >> shift) if shift <= _MAX_SHIFT else _SIZE - 1)
    ] += 1
    second.total_ns += ns
    if ns > second.max_ns:
        second.max_ns = ns


def throughput(count: int, seconds: float) -> float:
    """Events per second; 0.0 for an empty or instant interval."""
    return count / seconds if seconds > 0 and count else 0.0
