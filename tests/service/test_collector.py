"""The metrics a scrape reads: names, units, labels and the histogram."""

import random

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from status_factory import status, worker

from orderbook_lab.core.metrics import LatencyHistogram
from orderbook_lab.service.metrics import (
    DROP_REASONS,
    PROCESSING_BOUNDS_S,
    cumulative_buckets,
    metrics_registry,
)


def scrape(live) -> dict:
    """The exposition text a scrape gets, parsed back: name -> family."""
    text = generate_latest(metrics_registry(lambda: live)).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family, suffix: str = "") -> dict:
    return {
        tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == family.name + suffix
    }


def test_messages_by_outcome_add_up_the_drops_of_every_reason():
    families = scrape(status())
    messages = families["orderbook_lab_messages"]
    assert messages.type == "counter"
    assert samples(messages, "_total") == {
        (("outcome", "processed"),): 200.0,
        (("outcome", "dropped"),): 48.0,
        (("outcome", "invalid"),): 2.0,
    }
    assert samples(families["orderbook_lab_generated"], "_total") == {(): 250.0}


def test_every_drop_reason_is_exported_even_at_zero():
    dropped = samples(scrape(status())["orderbook_lab_dropped"], "_total")
    assert dropped == {
        (("reason", reason),): {"shed:change": 30.0, "worker_fault": 18.0}.get(reason, 0.0)
        for reason in DROP_REASONS
    }


def test_worker_gauges_are_in_base_units_with_one_series_per_worker():
    live = status(
        worker(0, depth=7, capacity=96, wait_ms=250.0, rss_mb=64.0),
        worker(1, breaker="open", alive=False, last_report_s=None),
    )
    families = scrape(live)
    assert samples(families["orderbook_lab_queue_depth"]) == {
        (("worker", "0"),): 7.0,
        (("worker", "1"),): 3.0,
    }
    assert samples(families["orderbook_lab_capacity"])[(("worker", "0"),)] == 96.0
    assert samples(families["orderbook_lab_wait_seconds"])[(("worker", "0"),)] == 0.25
    assert samples(families["orderbook_lab_rss_bytes"])[(("worker", "0"),)] == 64 * 2**20
    assert samples(families["orderbook_lab_breaker_open"]) == {
        (("worker", "0"),): 0.0,
        (("worker", "1"),): 1.0,
    }
    assert samples(families["orderbook_lab_worker_up"]) == {(("worker", "0"),): 1.0, (("worker", "1"),): 0.0}
    # no report yet: no age rather than a made-up one
    assert samples(families["orderbook_lab_last_report_age_seconds"]) == {(("worker", "0"),): 0.4}


def test_restarts_are_a_counter():
    families = scrape(status(restarts=3))
    assert families["orderbook_lab_worker_restarts"].type == "counter"
    assert samples(families["orderbook_lab_worker_restarts"], "_total") == {(): 3.0}


def test_names_follow_the_conventions_and_no_label_names_an_asset():
    families = scrape(status())
    for name, family in families.items():
        assert name.startswith("orderbook_lab_")
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        for sample in family.samples:
            assert set(sample.labels) <= {"outcome", "reason", "worker", "le"}, sample
    for required in ("messages", "processing_seconds", "queue_depth", "worker_restarts"):
        assert f"orderbook_lab_{required}" in families


def test_the_processing_histogram_is_cumulative_in_seconds_and_matches_the_latency_histogram():
    rng = random.Random(8)
    values_ns = [int(rng.lognormvariate(9.5, 2.0)) for _ in range(5000)]  # ~µs to ~s
    histogram = LatencyHistogram()
    for ns in values_ns:
        histogram.record(ns)
    family = scrape(status(processing=histogram))["orderbook_lab_processing_seconds"]
    assert family.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in family.samples if s.name.endswith("_bucket")]
    assert [float(le) for le, _ in buckets[:-1]] == list(PROCESSING_BOUNDS_S)
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)  # cumulative
    assert buckets[-1] == ("+Inf", len(values_ns))
    (count,) = [s.value for s in family.samples if s.name.endswith("_count")]
    (sum_s,) = [s.value for s in family.samples if s.name.endswith("_sum")]
    assert count == len(values_ns)
    assert sum_s == pytest.approx(sum(values_ns) / 1e9, rel=0.008)
    for le, counted in buckets[:-1]:
        bound_ns = float(le) * 1e9
        # le stays an upper bound, and at most one bucket of the histogram
        # (1/64 of the value) is moved to the next bound
        assert counted <= sum(1 for ns in values_ns if ns <= bound_ns)
        assert counted >= sum(1 for ns in values_ns if ns * (1 + 1 / 64) <= bound_ns)


def test_an_empty_histogram_has_zero_buckets_and_sum():
    buckets, sum_s = cumulative_buckets(LatencyHistogram(), (1e-3, 1.0))
    assert buckets == [("0.001", 0.0), ("1.0", 0.0), ("+Inf", 0.0)]
    assert sum_s == 0.0


def test_a_scrape_reads_the_status_once_and_nothing_before():
    calls = []

    def read():
        calls.append(1)
        return status()

    registry = metrics_registry(read)
    assert calls == []  # registering does not touch the engine
    generate_latest(registry)
    assert len(calls) == 1
