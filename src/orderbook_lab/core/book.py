"""``StateMachine``: one asset's order book.

Each side is two structures that share one job:

* the price-to-level map, as a direct-address table: a ``list`` of 1001
  sizes indexed by the price in ticks (0.0 where no level rests). A price
  can only be one of the 999 ticks of (0, 1), so "what rests at p?" is an
  index, not a hash: O(1), and about half the cost of a ``dict`` lookup;
* a plain ``list`` of the prices present, kept sorted with ``bisect``
  (ascending on both sides: the best bid is the last element, the best ask
  the first), which keeps the best level and any depth in order: O(1) to
  read the best, O(n) to read the top n, O(log n) to find where a new
  price goes plus a ``memmove`` of the pointers after it.

Most feed updates change the size of a level that already exists, so they
touch only the table. The best level of each side is also kept as a ready
``PriceLevel`` until a change at or beyond it makes it stale, so the read
that follows almost every update costs one attribute load.

What this trades: memory. Each side holds 1001 slots (8 KiB of pointers
to one shared 0.0) however thin the book, so a book costs about 16 KiB
where a ``dict`` of 50 levels a side costs about 5 KiB: 160 MiB for
10,000 books. In exchange a change costs no hashing at all.

Why a plain list and not ``sortedcontainers.SortedList``: a side never
holds more than 999 levels, and at that size the ``memmove`` of an insert
(a few KiB at worst) is cheaper than ``SortedList``'s pure-Python
bookkeeping of sublists and index trees; reading ``SortedList[-1]`` alone
runs Python code. ``SortedList`` earns its O(log n) past tens of thousands
of keys; here it lost, measured (``orderbook-lab bench book``, experiment
1.5).

Bids iterate best-first (highest price first), asks best-first (lowest
first)::

    >>> book = StateMachine("yes")
    >>> book.apply_snapshot([PriceLevel(480, 30.0), PriceLevel(470, 5.0)],
    ...                     [PriceLevel(520, 25.0)])
    >>> book.best_bid(), book.best_ask(), book.spread()
    (PriceLevel(price=480, size=30.0), PriceLevel(price=520, size=25.0), 40)
    >>> book.apply_change("BUY", 480, 0.0)   # size 0 removes the level
    True
    >>> book.depth(5)[0]
    [PriceLevel(price=470, size=5.0)]

The book holds validated, typed input only: the parser rejects bad prices
and sizes before they get here, so nothing in this module raises on data.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import NamedTuple

from .messages import PriceLevel, Side
from .prices import EMPTY_ASK_TICKS, EMPTY_BID_TICKS, TICKS_PER_UNIT, ticks_to_price

__all__ = ["StateMachine", "BookView"]

# ``PriceLevel(p, s)`` runs the namedtuple's Python-level ``__new__``;
# ``tuple.__new__`` builds the same object in C, about twice as fast.
_new_tuple = tuple.__new__

_SLOTS = TICKS_PER_UNIT + 1  # ticks 0..1000; only 1..999 ever hold a level
_EMPTY_SIDE = [0.0] * _SLOTS
_NO_BID_TOP = -1  # below every bid: with no cached best bid, no change must clear it
_NO_ASK_TOP = TICKS_PER_UNIT + 1


class BookView(NamedTuple):
    """What a query returns: the top of one book at one moment.

    Prices in ticks of 0.001; ``mid`` is a probability in (0, 1);
    ``spread`` and ``mid`` are ``None`` while either side is empty.
    """

    asset_id: str
    best_bid: PriceLevel | None
    best_ask: PriceLevel | None
    spread: int | None
    mid: float | None
    bids: list[PriceLevel]
    asks: list[PriceLevel]


class StateMachine:
    """The book of one asset, and the counters of what happened to it.

    Counters: ``snapshots`` applied; ``absent_removals`` (size 0 for a
    price that was not there: a no-op, counted); ``best_checks`` and
    ``best_mismatches`` (the feed's ``best_bid`` / ``best_ask`` compared
    with this book after a change).

    Changes applied are counted by whoever feeds the book, once per batch
    (``MessageRouter`` per message): past 256 a Python int is a fresh
    object, so ``+= 1`` on every change would allocate on every change,
    about a tenth of what the change itself costs.
    """

    __slots__ = (
        "asset_id",
        "has_snapshot",
        "snapshots",
        "absent_removals",
        "best_checks",
        "best_mismatches",
        "_bid_sizes",
        "_ask_sizes",
        "_bid_prices",
        "_ask_prices",
        "_bid_top",
        "_ask_top",
        "_bid_top_price",
        "_ask_top_price",
    )

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id
        self.has_snapshot = False
        self.snapshots = 0
        self.absent_removals = 0
        self.best_checks = 0
        self.best_mismatches = 0
        self._bid_sizes: list[float] = _EMPTY_SIDE.copy()  # size by tick; 0.0 = no level
        self._ask_sizes: list[float] = _EMPTY_SIDE.copy()
        self._bid_prices: list[int] = []  # ascending: the best bid is last
        self._ask_prices: list[int] = []  # ascending: the best ask is first
        # The best level of each side as a ready PriceLevel, or None when
        # it must be rebuilt (stale, or the side is empty); and its price,
        # or a bound no change can pass when none is cached, so that one
        # int comparison per change keeps the cache honest.
        self._bid_top: PriceLevel | None = None
        self._ask_top: PriceLevel | None = None
        self._bid_top_price = _NO_BID_TOP
        self._ask_top_price = _NO_ASK_TOP

    def __repr__(self) -> str:
        return f"StateMachine({self.asset_id!r}, bids={len(self._bid_prices)}, asks={len(self._ask_prices)})"

    # ------------------------------------------------------------ updates

    def apply_snapshot(self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel]) -> None:
        """Replace the whole book. Duplicate prices add up; zero sizes leave
        no level. O(n log n) in the snapshot's levels (the sort); the
        tables are reused, their old span cleared by one slice copy."""
        self._bid_prices = _refill(self._bid_sizes, self._bid_prices, bids)
        self._ask_prices = _refill(self._ask_sizes, self._ask_prices, asks)
        self._bid_top = self._ask_top = None
        self._bid_top_price, self._ask_top_price = _NO_BID_TOP, _NO_ASK_TOP
        self.has_snapshot = True
        self.snapshots += 1

    def apply_change(self, side: Side, price: int, size: float) -> bool:
        """Set the total size at ``price`` (ticks) on ``side``; 0 removes it.

        O(1) when the level already exists (the common case); when a level
        appears or goes, O(log n) to find its place plus a ``memmove`` of
        at most 999 pointers. Returns ``False`` only for the removal of a
        level that was not there, which changes nothing and is counted.
        """
        if side == "BUY":
            sizes = self._bid_sizes
            if price >= self._bid_top_price:  # at or above the cached best: stale
                self._bid_top = None
                self._bid_top_price = _NO_BID_TOP
            if size > 0.0:
                if not sizes[price]:
                    prices = self._bid_prices
                    if not prices or price > prices[-1]:
                        prices.append(price)
                    else:
                        insort(prices, price)
                sizes[price] = size
                return True
            if sizes[price]:
                sizes[price] = 0.0
                prices = self._bid_prices
                if prices[-1] == price:
                    prices.pop()
                else:
                    del prices[bisect_left(prices, price)]
                return True
        else:
            sizes = self._ask_sizes
            if price <= self._ask_top_price:
                self._ask_top = None
                self._ask_top_price = _NO_ASK_TOP
            if size > 0.0:
                if not sizes[price]:
                    insort(self._ask_prices, price)
                sizes[price] = size
                return True
            if sizes[price]:
                sizes[price] = 0.0
                prices = self._ask_prices
                del prices[bisect_left(prices, price)]
                return True
        self.absent_removals += 1
        return False

    def check_best(self, best_bid: int | None, best_ask: int | None) -> bool:
        """Compare the feed's best prices (ticks; 0 / 1000 mean an empty
        side; ``None`` means not sent) with this book. O(1).

        Returns ``True`` when they agree; a disagreement is counted in
        ``best_mismatches`` and changes nothing.
        """
        if best_bid is None and best_ask is None:
            return True
        self.best_checks += 1
        bid_prices, ask_prices = self._bid_prices, self._ask_prices
        ok = (best_bid is None or best_bid == (bid_prices[-1] if bid_prices else EMPTY_BID_TICKS)) and (
            best_ask is None or best_ask == (ask_prices[0] if ask_prices else EMPTY_ASK_TICKS)
        )
        if not ok:
            self.best_mismatches += 1
        return ok

    # ------------------------------------------------------------ queries

    def best_bid(self) -> PriceLevel | None:
        """Highest bid, or ``None``. O(1): usually the cached level itself."""
        top = self._bid_top
        if top is None:
            prices = self._bid_prices
            if not prices:
                return None
            price = self._bid_top_price = prices[-1]
            top = self._bid_top = _new_tuple(PriceLevel, (price, self._bid_sizes[price]))
        return top

    def best_ask(self) -> PriceLevel | None:
        """Lowest ask, or ``None``. O(1): usually the cached level itself."""
        top = self._ask_top
        if top is None:
            prices = self._ask_prices
            if not prices:
                return None
            price = self._ask_top_price = prices[0]
            top = self._ask_top = _new_tuple(PriceLevel, (price, self._ask_sizes[price]))
        return top

    def spread(self) -> int | None:
        """Best ask minus best bid, in ticks; ``None`` if a side is empty. O(1)."""
        if not self._bid_prices or not self._ask_prices:
            return None
        return self._ask_prices[0] - self._bid_prices[-1]

    def mid(self) -> float | None:
        """Midpoint of best bid and best ask as a probability in (0, 1). O(1)."""
        if not self._bid_prices or not self._ask_prices:
            return None
        return (self._ask_prices[0] + self._bid_prices[-1]) / (2 * TICKS_PER_UNIT)

    def depth(self, n: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The best ``n`` levels of each side, best-first. O(n): a slice of
        each sorted list and one ``PriceLevel`` per level."""
        if n <= 0:
            return [], []
        bid_sizes, ask_sizes = self._bid_sizes, self._ask_sizes
        bids = [_new_tuple(PriceLevel, (p, bid_sizes[p])) for p in self._bid_prices[: -n - 1 : -1]]
        asks = [_new_tuple(PriceLevel, (p, ask_sizes[p])) for p in self._ask_prices[:n]]
        return bids, asks

    def levels(self) -> tuple[int, int]:
        """How many price levels each side holds: (bids, asks). O(1)."""
        return len(self._bid_prices), len(self._ask_prices)

    def columns(self, n: int | None = None) -> tuple[list[int], list[float], list[int], list[float]]:
        """The best ``n`` levels of each side (all when ``None``) as four
        best-first columns: bid prices (ticks), bid sizes, ask prices, ask
        sizes. O(n): two slices and two C-level gathers from the size
        tables, no object per level, so several times cheaper than
        ``depth``: what a publisher packs into a flat buffer.

        >>> book = StateMachine("a")
        >>> book.apply_snapshot([PriceLevel(480, 3.0), PriceLevel(490, 1.0)], [PriceLevel(520, 2.0)])
        >>> book.columns()
        ([490, 480], [1.0, 3.0], [520], [2.0])
        """
        if n is None:
            bid_prices, ask_prices = self._bid_prices[::-1], self._ask_prices[:]
        elif n <= 0:
            bid_prices, ask_prices = [], []
        else:
            bid_prices, ask_prices = self._bid_prices[: -n - 1 : -1], self._ask_prices[:n]
        return (
            bid_prices,
            list(map(self._bid_sizes.__getitem__, bid_prices)),
            ask_prices,
            list(map(self._ask_sizes.__getitem__, ask_prices)),
        )

    def snapshot(self, depth: int = 10) -> BookView:
        """A query's answer: best prices, spread, mid and ``depth`` levels. O(depth)."""
        bids, asks = self.depth(depth)
        return BookView(
            self.asset_id, self.best_bid(), self.best_ask(), self.spread(), self.mid(), bids, asks
        )

    def export(self) -> dict[str, list[list]]:
        """The ``--books-out`` form: canonical price strings, best-first. O(n).

        >>> book = StateMachine("a")
        >>> book.apply_snapshot([PriceLevel(500, 1.0)], [PriceLevel(51, 2.5)])
        >>> book.export()
        {'bids': [['0.5', 1.0]], 'asks': [['0.051', 2.5]]}
        """
        bid_sizes, ask_sizes = self._bid_sizes, self._ask_sizes
        return {
            "bids": [[ticks_to_price(p), bid_sizes[p]] for p in reversed(self._bid_prices)],
            "asks": [[ticks_to_price(p), ask_sizes[p]] for p in self._ask_prices],
        }

    def check(self) -> None:
        """Walk the whole book and raise ``AssertionError`` on any broken
        invariant: each sorted price list is strictly ascending and holds
        exactly the prices whose slot in the table is non-zero, every size
        is non-negative, only ticks inside (0, 1) hold a level, and
        a cached best level equals the real one. O(1001). For tests."""
        sides = (
            (self._bid_sizes, self._bid_prices, self._bid_top, self._bid_top_price, _NO_BID_TOP, -1),
            (self._ask_sizes, self._ask_prices, self._ask_top, self._ask_top_price, _NO_ASK_TOP, 0),
        )
        for sizes, prices, top, top_price, no_top, best_index in sides:
            assert len(sizes) == _SLOTS, f"table has {len(sizes)} slots"
            assert all(type(p) is int for p in prices), "a price is not an int number of ticks"
            assert all(a < b for a, b in itertools.pairwise(prices)), "prices not strictly ascending"
            assert all(s >= 0.0 for s in sizes), "a size is negative"
            held = [p for p, s in enumerate(sizes) if s]
            assert prices == held, "sorted prices and level table disagree"
            assert not prices or (prices[0] > 0 and prices[-1] < TICKS_PER_UNIT), "a price outside (0, 1)"
            assert top_price == (no_top if top is None else top[0]), "cached best price disagrees"
            if top is not None:
                assert prices, "cached best level on an empty side"
                best = prices[best_index]
                assert top == (best, sizes[best]), f"cached best {top} is stale"


