"""``StateMachine``: one asset's order book.

Each side is two structures that share one job:

* the price-to-level map, a ``dict`` from price (int ticks of 0.0001) to
  the size resting there: O(1) to answer "what rests at p?", and it holds
  only the levels that exist, whatever the market's tick size;
* a plain ``list`` of the prices present, kept sorted with ``bisect``
  (ascending on both sides: the best bid is the last element, the best ask
  the first), which keeps the best level and any depth in order: O(1) to
  read the best, O(n) to read the top n, O(log n) to find where a new
  price goes plus a ``memmove`` of the pointers after it.

Most feed updates change the size of a level that already exists, so they
touch only the ``dict``. The best level of each side is also kept as a
ready ``PriceLevel`` until a change at or beyond it makes it stale, so the
read that follows almost every update costs one attribute load.

Why not a table indexed by tick, as this book once was: with prices in
0.0001 ticks a side would need 10,001 slots (80 KiB of pointers) however
thin the book, 160 KiB a book, 1.6 GiB for 10,000 markets. A ``dict``
costs memory in proportion to the levels that rest (about 5 KiB for 50
levels a side) and one hash of a small int per lookup, which is the int
itself: a few nanoseconds more than indexing a list (``bench book``,
experiment 1.5).

Why a plain list and not ``sortedcontainers.SortedList``: a side holds a
few hundred levels at most in practice, and at that size the ``memmove``
of an insert is cheaper than ``SortedList``'s pure-Python bookkeeping of
sublists and index trees; reading ``SortedList[-1]`` alone runs Python
code. ``SortedList`` earns its O(log n) past tens of thousands of keys;
here it lost, measured (``orderbook-lab bench book``, experiment 1.5).

Bids iterate best-first (highest price first), asks best-first (lowest
first)::

    >>> book = StateMachine("yes")
    >>> book.apply_snapshot([PriceLevel(4800, 30.0), PriceLevel(4700, 5.0)],
    ...                     [PriceLevel(5200, 25.0)])
    >>> book.best_bid(), book.best_ask(), book.spread()
    (PriceLevel(price=4800, size=30.0), PriceLevel(price=5200, size=25.0), 400)
    >>> book.apply_change("BUY", 4800, 0.0)   # size 0 removes the level
    True
    >>> book.depth(5)[0]
    [PriceLevel(price=4700, size=5.0)]

What the book trusts: it is a data structure, not a validator. Every
price it is given must be an ``int`` number of ticks in 1..9999 and every
size a finite ``float`` >= 0, which is what the parser guarantees for
anything that reaches a book through ``MessageRouter``; ``check()`` walks
the invariants in tests. Given anything else it does not raise, and what
it then holds is meaningless, so code that builds a book by hand must
validate first (``prices.price_to_ticks``, ``prices.parse_size``). A
market's tick size (``tick``, in ticks) is information, not a filter:
the exchange is the authority on its own prices, so a price off the grid
is applied, and counted by the router as ``off_grid``.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from .messages import PriceLevel, Side
from .prices import EMPTY_ASK_TICKS, EMPTY_BID_TICKS, TICKS_PER_UNIT, ticks_to_price

__all__ = ["StateMachine", "BookView", "BookCheckpoint"]

# ``PriceLevel(p, s)`` runs the namedtuple's Python-level ``__new__``;
# ``tuple.__new__`` builds the same object in C, about twice as fast.
_new_tuple = tuple.__new__

_NO_BID_TOP = -1  # below every bid: with no cached best bid, no change must clear it
_NO_ASK_TOP = TICKS_PER_UNIT + 1


class BookView(NamedTuple):
    """What a query returns: the top of one book at one moment.

    Prices in ticks of 0.0001; ``mid`` is a probability in (0, 1);
    ``spread`` and ``mid`` are ``None`` while either side is empty.
    ``has_snapshot`` is ``False`` for a book built only from updates (no
    ``book`` message yet): its levels are whatever changes arrived, not
    the exchange's book.
    """

    asset_id: str
    best_bid: PriceLevel | None
    best_ask: PriceLevel | None
    spread: int | None
    mid: float | None
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    has_snapshot: bool


class BookCheckpoint(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One book's whole state: levels (ascending prices, both sides) and
    its counters, in ``StateMachine.checkpoint``'s order."""

    asset_id: str
    has_snapshot: bool
    tick: int
    bids: tuple[tuple[int, float], ...]
    asks: tuple[tuple[int, float], ...]
    counters: tuple[int, int, int, int, int, int]


