"""StateMachine against a deliberately simple reference model.

The reference keeps each side as a plain dict and answers every question by
sorting: too slow for the lab, too simple to be wrong. Hypothesis drives
both with random snapshots (duplicate prices, zero sizes) and changes (set,
remove, remove an absent level) and compares them after every operation.
"""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from orderbook_lab.core.book import BookView, StateMachine
from orderbook_lab.core.messages import PriceLevel
from orderbook_lab.core.prices import ticks_to_price


class _Reference:
    def __init__(self) -> None:
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self.absent_removals = 0
        self.snapshots = 0
        self.best_checks = 0
        self.best_mismatches = 0
        self.crossed = 0

    def snapshot(self, bids, asks) -> None:
        self.bids, self.asks = self._summed(bids), self._summed(asks)
        self.snapshots += 1

    @staticmethod
    def _summed(levels) -> dict[int, float]:
        total: dict[int, float] = {}
        for price, size in levels:
            total[price] = total.get(price, 0.0) + size
        return {price: size for price, size in total.items() if size > 0}

    def change(self, side, price, size) -> None:
        levels = self.bids if side == "BUY" else self.asks
        if size > 0:
            levels[price] = size
        elif price in levels:
            del levels[price]
        else:
            self.absent_removals += 1

    def best_bid(self):
        return PriceLevel(max(self.bids), self.bids[max(self.bids)]) if self.bids else None

    def best_ask(self):
        return PriceLevel(min(self.asks), self.asks[min(self.asks)]) if self.asks else None

    def depth(self, n):
        bids = [PriceLevel(p, self.bids[p]) for p in sorted(self.bids, reverse=True)][:n]
        asks = [PriceLevel(p, self.asks[p]) for p in sorted(self.asks)][:n]
        return bids, asks

    def settle(self, best_bid, best_ask) -> bool:
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            self.crossed += 1
        if best_bid is None and best_ask is None:
            return True
        self.best_checks += 1
        actual_bid = max(self.bids) if self.bids else 0
        actual_ask = min(self.asks) if self.asks else 10000
        ok = best_bid in (None, actual_bid) and best_ask in (None, actual_ask)
        if not ok:
            self.best_mismatches += 1
        return ok


# A narrow band of prices most of the time, so duplicates, overwrites and
# removals of present levels are common; the full range now and then.
_prices = st.one_of(st.integers(4995, 5005), st.integers(1, 9999))
_sizes = st.one_of(
    st.just(0.0), st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)
)
_positive_sizes = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
_levels = st.lists(st.builds(PriceLevel, _prices, _sizes), max_size=12)
_sides = st.sampled_from(["BUY", "SELL"])
_best = st.one_of(st.none(), st.integers(0, 10000))


class BookComparison(RuleBasedStateMachine):
    @initialize()
    def new_book(self):
        self.book = StateMachine("asset")
        self.model = _Reference()

    @rule(bids=_levels, asks=_levels)
    def snapshot(self, bids, asks):
        # A generator, as a caller may pass one: each side is read once.
        self.book.apply_snapshot((level for level in bids), iter(asks))
        self.model.snapshot(bids, asks)

    @rule(side=_sides, price=_prices, size=_positive_sizes)
    def set_level(self, side, price, size):
        assert self.book.apply_change(side, price, size) is True
        self.model.change(side, price, size)

    @rule(side=_sides, price=_prices)
    def remove_any(self, side, price):
        present = price in (self.model.bids if side == "BUY" else self.model.asks)
        assert self.book.apply_change(side, price, 0.0) is present
        self.model.change(side, price, 0.0)

    @rule(side=_sides, data=st.data())
    def remove_present(self, side, data):
        levels = self.model.bids if side == "BUY" else self.model.asks
        if not levels:
            return
        price = data.draw(st.sampled_from(sorted(levels)))
        assert self.book.apply_change(side, price, 0.0) is True
        self.model.change(side, price, 0.0)

    @rule(best_bid=_best, best_ask=_best)
    def check_random_best(self, best_bid, best_ask):
        assert self.book.settle(best_bid, best_ask) == self.model.settle(best_bid, best_ask)

    @rule(bid_only=st.booleans())
    def check_true_best(self, bid_only):
        best_bid = max(self.model.bids) if self.model.bids else 0
        best_ask = None if bid_only else (min(self.model.asks) if self.model.asks else 10000)
        assert self.book.settle(best_bid, best_ask) is True
        self.model.settle(best_bid, best_ask)

    @invariant()
    def same_as_reference(self):
        book, model = self.book, self.model
        book.check()
        assert book.best_bid() == model.best_bid()
        assert book.best_ask() == model.best_ask()
        bid, ask = model.best_bid(), model.best_ask()
        if bid is None or ask is None:
            assert book.spread() is None
            assert book.mid() is None
        else:
            assert book.spread() == ask.price - bid.price
            assert book.mid() == pytest.approx((ask.price + bid.price) / 20000)
        for n in (0, 1, 3, 1000):
            assert book.depth(n) == model.depth(n)
        assert book.levels() == (len(model.bids), len(model.asks))
        bids, asks = model.depth(1000)
        assert book.export() == {
            "bids": [[ticks_to_price(p), s] for p, s in bids],
            "asks": [[ticks_to_price(p), s] for p, s in asks],
        }
        view = book.snapshot(3)
        assert view == BookView(
            "asset", bid, ask, book.spread(), book.mid(), *model.depth(3), book.has_snapshot
        )
        assert (book.snapshots, book.absent_removals) == (model.snapshots, model.absent_removals)
        assert (book.best_checks, book.best_mismatches) == (model.best_checks, model.best_mismatches)
        assert book.crossed == model.crossed


