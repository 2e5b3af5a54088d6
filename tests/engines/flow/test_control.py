"""FlowControl driven by hand: what it queues, sheds, sends and learns from
replies, on a clock the test moves."""

from __future__ import annotations

from orderbook_lab.engines._flow.control import WAIT, FlowControl
from orderbook_lab.engines._flow.health import Health

MS = 1_000_000
CHANGE, TRADE, SNAPSHOT = 1, 2, 0


def _flow(paced: bool = True, workers: int = 1) -> FlowControl:
    return FlowControl(
        workers, target_wait_ms=100, breaker_latency_ms=100, batch=8, queue_frames=4, paced=paced, start_ns=0
    )


def _fill(flow: FlowControl, n: int, rank: int = CHANGE, asset: str = "a", now: int = 0) -> list:
    return [flow.offer(0, f"m{i}", rank, asset, now, in_flight=0) for i in range(n)]


def test_a_paced_queue_at_its_bound_sheds_and_counts_by_reason_priority_and_asset():
    flow = _flow()
    capacity = flow.workers[0].capacity.capacity
    assert _fill(flow, capacity) == [None] * capacity
    assert flow.offer(0, "trade", TRADE, "b", 0, in_flight=0) == "shed:trade"  # ranks below all: itself
    assert flow.offer(0, "book", SNAPSHOT, "b", 0, in_flight=0) == "shed:change"  # displaces a change
    assert flow.dropped == {"shed:trade": 1, "shed:change": 1}
    assert flow.dropped_by_priority == {"trade": 1, "change": 1}
    assert flow.dropped_by_asset == {"b": 1, "a": 1}
    assert flow.workers[0].pressed


def test_an_unpaced_queue_at_its_bound_asks_the_dispatcher_to_wait():
    flow = _flow(paced=False)
    _fill(flow, flow.workers[0].capacity.capacity)
    assert flow.offer(0, "late", CHANGE, "a", 0, in_flight=0) == WAIT
    assert not flow.dropped


def test_frames_hold_a_quarter_of_the_capacity_and_flight_half_of_it():
    flow = _flow()
    flow.workers[0].capacity.capacity = 16
    _fill(flow, 16)
    assert flow.ready(0, 0, in_flight=0, frames_in_flight=0) == ["m0", "m1", "m2", "m3"]
    assert flow.ready(0, 0, in_flight=4, frames_in_flight=1) == ["m4", "m5", "m6", "m7"]
    assert flow.ready(0, 0, in_flight=8, frames_in_flight=2) == []  # half the capacity is in flight


def test_a_busy_worker_gets_a_partial_frame_only_once_it_has_aged():
    flow = _flow()
    _fill(flow, 2)
    assert flow.ready(0, 1 * MS, in_flight=5, frames_in_flight=1) == []
    assert flow.ready(0, 3 * MS, in_flight=5, frames_in_flight=1) == ["m0", "m1"]


def test_a_reply_feeds_the_wait_to_the_capacity_and_littles_law():
    flow = _flow()
    _fill(flow, 4, now=0)
    flow.ready(0, 0, in_flight=0, frames_in_flight=0)
    flow.replied(0, 50 * MS, failed=0, slow=0)
    assert flow.workers[0].capacity.wait_ewma_ns == 50 * MS
    law = flow.meter.law(50 * MS)
    assert law.departures == law.arrivals == 4 and law.mean_wait_ms == 50


def test_failed_replies_open_the_breaker_and_its_queue_is_shed_not_sent():
    flow = _flow()
    for _ in range(3):
        _fill(flow, 8)
        flow.ready(0, 0, in_flight=0, frames_in_flight=0)
        flow.replied(0, 1 * MS, failed=8, slow=0)
    assert flow.workers[0].breaker.state == "open"
    assert flow.offer(0, "x", CHANGE, "a", 2 * MS, in_flight=0) == "breaker_open"
    assert flow.failed == 24


def test_capacity_decisions_are_kept_with_their_inputs():
    flow = _flow()
    flow.tick(0, [0])
    _fill(flow, 4)
    flow.ready(0, 0, in_flight=0, frames_in_flight=0)
    flow.replied(0, 400 * MS, failed=0, slow=0)  # four times the target
    flow.tick(100 * MS, [0])
    decision = flow.workers[0].decisions[-1]
    assert (decision.action, decision.previous, decision.capacity) == ("shrink", 64, 48)
    assert decision.wait_ewma_ms == 400


def test_a_silent_worker_with_work_in_flight_has_its_breaker_opened():
    flow = _flow(workers=2)
    flow.heard(Health(1, 0, 0, 0, 0, 0, 1), 3_500 * MS, in_flight=0)
    flow.tick(3_500 * MS, [5, 0])
    assert flow.workers[0].breaker.state == "open"
    assert flow.workers[0].breaker.transitions[-1].reason == "no health report for 3 s"
    assert flow.workers[1].breaker.state == "closed"


def test_depth_is_sampled_for_littles_law():
    flow = _flow()
    _fill(flow, 3)
    flow.sample_depth([2])
    flow.sample_depth([0])
    assert (flow.depth_samples, flow.depth_sampled_sum) == (2, 8)