class StateMachine:
    """The book of one asset, and the counters of what happened to it.

    Counters: ``snapshots`` applied; ``absent_removals`` (size 0 for a
    price that was not there: a no-op, counted); ``best_checks`` and
    ``best_mismatches`` (the feed's ``best_bid`` / ``best_ask`` compared
    with this book after a change); ``crossed`` (messages after which the
    best bid reached the best ask: kept as the feed said, and counted);
    ``off_grid`` (prices off the market's tick grid, counted by the router).

    ``tick`` is the market's tick size in ticks of 0.0001 (100 for 0.01),
    from the last ``book`` or ``tick_size_change``; 1 while unknown, so
    that no price counts as off the grid until the market says its grid.

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
        "crossed",
        "off_grid",
        "tick",
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
        self.crossed = 0
        self.off_grid = 0
        self.tick = 1
        self._bid_sizes: dict[int, float] = {}  # price (ticks) -> size; only levels that rest
        self._ask_sizes: dict[int, float] = {}
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

    def apply_snapshot(self, bids: Iterable[tuple[int, float]], asks: Iterable[tuple[int, float]]) -> None:
        """Replace the whole book. Duplicate prices add up; zero sizes leave
        no level. O(n log n) in the snapshot's levels (the sort)."""
        self._bid_sizes, self._bid_prices = _side_of(bids)
        self._ask_sizes, self._ask_prices = _side_of(asks)
        self._bid_top = self._ask_top = None
        self._bid_top_price, self._ask_top_price = _NO_BID_TOP, _NO_ASK_TOP
        self.has_snapshot = True
        self.snapshots += 1

    def apply_change(self, side: Side, price: int, size: float) -> bool:
        """Set the total size at ``price`` (ticks) on ``side``; 0 removes it.

        O(1) when the level already exists (the common case); when a level
        appears or goes, O(log n) to find its place plus a ``memmove`` of
        the pointers after it. Returns ``False`` only for the removal of a
        level that was not there, which changes nothing and is counted.
        """
        if side == "BUY":
            sizes = self._bid_sizes
            if price >= self._bid_top_price:  # at or above the cached best: stale
                self._bid_top = None
                self._bid_top_price = _NO_BID_TOP
            if size > 0.0:
                if price not in sizes:
                    prices = self._bid_prices
                    if not prices or price > prices[-1]:
                        prices.append(price)
                    else:
                        insort(prices, price)
                sizes[price] = size
                return True
            if price in sizes:
                del sizes[price]
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
                if price not in sizes:
                    insort(self._ask_prices, price)
                sizes[price] = size
                return True
            if price in sizes:
                del sizes[price]
                prices = self._ask_prices
                del prices[bisect_left(prices, price)]
                return True
        self.absent_removals += 1
        return False

    def settle(self, best_bid: int | None, best_ask: int | None) -> bool:
        """Close one message's changes to this book. O(1).

        Counts the book as ``crossed`` if its best bid has reached its
        best ask (kept as the feed said: the run goes on). Then compares
        the feed's best prices (ticks; 0 / 10000 mean an empty side;
        ``None`` means not sent) with the book: returns ``True`` when they
        agree or nothing was sent; a disagreement is counted in
        ``best_mismatches`` and changes nothing.
        """
        bid_prices, ask_prices = self._bid_prices, self._ask_prices
        if bid_prices and ask_prices and bid_prices[-1] >= ask_prices[0]:
            self.crossed += 1
        if best_bid is None and best_ask is None:
            return True
        self.best_checks += 1
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
        >>> book.apply_snapshot([PriceLevel(4800, 3.0), PriceLevel(4900, 1.0)], [PriceLevel(5200, 2.0)])
        >>> book.columns()
        ([4900, 4800], [1.0, 3.0], [5200], [2.0])
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
            self.asset_id,
            self.best_bid(),
            self.best_ask(),
            self.spread(),
            self.mid(),
            bids,
            asks,
            self.has_snapshot,
        )

    def export(self) -> dict[str, list[list]]:
        """The ``--books-out`` form: canonical price strings, best-first. O(n).

        >>> book = StateMachine("a")
        >>> book.apply_snapshot([PriceLevel(5000, 1.0)], [PriceLevel(9995, 2.5)])
        >>> book.export()
        {'bids': [['0.5', 1.0]], 'asks': [['0.9995', 2.5]]}
        """
        bid_sizes, ask_sizes = self._bid_sizes, self._ask_sizes
        return {
            "bids": [[ticks_to_price(p), bid_sizes[p]] for p in reversed(self._bid_prices)],
            "asks": [[ticks_to_price(p), ask_sizes[p]] for p in self._ask_prices],
        }

    def checkpoint(self) -> BookCheckpoint:
        """Everything this book is, levels and counters, as one frozen
        value (phase 8 restores a restarted worker from it). O(n)."""
        bid_sizes, ask_sizes = self._bid_sizes, self._ask_sizes
        return BookCheckpoint(
            self.asset_id,
            self.has_snapshot,
            self.tick,
            tuple((p, bid_sizes[p]) for p in self._bid_prices),
            tuple((p, ask_sizes[p]) for p in self._ask_prices),
            (self.snapshots, self.absent_removals, self.best_checks, self.best_mismatches, self.crossed,
             self.off_grid),
        )  # fmt: skip

    @classmethod
    def restored(cls, checkpoint: BookCheckpoint) -> StateMachine:
        """The book a ``checkpoint`` was taken of: same levels, same counters.

        >>> book = StateMachine("a")
        >>> book.apply_snapshot([(5000, 1.0), (4900, 2.0)], [(5100, 3.0)])
        >>> twin = StateMachine.restored(book.checkpoint())
        >>> twin.export() == book.export() and twin.snapshots == 1
        True
        """
        book = cls(checkpoint.asset_id)
        book.has_snapshot = checkpoint.has_snapshot
        book.tick = checkpoint.tick
        book._bid_sizes = dict(checkpoint.bids)
        book._bid_prices = [p for p, _ in checkpoint.bids]
        book._ask_sizes = dict(checkpoint.asks)
        book._ask_prices = [p for p, _ in checkpoint.asks]
        (book.snapshots, book.absent_removals, book.best_checks, book.best_mismatches, book.crossed,
         book.off_grid) = checkpoint.counters  # fmt: skip
        return book

    def is_crossed(self) -> bool:
        """Whether the best bid has reached the best ask. O(1)."""
        bid_prices, ask_prices = self._bid_prices, self._ask_prices
        return bool(bid_prices) and bool(ask_prices) and bid_prices[-1] >= ask_prices[0]

    def check(self) -> None:
        """Walk the whole book and raise ``AssertionError`` on any broken
        invariant: each sorted price list is strictly ascending and holds
        exactly the prices of its side's map, every size is positive and
        finite, only ticks inside (0, 1) hold a level, and a cached best
        level equals the real one. O(n log n). For tests."""
        sides = (
            (self._bid_sizes, self._bid_prices, self._bid_top, self._bid_top_price, _NO_BID_TOP, -1),
            (self._ask_sizes, self._ask_prices, self._ask_top, self._ask_top_price, _NO_ASK_TOP, 0),
        )
        for sizes, prices, top, top_price, no_top, best_index in sides:
            assert all(type(p) is int for p in prices), "a price is not an int number of ticks"
            assert all(a < b for a, b in itertools.pairwise(prices)), "prices not strictly ascending"
            assert all(0.0 < s < _INF for s in sizes.values()), "a size is not positive and finite"
            assert prices == sorted(sizes), "sorted prices and level map disagree"
            assert not prices or (prices[0] > 0 and prices[-1] < TICKS_PER_UNIT), "a price outside (0, 1)"
            assert top_price == (no_top if top is None else top[0]), "cached best price disagrees"
            if top is not None:
                assert prices, "cached best level on an empty side"
                best = prices[best_index]
                assert top == (best, sizes[best]), f"cached best {top} is stale"


_INF = float("inf")


def _side_of(levels: Iterable[tuple[int, float]]) -> tuple[dict[int, float], list[int]]:
    """One side of a snapshot as its level map and its sorted prices.
    Duplicate prices add up; zeros leave no level.

    A snapshot is the one place the book touches hundreds of fresh objects
    at once, so the common case is three C loops and no Python one:
    ``dict(levels)`` builds the map straight from the (price, size) pairs,
    a scan of its values finds any zero, and ``sorted`` runs on ints that
    usually arrive in order already (Timsort does that in one pass). The
    parser hands levels over as exact tuples for this: CPython reads the
    pairs of a tuple *subclass* such as ``PriceLevel`` through a generic
    path, about three times slower. Only a price seen twice (the map comes
    out shorter than the list) or a zero size sends the side through a
    Python loop, which the live feed never needs."""
    if not isinstance(levels, (list, tuple)):
        levels = list(levels)
    sizes = dict(levels)
    if len(sizes) == len(levels) and 0.0 not in sizes.values():
        return sizes, sorted(sizes)
    sizes = {}
    for price, size in levels:
        sizes[price] = sizes.get(price, 0.0) + size
    sizes = {price: size for price, size in sizes.items() if size}
    return sizes, sorted(sizes)