def _refill(sizes: list[float], old_prices: list[int], levels: Iterable[PriceLevel]) -> list[int]:
    """Load one side of a snapshot into its table, in place; return the
    side's new sorted prices. Duplicate prices add up; zeros leave no level.

    A snapshot is the one place the book touches hundreds of fresh objects
    at once, so the order of the passes matters more than their count:
    ``zip(*levels)`` reads each level once, in C, into a column of prices
    and a column of sizes; the loop then writes the table from those two
    compact tuples, and ``sorted`` runs on ints that are already warm (and
    usually already in order, which Timsort does in one pass). Indexing each
    level instead, or collecting its prices with ``set``/``map``, costs
    about 40% more per snapshot (``bench book``: the snapshot column)."""
    if old_prices:  # every level rests inside the old span: clear it in C
        low, high = old_prices[0], old_prices[-1] + 1
        sizes[low:high] = _EMPTY_SIDE[low:high]
    if not isinstance(levels, (list, tuple)):
        levels = list(levels)
    if not levels:
        return []
    prices, values = zip(*levels, strict=True)
    irregular = False  # a price seen twice (its slot is already set) or a zero size
    for price, size in zip(prices, values, strict=True):
        if sizes[price] or not size:
            irregular = True
        sizes[price] = size
    if not irregular:
        return sorted(prices)
    for price in prices:  # rare: add repeated prices up, leave zeros out
        sizes[price] = 0.0
    for price, size in zip(prices, values, strict=True):
        sizes[price] += size
    return sorted(filter(sizes.__getitem__, set(prices)))
