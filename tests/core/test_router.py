"""MessageRouter: which message touches which book, and what is recorded."""

import hashlib
import json

import pytest

from orderbook_lab.core.messages import (
    BookMessage,
    LastTradePriceMessage,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.router import MessageRouter, RouterStats, books_digest


def _snapshot(asset, bids, asks) -> BookMessage:
    return BookMessage(
        asset, "m", 0, tuple(PriceLevel(p, s) for p, s in bids), tuple(PriceLevel(p, s) for p, s in asks)
    )


def _changes(*changes) -> PriceChangeMessage:
    return PriceChangeMessage("m", 0, tuple(PriceChange(*change) for change in changes))


def _replay(lines) -> MessageRouter:
    router = MessageRouter()
    for line_no, text in enumerate(lines, 1):
        for item in parse_line(text, line_no):
            if not isinstance(item, Rejection):
                router.apply(item)
    return router


def test_books_are_created_lazily_in_first_seen_order():
    router = MessageRouter()
    assert len(router) == 0
    assert router.get("b") is None and "b" not in router  # asking creates nothing
    assert router.query("b") is None
    router.apply(_snapshot("b", [(400, 1.0)], []))
    router.apply(_snapshot("a", [], [(600, 1.0)]))
    assert router.assets() == ["b", "a"]
    assert "a" in router and len(router) == 2
    assert router.stats().orphan_updates == 0


def test_a_change_before_any_snapshot_is_an_orphan_update():
    router = MessageRouter()
    router.apply(_changes(("x", "BUY", 300, 5.0), ("x", "SELL", 700, 5.0)))
    assert router.stats().orphan_updates == 2  # counted per change
    assert router.query("x").best_bid == PriceLevel(300, 5.0)
    router.apply(_snapshot("x", [(310, 1.0)], []))
    router.apply(_changes(("x", "BUY", 320, 1.0)))
    assert router.stats().orphan_updates == 2  # no longer an orphan


def test_one_price_change_updates_several_assets():
    router = MessageRouter()
    router.apply(_snapshot("yes", [(480, 30.0)], [(520, 25.0)]))
    router.apply(_snapshot("no", [(480, 25.0)], [(520, 30.0)]))
    router.apply(_changes(("yes", "BUY", 490, 15.0, 490, 520), ("no", "SELL", 510, 15.0, 480, 510)))
    assert router.query("yes").best_bid == PriceLevel(490, 15.0)
    assert router.query("no").best_ask == PriceLevel(510, 15.0)
    stats = router.stats()
    assert (stats.changes, stats.best_checks, stats.best_mismatches) == (2, 2, 0)


def test_best_prices_are_checked_after_the_whole_message_once_per_asset():
    router = MessageRouter()
    router.apply(_snapshot("a", [(400, 1.0)], [(600, 1.0)]))
    # The first entry's best_bid (450) is the book's state only halfway
    # through; the feed's last word on "a" (500) is what must hold at the end.
    router.apply(_changes(("a", "BUY", 450, 1.0, 450, 600), ("a", "BUY", 500, 1.0, 500, 600)))
    stats = router.stats()
    assert (stats.best_checks, stats.best_mismatches) == (1, 0)


def test_a_best_mismatch_is_counted_and_the_change_still_applies():
    router = MessageRouter()
    router.apply(_snapshot("a", [(400, 1.0)], [(600, 1.0)]))
    router.apply(_changes(("a", "SELL", 550, 2.0, 400, 600)))  # feed claims 600 is still best
    assert router.stats().best_mismatches == 1
    assert router.query("a").best_ask == PriceLevel(550, 2.0)


def test_trades_tick_sizes_and_other_events_are_recorded_without_touching_levels():
    router = MessageRouter()
    router.apply(_snapshot("a", [(400, 1.0)], [(600, 1.0)]))
    before = router.export()
    trade = LastTradePriceMessage("a", "m", 5, 600, 3.0, "BUY")
    router.apply(trade)
    router.apply(TickSizeChangeMessage("a", "m", 6, 100, 10))
    router.apply(OtherMessage("best_bid_ask", "a"))
    router.apply(OtherMessage("new_market"))
    router.apply(OtherMessage("best_bid_ask", "a"))
    router.apply(LastTradePriceMessage("zzz", "m", 7, 100, 1.0, "SELL"))  # an unseen asset: no book for it
    assert router.export() == before
    assert router.assets() == ["a"]
    assert router.last_trades["a"] == trade
    assert router.tick_sizes == {"a": 10}
    stats = router.stats()
    assert (stats.trades, stats.tick_size_changes) == (2, 1)
    assert stats.other == {"best_bid_ask": 2, "new_market": 1}


def test_a_market_tick_from_its_book_and_tick_size_changes_finer_and_coarser():
    router = MessageRouter()
    book = BookMessage("a", "m", 0, (PriceLevel(4800, 1.0),), (PriceLevel(5200, 1.0),), tick_size=100)
    router.apply(book)
    assert router.get("a").tick == 100
    router.apply(_changes(("a", "BUY", 4810, 2.0)))  # 0.481 on a 0.01 grid: applied, counted
    assert router.stats().off_grid == 1
    router.apply(TickSizeChangeMessage("a", "m", 1, 100, 10))  # finer
    router.apply(_changes(("a", "BUY", 4820, 2.0), ("a", "BUY", 4810, 3.0)))
    assert router.stats().off_grid == 1  # both on the 0.001 grid now
    router.apply(TickSizeChangeMessage("a", "m", 2, 10, 1))  # finest
    router.apply(_changes(("a", "SELL", 5199, 1.0)))
    assert router.stats().off_grid == 1
    router.apply(TickSizeChangeMessage("a", "m", 3, 1, 100))  # back to coarse: old fine levels stay
    router.apply(_changes(("a", "SELL", 5199, 0.0), ("a", "BUY", 4820, 4.0)))
    stats = router.stats()
    assert (stats.off_grid, stats.tick_size_changes) == (3, 3)
    assert router.export()["a"] == {
        "bids": [["0.482", 4.0], ["0.481", 3.0], ["0.48", 1.0]],
        "asks": [["0.52", 1.0]],
    }


def test_a_tick_size_before_any_book_applies_to_the_book_made_later():
    router = MessageRouter()
    router.apply(TickSizeChangeMessage("a", "m", 0, 100, 1000))
    assert router.assets() == []  # a tick size makes no book
    router.apply(_changes(("a", "BUY", 4000, 1.0), ("a", "BUY", 4500, 1.0)))
    assert (router.get("a").tick, router.stats().off_grid) == (1000, 1)


def test_off_grid_snapshot_levels_are_counted_and_kept():
    router = MessageRouter()
    levels = (PriceLevel(4800, 1.0), PriceLevel(4795, 1.0))
    router.apply(BookMessage("a", "m", 0, levels, (), tick_size=100))
    assert router.stats().off_grid == 1
    assert router.export()["a"]["bids"] == [["0.48", 1.0], ["0.4795", 1.0]]


def test_a_book_that_ends_a_message_crossed_is_counted_and_the_run_goes_on():
    router = MessageRouter()
    router.apply(_snapshot("a", [(4800, 1.0)], [(5200, 1.0)]))
    router.apply(_changes(("a", "BUY", 5200, 1.0), ("a", "SELL", 5300, 1.0)))  # ends crossed
    router.apply(
        _changes(("a", "BUY", 5300, 1.0), ("a", "BUY", 5300, 0.0))
    )  # crossed mid-message only ... still
    assert router.stats().crossed == 2
    router.apply(_changes(("a", "BUY", 5200, 0.0)))  # uncrossed
    assert router.stats().crossed == 2
    router.apply(_snapshot("a", [(5000, 1.0)], [(4900, 1.0)]))  # a crossed snapshot
    assert router.stats().crossed == 3
    assert router.export()["a"] == {"bids": [["0.5", 1.0]], "asks": [["0.49", 1.0]]}


def test_apply_refuses_what_is_not_a_message():
    with pytest.raises(TypeError):
        MessageRouter().apply({"event_type": "book"})


def test_the_valid_fixture_gives_the_expected_books_and_counters(valid_lines):
    router = _replay(valid_lines)
    assert router.export() == {
        "1001": {
            "bids": [["0.49", 15.0], ["0.48", 30.0], ["0.46", 100.0]],
            "asks": [["0.52", 25.0], ["0.53", 22.5], ["0.55", 10.0]],
        },
        "1002": {
            "bids": [["0.48", 25.0], ["0.45", 10.0]],
            "asks": [["0.51", 15.0], ["0.52", 30.0], ["0.53", 50.0], ["0.54", 100.0]],
        },
        "1003": {"bids": [], "asks": []},
        "2001": {"bids": [["0.05", 8.0], ["0.049", 7.0]], "asks": [["0.051", 6.0], ["0.052", 9.0]]},
        "2002": {"bids": [["0.949", 6.0], ["0.948", 9.0]], "asks": [["0.95", 8.0], ["0.951", 7.0]]},
        "4001": {"bids": [["0.3", 5.0]], "asks": []},
    }
    assert router.stats() == RouterStats(
        books=6,
        snapshots=5,
        changes=9,
        absent_removals=0,
        best_checks=5,
        best_mismatches=0,
        orphan_updates=1,
        trades=1,
        tick_size_changes=1,
        other={"best_bid_ask": 1, "new_market": 1},
    )


def test_the_bad_fixture_applies_only_the_good_lines(bad_lines):
    router = _replay(bad_lines)
    assert router.export() == {
        "5001": {"bids": [["0.4", 10.0], ["0.39", 7.0]], "asks": [["0.58", 3.0], ["0.6", 10.0]]}
    }
    stats = router.stats()
    assert (stats.snapshots, stats.changes, stats.trades, stats.best_checks, stats.best_mismatches) == (
        1,
        2,
        1,
        1,
        0,
    )


def test_export_and_digest_are_canonical_and_stable():
    def build(order):
        router = MessageRouter()
        for asset in order:
            router.apply(_snapshot(asset, [(5000, 1.0), (4800, 2.0)], [(5100, 1.5)]))
        return router.export()

    forward, backward = build(["a", "b", "c"]), build(["c", "b", "a"])
    assert forward == backward
    assert list(forward) != list(backward)  # first-seen order differs ...
    assert books_digest(forward) == books_digest(backward)  # ... the digest does not
    text = json.dumps(forward, sort_keys=True, separators=(",", ":"))
    assert books_digest(forward) == hashlib.sha256(text.encode()).hexdigest()
    assert forward["a"] == {"bids": [["0.5", 1.0], ["0.48", 2.0]], "asks": [["0.51", 1.5]]}
    other = build(["a", "b"])
    assert books_digest(other) != books_digest(forward)


def test_the_same_price_spelled_three_ways_is_one_level_with_one_digest():
    spellings = [".48", "0.48", "0.480"]
    digests = set()
    for spelling in spellings:
        book = {"event_type": "book", "asset_id": "a", "bids": [{"price": spelling, "size": "2"}], "asks": []}
        change = {
            "event_type": "price_change",
            "asset_id": "a",
            "price": spelling,
            "size": "3",
            "side": "BUY",
        }
        router = _replay([json.dumps(book), json.dumps(change)])
        assert router.export() == {"a": {"bids": [["0.48", 3.0]], "asks": []}}
        digests.add(books_digest(router.export()))
    assert len(digests) == 1


def test_router_stats_add_up():
    left = RouterStats(books=1, changes=2, other={"x": 1})
    right = RouterStats(books=2, changes=3, orphan_updates=1, other={"x": 2, "y": 1})
    total = left + right
    assert (total.books, total.changes, total.orphan_updates) == (3, 5, 1)
    assert total.other == {"x": 3, "y": 1}
    assert left.other == {"x": 1}  # the operands are untouched


def test_applying_each_assets_part_equals_applying_the_whole_message():
    """Phase 5's actors each apply their own asset's changes of a shared
    message; together they must leave what ``apply`` leaves."""
    from orderbook_lab.core.source import MessageSource, SourceConfig

    whole, parts = MessageRouter(), MessageRouter()
    for frame in MessageSource.synthetic(SourceConfig(messages=3000, assets=6, seed=9)):
        for message in parse_line(frame.text, frame.line_no):
            whole.apply(message)
            if isinstance(message, PriceChangeMessage) and len({c.asset_id for c in message.changes}) > 1:
                for asset in dict.fromkeys(c.asset_id for c in message.changes):
                    parts.apply_part(message, asset)
            else:
                parts.apply(message)
    assert parts.export() == whole.export()
    assert parts.stats() == whole.stats()
    assert whole.stats().best_checks > 0
