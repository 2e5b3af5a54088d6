"""LatencyHistogram: accuracy against exact percentiles, merging, pickling."""

import math
import pickle
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.core.metrics import LatencyHistogram, Percentiles, throughput

_QUANTILES = (1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)


def _exact(samples: list[int], q: float) -> int:
    # The nearest-rank convention the histogram uses: rank round(q % of n), at least 1.
    ordered = sorted(samples)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _histogram(samples) -> LatencyHistogram:
    histogram = LatencyHistogram()
    for ns in samples:
        histogram.record(ns)
    return histogram


def _state(histogram: LatencyHistogram):
    return histogram.__getstate__()


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng: int(rng.lognormvariate(11, 2)),  # µs-to-s latencies, long tail
        lambda rng: rng.randrange(0, 200),  # the exact small buckets
        lambda rng: rng.randrange(1, 10**12),  # up to 1000 s
        lambda rng: int(rng.expovariate(1 / 50_000)),
    ],
    ids=["lognormal", "small", "uniform-wide", "exponential"],
)
def test_percentiles_are_within_one_percent_of_exact(draw):
    rng = random.Random(42)
    samples = [draw(rng) for _ in range(20_000)]
    histogram = _histogram(samples)
    assert histogram.count == len(samples)
    assert histogram.max_ns == max(samples)
    assert histogram.mean_ns() == pytest.approx(sum(samples) / len(samples), rel=1 / 128)
    for q in _QUANTILES:
        exact = _exact(samples, q)
        assert histogram.percentile(q) == pytest.approx(exact, rel=0.01, abs=0.5), q


@given(st.lists(st.integers(min_value=0, max_value=2**50), min_size=1, max_size=300))
def test_percentiles_within_one_percent_on_any_data(samples):
    histogram = _histogram(samples)
    for q in (50, 95, 99, 100):
        assert histogram.percentile(q) == pytest.approx(_exact(samples, q), rel=0.01, abs=0.5)


def test_merge_equals_recording_both():
    rng = random.Random(7)
    left = [int(rng.lognormvariate(10, 2)) for _ in range(5000)]
    right = [int(rng.lognormvariate(13, 1)) for _ in range(3000)]
    merged = _histogram(left)
    merged.merge(_histogram(right))
    both = _histogram(left + right)
    assert _state(merged) == _state(both)
    for q in _QUANTILES:
        assert merged.percentile(q) == both.percentile(q)
    assert merged.summary(1e3) == both.summary(1e3)


def test_merging_an_empty_histogram_changes_nothing():
    histogram = _histogram([5, 500, 50_000])
    before = _state(histogram)
    histogram.merge(LatencyHistogram())
    assert _state(histogram) == before
    empty = LatencyHistogram()
    empty.merge(histogram)
    assert _state(empty) == before


def test_pickle_round_trip():
    histogram = _histogram(random.Random(3).randrange(0, 10**9) for _ in range(2000))
    copy = pickle.loads(pickle.dumps(histogram))
    assert _state(copy) == _state(histogram)
    assert [copy.percentile(q) for q in _QUANTILES] == [histogram.percentile(q) for q in _QUANTILES]
    copy.record(1)  # still a working histogram
    assert copy.count == histogram.count + 1
    # Sparse on the wire: far smaller than the thousands of counters inside.
    assert len(pickle.dumps(_histogram([1, 2, 3]))) < 300


def test_empty_histogram():
    histogram = LatencyHistogram()
    assert histogram.count == 0
    assert histogram.percentile(50) == 0.0
    assert histogram.percentile(100) == 0.0
    assert histogram.mean_ns() == 0.0
    assert histogram.summary(1e6) == Percentiles(0.0, 0.0, 0.0, 0.0)
    assert _state(pickle.loads(pickle.dumps(histogram))) == _state(histogram)


def test_negative_samples_count_as_zero():
    histogram = _histogram([-5, 10])
    assert histogram.count == 2
    assert histogram.percentile(1) == 0.0
    assert (histogram.max_ns, histogram.mean_ns()) == (10, 5.0)


def test_huge_samples_land_in_the_last_bucket_without_error():
    histogram = _histogram([10, 2**80])
    assert histogram.max_ns == 2**80
    assert histogram.percentile(100) <= 2**80
    assert math.isfinite(histogram.percentile(100))


def test_summary_converts_units_and_rounds_in_as_dict():
    histogram = _histogram([1_000_000, 2_000_000, 3_000_000, 4_000_000])
    summary = histogram.summary(1e6)  # ms
    assert summary.max == 4.0
    assert summary.p50 == pytest.approx(2.0, rel=0.01)
    assert set(summary.as_dict()) == {"p50", "p95", "p99", "max"}
    assert set(summary.as_dict(("p50", "p99"))) == {"p50", "p99"}
    assert all(round(v, 3) == v for v in summary.as_dict().values())


def test_throughput():
    assert throughput(1000, 2.0) == 500.0
    assert throughput(0, 2.0) == 0.0
    assert throughput(10, 0.0) == 0.0


def test_the_bucket_table_agrees_with_the_arithmetic_at_every_entry():
    from orderbook_lab.core.metrics import _BUCKET_OF, _TABLE_NS, _bucket

    assert len(_BUCKET_OF) == _TABLE_NS
    assert [_bucket(ns) for ns in range(_TABLE_NS)] == _BUCKET_OF


@pytest.mark.parametrize("ns", [65_535, 65_536, 65_537, 131_071, 131_072])
def test_samples_either_side_of_the_table_land_where_the_arithmetic_puts_them(ns):
    from orderbook_lab.core.metrics import _bucket, record_pair

    alone, first, second = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    alone.record(ns)
    record_pair(first, ns, second, ns)
    for histogram in (alone, first, second):
        assert histogram.__getstate__() == ([(_bucket(ns), 1)], ns)
