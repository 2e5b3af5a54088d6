"""SheddingQueue: FIFO out, victims chosen by priority then by the busiest
asset, the oldest first; a newcomer that ranks lowest is its own victim."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.core.parser import parse_line
from orderbook_lab.engines._flow.shedding import (
    PRIORITY_NAMES,
    SheddingQueue,
    rank_of_event,
    rank_of_message,
)

SNAPSHOT, CHANGE, TRADE = 0, 1, 2


def _filled(entries) -> SheddingQueue:
    queue = SheddingQueue()
    for n, (rank, asset) in enumerate(entries):
        queue.put((rank, asset, n), rank, asset, enqueued_ns=n)
    return queue


def test_ranks_put_snapshots_and_tick_changes_first_and_trades_last():
    assert [
        rank_of_event(kind)
        for kind in ("book", "tick_size_change", "price_change", "", "last_trade_price", "new_market")
    ] == [0, 0, 1, 1, 2, 2]
    line = (
        '{"event_type":"last_trade_price","asset_id":"a","market":"m","price":"0.5","size":"1","side":"BUY"}'
    )
    assert PRIORITY_NAMES[rank_of_message(parse_line(line)[0])] == "trade"


def test_a_snapshot_displaces_a_change_but_a_trade_never_displaces_a_change():
    queue = _filled([(CHANGE, "a"), (CHANGE, "b")])
    victim = queue.shed_for(SNAPSHOT, "c")
    assert victim is not None and victim[2] == CHANGE
    assert queue.shed_for(TRADE, "c") is None  # nothing waits as low: the trade itself goes


def test_the_busiest_asset_loses_its_oldest_change_first():
    queue = _filled([(CHANGE, "quiet"), (CHANGE, "hot"), (CHANGE, "hot"), (CHANGE, "hot")])
    _item, enqueued, _rank, asset = queue.shed_for(CHANGE, "other")
    assert (asset, enqueued) == ("hot", 1)
    assert [entry[2] for entry, _ in queue.take(10)] == [0, 2, 3]


def test_when_every_asset_has_one_waiting_the_newcomer_is_shed():
    queue = _filled([(CHANGE, "a"), (CHANGE, "b")])
    assert queue.shed_for(CHANGE, "c") is None
    assert len(queue) == 2


def test_the_newcomer_counts_for_its_own_asset():
    queue = _filled([(CHANGE, "a"), (CHANGE, "b")])
    _item, _enqueued, _rank, asset = queue.shed_for(CHANGE, "a")  # a would have two
    assert asset == "a"


@given(
    st.lists(st.tuples(st.sampled_from([SNAPSHOT, CHANGE, TRADE]), st.sampled_from("abcde")), max_size=60),
    st.integers(min_value=1, max_value=8),
)
def test_a_bounded_queue_keeps_order_and_loses_only_what_it_reports(arrivals, bound):
    """Whatever arrives, a bounded queue: never exceeds its bound, hands out
    what it kept in arrival order, and every message is either kept or
    reported shed (never both, never neither); what is shed ranks no
    better than anything waiting with it, newcomer included."""
    queue = SheddingQueue()
    shed = []
    waiting: dict[int, int] = {}  # n -> rank, a model of what is inside
    for n, (rank, asset) in enumerate(arrivals):
        entry = (rank, asset, n)
        if len(queue) >= bound:
            worst = max([rank, *waiting.values()])
            victim = queue.shed_for(rank, asset)
            lost = entry if victim is None else victim[0]
            assert lost[0] == worst
            if victim is None:
                shed.append(entry)
                continue
            shed.append(victim[0])
            del waiting[victim[0][2]]
        queue.put(entry, rank, asset, n)
        waiting[n] = rank
        assert len(queue) <= bound
    kept = [entry for entry, _ in queue.take(len(arrivals))]
    assert [e[2] for e in kept] == sorted(waiting)
    assert Counter(e[2] for e in kept + shed) == Counter(range(len(arrivals)))
