"""BoundedQueue: the three backpressure policies, closing, batches, numbers.

Every test drives the queue on a real event loop and synchronizes with
``asyncio.sleep(0)`` (one turn of the loop) or by awaiting tasks, never by
sleeping for a while and hoping.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook_lab.core.clock import ManualClock
from orderbook_lab.engines._queues import POLICIES, BoundedQueue, QueueClosed


def run(coro):
    return asyncio.run(coro)


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# ---------------------------------------------------------------- policies


def test_block_makes_the_producer_wait_and_loses_nothing():
    async def scenario():
        queue = BoundedQueue(2, "block", name="q")
        assert await queue.put("a") and await queue.put("b")
        producer = asyncio.create_task(queue.put("c"))
        await _turns()
        assert not producer.done(), "a full block queue must hold the producer back"
        assert len(queue) == 2
        assert await queue.get() == "a"
        assert await asyncio.wait_for(producer, 5) is True
        queue.close()
        rest = await queue.get_batch(10)
        return queue.stats(), rest

    stats, rest = run(scenario())
    assert rest == ["b", "c"]
    assert stats.dropped == {}
    assert stats.blocked_puts == 1
    assert stats.high_water == 2
    assert stats.accepted == stats.taken == 3


def test_drop_newest_refuses_what_does_not_fit_and_counts_each():
    dropped = []

    async def scenario():
        queue = BoundedQueue(
            3, "drop-newest", name="ingress", on_drop=lambda item, why: dropped.append((item, why))
        )
        accepted = [await queue.put(n) for n in range(10)]
        queue.close()
        return accepted, await queue.get_batch(100), queue.stats()

    accepted, kept, stats = run(scenario())
    assert accepted == [True] * 3 + [False] * 7
    assert kept == [0, 1, 2]
    assert dropped == [(n, "ingress:drop-newest") for n in range(3, 10)]
    assert stats.dropped == {"ingress:drop-newest": 7}
    assert stats.accepted == 3 and stats.taken == 3


def test_drop_oldest_evicts_the_oldest_and_counts_each():
    dropped = []

    async def scenario():
        queue = BoundedQueue(3, "drop-oldest", name="ingress", on_drop=lambda item, why: dropped.append(item))
        accepted = [await queue.put(n) for n in range(10)]
        queue.close()
        return accepted, await queue.get_batch(100), queue.stats()

    accepted, kept, stats = run(scenario())
    assert accepted == [True] * 10
    assert kept == [7, 8, 9], "the freshest items survive"
    assert dropped == list(range(7))
    assert stats.dropped == {"ingress:drop-oldest": 7}
    assert stats.high_water == 3


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    capacity=st.integers(1, 5),
    ops=st.lists(st.booleans(), max_size=60),
)
def test_every_offered_item_is_taken_dropped_or_still_queued(policy, capacity, ops):
    async def scenario():
        queue = BoundedQueue(capacity, policy)
        offered, taken = 0, []
        for is_put in ops:
            if is_put:
                try:
                    queue.put_nowait(offered)
                except asyncio.QueueFull:
                    continue  # block policy, not offered: the producer would wait
                offered += 1
            elif len(queue):
                taken.append(queue.get_nowait())
        return queue, offered, taken

    queue, offered, taken = run(scenario())
    stats = queue.stats()
    assert offered == len(taken) + stats.dropped_total + stats.depth
    assert len(queue) <= capacity and stats.high_water <= capacity
    assert taken == sorted(taken), "FIFO, whatever was dropped"


def test_unknown_policy_and_zero_capacity_are_refused():
    with pytest.raises(ValueError, match="backpressure"):
        BoundedQueue(1, "drop-random")
    with pytest.raises(ValueError, match="at least one"):
        BoundedQueue(0)


# ---------------------------------------------------------------- closing


def test_close_lets_getters_drain_then_stops_them():
    async def scenario():
        queue = BoundedQueue(5)
        for n in range(3):
            await queue.put(n)
        queue.close()
        got = [await queue.get() for _ in range(3)]
        with pytest.raises(QueueClosed):
            await queue.get()
        with pytest.raises(QueueClosed):
            await queue.put(99)
        return got

    assert run(scenario()) == [0, 1, 2]


def test_close_wakes_a_waiting_getter_and_a_waiting_putter():
    async def scenario():
        empty, full = BoundedQueue(1), BoundedQueue(1)
        await full.put("x")
        getter = asyncio.create_task(empty.get())
        putter = asyncio.create_task(full.put("y"))
        await _turns()
        assert not getter.done() and not putter.done()
        empty.close()
        full.close()
        results = await asyncio.wait_for(asyncio.gather(getter, putter, return_exceptions=True), 5)
        return results, full

    (got, put), full = run(scenario())
    assert isinstance(got, QueueClosed)
    assert isinstance(put, QueueClosed)
    assert len(full) == 1, "the refused put did not enter"


def test_a_cancelled_getter_loses_no_item():
    async def scenario():
        queue = BoundedQueue(2)
        first = asyncio.create_task(queue.get())
        second = asyncio.create_task(queue.get())
        await _turns()
        first.cancel()
        await queue.put("only")
        return await asyncio.wait_for(second, 5), first

    item, first = run(scenario())
    assert item == "only"
    assert first.cancelled()


def test_a_cancelled_blocked_putter_inserts_nothing():
    async def scenario():
        queue = BoundedQueue(1)
        await queue.put("a")
        putter = asyncio.create_task(queue.put("b"))
        await _turns()
        putter.cancel()
        await _turns()
        queue.close()
        return await queue.get_batch(10), putter

    batch, putter = run(scenario())
    assert batch == ["a"]
    assert putter.cancelled()


# ---------------------------------------------------------------- batches


def test_batch_ends_when_full_before_its_timeout():
    async def scenario():
        queue = BoundedQueue(100)
        await queue.put(0)
        batcher = asyncio.create_task(queue.get_batch(5, timeout_s=60.0))
        await _turns()
        assert not batcher.done(), "one item of five: the batch waits for more"
        for n in range(1, 10):
            await queue.put(n)
        return await asyncio.wait_for(batcher, 5), len(queue)

    batch, left = run(scenario())
    assert batch == [0, 1, 2, 3, 4]
    assert left == 5


def test_batch_timeout_releases_a_partial_batch():
    async def scenario():
        queue = BoundedQueue(100)
        for n in range(3):
            await queue.put(n)
        return await asyncio.wait_for(queue.get_batch(10, timeout_s=0.005), 5)

    assert run(scenario()) == [0, 1, 2]


def test_batch_timeout_zero_takes_only_what_is_there():
    async def scenario():
        queue = BoundedQueue(100)
        for n in range(4):
            await queue.put(n)
        return await queue.get_batch(10, timeout_s=0.0)

    assert run(scenario()) == [0, 1, 2, 3]


def test_batch_size_one_takes_one_item_even_when_more_wait():
    async def scenario():
        queue = BoundedQueue(10)
        for n in range(3):
            await queue.put(n)
        return [await queue.get_batch(1, timeout_s=1.0) for _ in range(3)]

    assert run(scenario()) == [[0], [1], [2]]


def test_a_timeout_never_yields_an_empty_batch():
    async def scenario():
        queue = BoundedQueue(10)
        # The batch timeout (1 ms) only starts with a first item: with
        # none, the batcher is still waiting 50x later.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get_batch(5, timeout_s=0.001), 0.05)
        await queue.put("late")
        return await queue.get_batch(5, timeout_s=0.001)

    assert run(scenario()) == ["late"]


def test_closing_mid_batch_returns_what_was_gathered_and_then_ends():
    async def scenario():
        queue = BoundedQueue(10)
        await queue.put("a")
        batcher = asyncio.create_task(queue.get_batch(5, timeout_s=60.0))
        await _turns()
        await queue.put("b")
        queue.close()
        batch = await asyncio.wait_for(batcher, 5)
        with pytest.raises(QueueClosed):
            await queue.get_batch(5, timeout_s=60.0)
        return batch

    assert run(scenario()) == ["a", "b"]


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        run(BoundedQueue(1).get_batch(0))


# ---------------------------------------------------------------- numbers


def test_wait_times_come_from_the_injected_clock():
    clock = ManualClock()

    async def scenario():
        queue = BoundedQueue(10, clock=clock)
        await queue.put("a")
        await queue.put("b")
        clock.advance_ns(4_000_000)
        await queue.get()  # waited 4 ms
        clock.advance_ns(4_000_000)
        await queue.get()  # waited 8 ms
        return queue.stats()

    stats = run(scenario())
    assert stats.wait_mean_ms == pytest.approx(6.0, rel=1 / 128)  # the histogram's precision
    assert stats.wait_max_ms == pytest.approx(8.0)
    assert stats.wait_p99_ms == pytest.approx(8.0, rel=0.01)
    document = stats.as_dict()
    assert document["wait_ms"]["mean"] == pytest.approx(6.0, rel=1 / 128)
    assert document["high_water"] == 2 and document["depth"] == 0


# ---------------------------------------------------------------- Little's law


def _law_after(policy: str, script) -> tuple:
    """Drive a 3-slot queue on a ManualClock with ``script(queue, clock)``,
    drain it, and return its meter's law and stats."""
    clock = ManualClock()

    async def scenario():
        queue = BoundedQueue(3, policy, clock=clock)
        await script(queue, clock)
        queue.close()
        with pytest.raises(QueueClosed):
            while True:
                await queue.get()
                clock.advance_ns(1_000_000)
        return queue.littles_law(), queue.stats()

    return run(scenario())


