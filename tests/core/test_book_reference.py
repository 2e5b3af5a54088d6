"""``StateMachine`` against the simplest model that could be right.

The reference keeps one plain ``dict`` of price -> size per side and
answers every query by sorting it. Hypothesis drives both with random
snapshots (duplicate prices, zero sizes), sets, removals and removals of
absent levels, and after every step compares every query and runs
``check()``, so any drift of the sorted lists, the size tables or the
cached best level shows up at the step that caused it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orderbook_lab.core.book import StateMachine
from orderbook_lab.core.messages import PriceLevel
from orderbook_lab.core.prices import ticks_to_price

# Prices crowd a few ticks (so sets, removals and duplicates collide) but
# can reach both ends of the grid, where the table's edges are.
prices = st.one_of(st.integers(4980, 5020), st.sampled_from([1, 2, 9998, 9999]), st.integers(1, 9999))
sizes = st.one_of(
    st.just(0.0), st.floats(min_value=0.01, max_value=1e9, allow_nan=False, allow_infinity=False)
)
positive_sizes = st.floats(min_value=0.01, max_value=1e9, allow_nan=False, allow_infinity=False)
levels = st.lists(st.builds(PriceLevel, prices, sizes), max_size=40)
sides = st.sampled_from(["BUY", "SELL"])


class _Reference:
    """Per side a dict of price -> total size; everything else by sorting."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[int, float]] = {"BUY": {}, "SELL": {}}

    def snapshot(self, bids: list[PriceLevel], asks: list[PriceLevel]) -> None:
        for side, given_levels in (("BUY", bids), ("SELL", asks)):
            summed: dict[int, float] = {}
            for price, size in given_levels:
                summed[price] = summed.get(price, 0.0) + size
            self.sides[side] = {p: s for p, s in summed.items() if s > 0.0}

    def change(self, side: str, price: int, size: float) -> bool:
        book = self.sides[side]
        if size > 0.0:
            book[price] = size
            return True
        return book.pop(price, None) is not None

    def ordered(self, side: str) -> list[PriceLevel]:
        book = self.sides[side]
        return [PriceLevel(p, book[p]) for p in sorted(book, reverse=side == "BUY")]


class BookVersusReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = StateMachine("asset")
        self.reference = _Reference()
        self.absent = 0
        self.snapshots = 0

    @initialize(bids=levels, asks=levels)
    def start(self, bids, asks) -> None:
        self.snapshot(bids, asks)

    @rule(bids=levels, asks=levels)
    def snapshot(self, bids, asks) -> None:
        self.book.apply_snapshot(bids, asks)
        self.reference.snapshot(bids, asks)
        self.snapshots += 1

    @rule(side=sides, price=prices, size=positive_sizes)
    def set_level(self, side, price, size) -> None:
        assert self.book.apply_change(side, price, size) is True
        self.reference.change(side, price, size)

    @precondition(lambda self: self.reference.sides["BUY"] or self.reference.sides["SELL"])
    @rule(data=st.data())
    def remove_present(self, data) -> None:
        side = data.draw(st.sampled_from([s for s in ("BUY", "SELL") if self.reference.sides[s]]))
        price = data.draw(st.sampled_from(sorted(self.reference.sides[side])))
        assert self.book.apply_change(side, price, 0.0) is True
        self.reference.change(side, price, 0.0)

    @rule(side=sides, price=prices)
    def remove_maybe_absent(self, side, price) -> None:
        expected = self.reference.change(side, price, 0.0)
        assert self.book.apply_change(side, price, 0.0) is expected
        self.absent += not expected

    @rule(n=st.integers(0, 12))
    def read_depth(self, n) -> None:
        bids, asks = self.book.depth(n)
        assert bids == self.reference.ordered("BUY")[:n]
        assert asks == self.reference.ordered("SELL")[:n]

    @invariant()
    def agrees(self) -> None:
        book, reference = self.book, self.reference
        book.check()
        bids, asks = reference.ordered("BUY"), reference.ordered("SELL")
        best_bid = bids[0] if bids else None
        best_ask = asks[0] if asks else None
        assert book.best_bid() == best_bid
        assert book.best_ask() == best_ask
        assert type(book.best_bid()) is (PriceLevel if bids else type(None))
        both = best_bid is not None and best_ask is not None
        assert book.spread() == (best_ask.price - best_bid.price if both else None)
        assert book.mid() == ((best_ask.price + best_bid.price) / 20000 if both else None)
        assert book.depth(5) == (bids[:5], asks[:5])
        assert book.levels() == (len(bids), len(asks))
        assert book.export() == {
            "bids": [[ticks_to_price(p), s] for p, s in bids],
            "asks": [[ticks_to_price(p), s] for p, s in asks],
        }
        for n in (None, 0, 3):
            top_bids, top_asks = (bids, asks) if n is None else (bids[:n], asks[:n])
            assert book.columns(n) == (
                [p for p, _ in top_bids],
                [s for _, s in top_bids],
                [p for p, _ in top_asks],
                [s for _, s in top_asks],
            )
        view = book.snapshot(3)
        assert (view.bids, view.asks, view.best_bid, view.best_ask) == (
            bids[:3],
            asks[:3],
            best_bid,
            best_ask,
        )
        assert (book.absent_removals, book.snapshots) == (self.absent, self.snapshots)
        # check_best agrees with the reference's top (0 / 10000 mean empty).
        feed_bid = best_bid.price if best_bid else 0
        feed_ask = best_ask.price if best_ask else 10000
        assert book.settle(feed_bid, feed_ask) is True


BookVersusReference.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_book_matches_reference = BookVersusReference.TestCase


@given(bids=levels, asks=levels)
@settings(max_examples=200, deadline=None)
def test_snapshot_sums_duplicates_and_drops_zeros(bids, asks) -> None:
    book = StateMachine("a")
    book.apply_snapshot(iter(bids), tuple(asks))  # any iterable is accepted
    reference = _Reference()
    reference.snapshot(bids, asks)
    book.check()
    assert book.depth(1000) == (reference.ordered("BUY"), reference.ordered("SELL"))


def test_snapshot_replaces_a_wider_book() -> None:
    book = StateMachine("a")
    book.apply_snapshot(
        [PriceLevel(p, 1.0) for p in range(1, 5000)], [PriceLevel(p, 1.0) for p in range(5000, 10000)]
    )
    book.best_bid(), book.best_ask()
    book.apply_snapshot([PriceLevel(250, 2.0)], [])
    book.check()
    assert book.depth(10) == ([PriceLevel(250, 2.0)], [])
    assert book.best_ask() is None and book.spread() is None
    assert book.apply_change("BUY", 4999, 0.0) is False  # the old level is gone, not hidden
