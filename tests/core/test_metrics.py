"""LatencyHistogram: accuracy against exact percentiles, merging, pickling.
QueueMeter: the depth it integrates, and Little's law on random queues."""

import math
import pickle
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.core.metrics import LatencyHistogram, Percentiles, QueueMeter, throughput

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


# ------------------------------------------------------------ QueueMeter


_steps = st.lists(
    st.tuples(
        st.integers(0, 10**9),  # ns since the step before (0: at the same moment)
        st.sampled_from(["arrive", "depart"]),
        st.integers(1, 5),  # items
    ),
    max_size=200,
)


def _simulate(steps, order: str, *, drain: bool):
    """Feed a meter a queue's schedule; returns the meter, the end (ns), the
    waits of the items that left and the arrival times of those still inside."""
    meter, inside, waits, now = QueueMeter(), [], [], 0
    for gap, action, n in steps:
        now += gap
        if action == "arrive":
            inside.extend([now] * n)
            meter.arrive(now, n)
        elif inside:
            n = min(n, len(inside))
            taken = [inside.pop(0 if order == "fifo" else -1) for _ in range(n)]
            waited = [now - entered for entered in taken]
            waits += waited
            meter.depart(now, sum(waited), n)
    if drain:
        while inside:  # one at a time, 1 ms apart, until the queue is empty
            now += 1_000_000
            waits.append(now - inside.pop(0))
            meter.depart(now, waits[-1])
    return meter, now, waits, inside


@given(_steps, st.sampled_from(["fifo", "lifo"]), st.integers(0, 10**9))
def test_littles_law_holds_for_any_queue_that_ends_empty(steps, order, idle_after_ns):
    meter, end, waits, _inside = _simulate(steps, order, drain=True)
    law = meter.law(end + idle_after_ns)
    assert law.arrivals == law.departures == len(waits)
    if not waits:
        assert law.mean_depth == law.predicted_depth == law.relative_error == 0
        return
    elapsed_ns = end + idle_after_ns - _first_arrival(steps)
    if elapsed_ns == 0:  # everything arrived and left in the same instant
        assert law.mean_depth == 0
        return
    # The area under the depth curve is the sum of the stays, bar by bar.
    assert law.mean_depth == pytest.approx(sum(waits) / elapsed_ns, rel=1e-12)
    assert law.mean_wait_ms == pytest.approx(sum(waits) / len(waits) / 1e6, rel=1e-12)
    assert law.arrival_rate_per_s == pytest.approx(len(waits) / (elapsed_ns / 1e9), rel=1e-12)
    assert law.mean_depth == pytest.approx(law.predicted_depth, rel=1e-12)
    assert law.relative_error < 1e-12


def _first_arrival(steps) -> int:
    now = 0
    for gap, action, _ in steps:
        now += gap
        if action == "arrive":
            return now
    raise AssertionError("no arrival")


def test_littles_law_fails_while_items_are_still_inside():
    meter = QueueMeter()
    meter.arrive(0, n=2)
    meter.depart(1_000_000_000, waited_ns=1_000_000_000)  # one leaves after 1 s; one stays
    law = meter.law(10_000_000_000)
    # L: 2 items for 1 s, then 1 for 9 s, over 10 s = 1.1; λW: 0.2/s * 1 s = 0.2.
    assert law.mean_depth == pytest.approx(1.1)
    assert law.predicted_depth == pytest.approx(0.2)
    assert law.relative_error == pytest.approx(0.9 / 1.1)
    assert (law.arrivals, law.departures) == (2, 1)


@given(_steps)
def test_a_backlog_left_inside_is_seen_in_the_depth_not_in_the_waits(steps):
    meter, end, waits, inside = _simulate(steps, "fifo", drain=False)
    law = meter.law(end)
    assert law.arrivals - law.departures == meter.depth == len(inside)
    assert law.mean_wait_ms == pytest.approx(sum(waits) / len(waits) / 1e6 if waits else 0.0, rel=1e-12)
    if law.elapsed_s:
        # The area counts the stays so far of what is still inside; the waits do not.
        stays_so_far = sum(end - entered for entered in inside)
        assert law.mean_depth * law.elapsed_s * 1e9 == pytest.approx(sum(waits) + stays_so_far, rel=1e-12)


def test_a_meter_read_before_anything_arrived_reports_zeros():
    law = QueueMeter().law(5_000)
    assert law.as_dict() == {
        "arrivals": 0,
        "departures": 0,
        "elapsed_s": 0.0,
        "mean_depth": 0.0,
        "arrival_rate_per_s": 0.0,
        "mean_wait_ms": 0.0,
        "predicted_depth": 0.0,
        "relative_error": 0.0,
    }


def test_as_dict_rounds_every_figure():
    meter = QueueMeter()
    meter.arrive(0)
    meter.depart(333_333_333, waited_ns=333_333_333)
    doc = meter.law(1_000_000_000).as_dict()
    assert doc["mean_depth"] == doc["predicted_depth"] == 0.3333
    assert doc["mean_wait_ms"] == 333.3333
    assert doc["arrival_rate_per_s"] == 1.0 and doc["elapsed_s"] == 1.0


@given(st.lists(st.integers(min_value=0, max_value=2**50), min_size=1, max_size=200))
def test_buckets_bound_every_sample_and_count_all_of_them(samples):
    h = LatencyHistogram()
    for ns in samples:
        h.record(ns)
    buckets = h.buckets()
    assert [edge for edge, _ in buckets] == sorted({edge for edge, _ in buckets})
    assert sum(n for _, n in buckets) == len(samples)
    for edge, n in buckets:  # exactly the samples at or below each edge are in the buckets up to it
        assert sum(m for e, m in buckets if e <= edge) == sum(1 for ns in samples if ns <= edge)
        assert n > 0
    assert buckets[-1][0] == max(samples)


def test_a_bucket_edge_is_the_last_value_before_the_next_bucket():
    from orderbook_lab.core.metrics import _bucket, _bucket_high

    for ns in [*range(0, 600), *(random.Random(3).randrange(2**40) for _ in range(2000))]:
        high = _bucket_high(_bucket(ns))
        assert high >= ns
        assert _bucket(high) == _bucket(ns)
        assert _bucket(high + 1) == _bucket(ns) + 1