async def _overfill(queue, clock) -> None:
    for n in range(8):  # 8 offers, 1 ms apart, into 3 slots
        queue.put_nowait(n)
        clock.advance_ns(1_000_000)


def test_a_drained_queue_satisfies_littles_law():
    async def script(queue, clock):
        for n in range(3):
            await queue.put(n)
            clock.advance_ns(2_000_000)
        await queue.get()  # in for 6 ms
        clock.advance_ns(5_000_000)

    law, stats = _law_after("block", script)
    assert law.arrivals == law.departures == stats.taken == 3
    assert law.mean_depth > 0
    assert law.mean_depth == pytest.approx(law.predicted_depth, rel=1e-12)
    assert law.relative_error < 1e-12


def test_drop_oldest_evictions_leave_the_queue_with_their_stay():
    async def overfill_then_idle(queue, clock):
        await _overfill(queue, clock)
        clock.advance_ns(10_000_000)  # the three kept wait 10 ms more

    law, stats = _law_after("drop-oldest", overfill_then_idle)
    # Every accepted item arrived; the five evicted left too, after their time inside.
    assert law.arrivals == stats.accepted == 8
    assert law.departures == stats.taken + stats.dropped_total == 3 + 5
    assert law.relative_error < 1e-12
    # Five evicted after 3 ms each, three taken after 13 ms each: W counts both doors.
    assert law.mean_wait_ms == pytest.approx((5 * 3 + 3 * 13) / 8)
    assert stats.wait_mean_ms == pytest.approx(13, rel=1 / 128)  # wait_ms: the taken only


def test_drop_newest_refusals_never_arrive():
    law, stats = _law_after("drop-newest", _overfill)
    assert law.arrivals == law.departures == stats.accepted == stats.taken == 3
    assert stats.dropped_total == 5
    assert law.relative_error < 1e-12


def test_a_queue_read_with_a_backlog_does_not_satisfy_the_law():
    clock = ManualClock()

    async def scenario():
        queue = BoundedQueue(10, clock=clock)
        for n in range(4):
            await queue.put(n)
        clock.advance_ns(1_000_000)
        await queue.get()  # one of four leaves; three stay
        clock.advance_ns(9_000_000)
        return queue.littles_law()

    law = run(scenario())
    assert (law.arrivals, law.departures) == (4, 1)
    assert law.mean_depth == pytest.approx((4 * 1 + 3 * 9) / 10)  # L = 3.1
    assert law.predicted_depth == pytest.approx(0.4 * 1.0)  # λ = 400/s, W = 1 ms
    assert law.relative_error > 0.8