BookComparison.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBookAgainstReference = BookComparison.TestCase


# ------------------------------------------------------------ examples


def _book(bids, asks) -> StateMachine:
    book = StateMachine("a")
    book.apply_snapshot([PriceLevel(p, s) for p, s in bids], [PriceLevel(p, s) for p, s in asks])
    return book


def test_empty_book():
    book = StateMachine("a")
    assert not book.has_snapshot
    assert (book.best_bid(), book.best_ask(), book.spread(), book.mid()) == (None, None, None, None)
    assert book.depth(5) == ([], [])
    assert book.export() == {"bids": [], "asks": []}
    assert book.settle(0, 10000) is True  # "0" / "1": both sides empty
    assert book.settle(1, None) is False
    assert (book.best_checks, book.best_mismatches) == (2, 1)
    book.check()


def test_snapshot_replaces_the_book_and_sums_duplicates():
    book = _book([(4800, 1.0), (4800, 2.5), (4700, 0.0)], [(5200, 4.0), (5200, 0.0)])
    assert book.has_snapshot
    assert book.depth(10) == ([PriceLevel(4800, 3.5)], [PriceLevel(5200, 4.0)])
    book.apply_change("BUY", 4000, 9.0)
    book.apply_snapshot([PriceLevel(3000, 1.0)], [])
    assert book.depth(10) == ([PriceLevel(3000, 1.0)], [])  # 4800 and 4000 are gone: replaced, not merged
    assert book.snapshots == 2
    book.check()


def test_bids_and_asks_are_best_first():
    book = _book([(4600, 1.0), (4800, 2.0), (4700, 3.0)], [(5500, 1.0), (5200, 2.0), (5300, 3.0)])
    bids, asks = book.depth(10)
    assert [level.price for level in bids] == [4800, 4700, 4600]
    assert [level.price for level in asks] == [5200, 5300, 5500]
    assert book.export()["bids"][0] == ["0.48", 2.0]
    assert book.export()["asks"][0] == ["0.52", 2.0]
    assert book.spread() == 400
    assert book.mid() == pytest.approx(0.5)


def test_absent_removal_is_counted_and_changes_nothing():
    book = _book([(4800, 1.0)], [(5200, 1.0)])
    before = book.export()
    assert book.apply_change("SELL", 5300, 0.0) is False
    assert book.apply_change("BUY", 5200, 0.0) is False  # present on the other side only
    assert book.export() == before
    assert book.absent_removals == 2


def test_a_best_mismatch_is_counted_and_changes_nothing():
    book = _book([(4800, 1.0)], [(5200, 1.0)])
    assert book.settle(4800, 5200) is True
    assert book.settle(4800, None) is True
    assert book.settle(None, 5210) is False
    assert book.settle(None, None) is True  # nothing sent: not a check
    assert (book.best_checks, book.best_mismatches) == (3, 1)
    assert book.depth(1) == ([PriceLevel(4800, 1.0)], [PriceLevel(5200, 1.0)])


def test_a_crossed_book_is_counted_kept_and_left_to_the_feed():
    book = _book([(4800, 1.0)], [(5200, 1.0)])
    book.apply_change("BUY", 5200, 2.0)  # the bid reaches the ask
    assert book.is_crossed()
    assert book.settle(None, None) is True
    assert book.crossed == 1
    assert book.depth(1) == ([PriceLevel(5200, 2.0)], [PriceLevel(5200, 1.0)])  # kept as the feed said
    book.apply_change("SELL", 5200, 0.0)
    book.settle(None, None)
    assert (book.is_crossed(), book.crossed) == (False, 1)
    book.check()


def test_a_query_says_whether_the_book_ever_had_a_snapshot():
    book = StateMachine("a")
    book.apply_change("BUY", 4800, 1.0)
    assert book.snapshot().has_snapshot is False
    book.apply_snapshot([PriceLevel(4800, 1.0)], [])
    assert book.snapshot().has_snapshot is True


def test_every_tick_size_is_a_level_of_its_own():
    # 0.0001 apart is two levels; the book does not care about the grid.
    book = _book([(9994, 1.0), (9995, 2.0)], [(9997, 3.0)])
    assert book.export() == {"bids": [["0.9995", 2.0], ["0.9994", 1.0]], "asks": [["0.9997", 3.0]]}
    book.check()


def test_check_catches_a_corrupted_book():
    book = _book([(4800, 1.0)], [(5200, 1.0)])
    book._bid_sizes[4700] = 2.0  # a level in the map but not in the sorted prices
    with pytest.raises(AssertionError):
        book.check()
