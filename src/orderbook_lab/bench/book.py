"""``bench book``: the order book against the anchors a reader already trusts.

Two seeded streams of level operations, drawn like the real feed, are
applied to each contender, every contender on every stream in a fresh
process of its own (see ``_runner``):

* ``orderbook-lab``: this project's ``StateMachine`` (integer ticks of
  0.0001; per side a ``dict`` from price to size plus a sorted ``list`` of
  the prices; the best level cached);
* ``sorteddict``: the naive book most people write first, a
  ``sortedcontainers.SortedDict`` per side keyed by float prices;
* ``order-book``: the ``order-book`` C extension (the book behind the
  cryptofeed feed handler), float keys; skipped when not installed;
* ``sortedlist`` (experiment 1.5 only): this project's first book, a
  dict plus a ``sortedcontainers.SortedList`` of prices;
* ``ticktable`` (experiment 1.5 only): its second, from the days of 0.001
  ticks: per side a ``list`` of sizes indexed by the price in ticks (no
  hashing) plus the sorted prices, best level cached; at 0.0001 ticks a
  side needs 10,001 slots.

The streams (``STREAMS``) are alike in shape: 16 books of tens of levels
a side (up to about 300 in ``mixed``, 115 in ``fine``), mostly size
changes near the top, some new levels and removals (now and then of a
level that is not there), and 0.5% full snapshots. They differ in where
the prices lie:

``mixed``
    markets quoted around the middle of (0, 1): half the books on the 0.01
    tick (100 ticks of 0.0001 apart, at most 99 prices in all), half on
    the 0.001 tick;
``fine``
    markets on the finest tick, 0.0001, which the exchange uses for
    markets priced near a certainty: half the books live between 0.95 and
    0.9999, half between 0.0001 and 0.05. Neighbouring levels are one tick
    apart, so price keys are dense where the 0.01 markets are sparse.

Every contender gets each stream pre-converted to its own native form
(ticks or floats, tuples or dicts) before timing.

Figures per contender and stream:

``ns_per_update``
    one feed update as a consumer must apply it: the level change, then a
    read of the best bid and best ask (every ``price_change`` of the live
    feed carries them, and a book is kept to be read). The C extension
    writes into a hash table and sorts its keys lazily on the next read;
    charging that sort to the update is the only honest accounting, since
    an update that is never read is never sorted. ``ns_per_write`` (the
    change alone, no read) is reported beside it; ``update_vs_order_book``
    divides by the C extension's figure on the same stream.
``ns_per_best``
    reading the best bid and the best ask of a settled book (no write in
    between): the pure read cost.
``us_per_depth10``
    the top 10 levels of both sides of a settled book, best-first.
``bytes_per_book``
    the memory one book keeps when it holds exactly 50 levels a side,
    built from one snapshot on the stream's grid (``memory_snapshot``:
    0.0001 for ``fine``; 0.001 for ``mixed``, since the 0.01 grid has only
    99 prices), the same book for every contender, measured in a fresh
    worker per contender and stream. ``measure_memory`` says what is
    counted and what is not; the table shows KiB.
"""

from __future__ import annotations

import bisect
import functools
import gc
import importlib.util
import os
import pickle
import random
import tempfile
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..core.messages import PriceLevel
from ..core.prices import TICKS_PER_UNIT, ticks_to_price
from ._runner import Timing, median, rotated, run_worker

__all__ = [
    "BOOK_CONTENDERS",
    "DEFAULT_CONTENDERS",
    "STREAMS",
    "MEMORY_LEVELS",
    "BookStream",
    "BookResult",
    "BookReport",
    "book_memory_bytes",
    "describe_memory_book",
    "level_stream",
    "memory_snapshot",
    "run_book_bench",
]

BOOK_CONTENDERS = ("orderbook-lab", "sorteddict", "order-book", "sortedlist", "ticktable")
DEFAULT_CONTENDERS = ("orderbook-lab", "sorteddict", "order-book")
REFERENCE = "order-book"
"""The contender the ratio column divides by (when it ran)."""

STREAMS = ("mixed", "fine")
"""The stream kinds ``bench book`` runs, in table order."""

MEMORY_LEVELS = 50
"""Levels a side of the book the memory figure is measured on."""

_SEED = 8


# ------------------------------------------------------------------ the streams


@dataclass(frozen=True)
class BookStream:
    """What a stream holds. ``kind`` is one of ``STREAMS``; ``updates``
    excludes the initial snapshots."""

    kind: str = "mixed"
    seed: int = _SEED
    books: int = 16
    updates: int = 200_000
    snapshot_share: float = 0.005

    def __post_init__(self) -> None:
        if self.kind not in _MARKETS:
            raise ValueError(f"unknown stream kind {self.kind!r}: one of {', '.join(STREAMS)}")

    def describe(self) -> str:
        where = {
            "mixed": "0.01 and 0.001 ticks, 15-300 levels a side",
            "fine": "0.0001 tick, priced 0.95-0.9999 or 0.0001-0.05, 20-100 levels a side",
        }[self.kind]
        return f"{self.updates:,} updates over {self.books} books ({where}), seed {self.seed}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "seed": self.seed,
            "books": self.books,
            "updates": self.updates,
            "snapshot_share": self.snapshot_share,
        }


Op = tuple
"""``(book, is_bid, price_ticks, size)`` for a change (size 0 removes), or
``(book, None, bids, asks)`` for a snapshot, levels as ``(ticks, size)``
in ascending price order. Prices are ticks of 0.0001."""


@dataclass(frozen=True)
class _Market:
    """Where one simulated book lives: its tick and the prices it may use
    (``low``..``high``, ticks), its depth ``target`` per side, where it
    starts (``center``) and where it restarts when a side is empty
    (``home``)."""

    tick: int
    target: int
    low: int
    high: int
    center: int

    @property
    def home(self) -> int:
        return (self.low + self.high) // 2 // self.tick * self.tick


def _mixed_market(rng: random.Random, index: int) -> _Market:
    # The draws and their order are those of the stream before prices moved
    # to 0.0001 ticks: the same seed gives the same stream, every price x10.
    if index % 2 == 0:  # 0.01 tick: at most 99 prices in all
        tick, target = 100, round(15 * 3 ** rng.random())
    else:  # 0.001 tick
        tick, target = 10, round(40 * 7.5 ** rng.random())
    center = round(rng.uniform(0.35, 0.65) * TICKS_PER_UNIT / tick) * tick
    return _Market(tick, target, tick, TICKS_PER_UNIT - tick, center)


_FINE_BANDS = ((9_500, TICKS_PER_UNIT - 1), (1, 500))
"""0.95-0.9999 and 0.0001-0.05: where markets on the 0.0001 tick trade."""


def _fine_market(rng: random.Random, index: int) -> _Market:
    # Even books near 1, odd books near 0. The center stays in the middle of
    # its band, so both sides have room for the deepest target (115 levels
    # at 85% occupancy need about 135 ticks; a side has at least 175).
    low, high = _FINE_BANDS[index % 2]
    target = round(20 * 5 ** rng.random())
    center = round(rng.uniform(low + 0.35 * (high - low), low + 0.65 * (high - low)))
    return _Market(1, target, low, high, center)


_MARKETS = {"mixed": _mixed_market, "fine": _fine_market}


class _SimBook:
    __slots__ = ("market", "bids", "asks", "bid_sizes", "ask_sizes")

    def __init__(self, market: _Market) -> None:
        self.market = market
        self.bids: list[int] = []
        self.asks: list[int] = []
        self.bid_sizes: dict[int, float] = {}
        self.ask_sizes: dict[int, float] = {}


def _size(rng: random.Random) -> float:
    return round(rng.lognormvariate(5.0, 1.4), 2) or 0.01


def _fill(rng: random.Random, book: _SimBook, center: int) -> Op:
    market = book.market
    tick, low, high = market.tick, market.low, market.high
    book.bid_sizes, book.ask_sizes = {}, {}
    for sizes, step, gap in ((book.bid_sizes, -tick, 0), (book.ask_sizes, tick, 1)):
        want = max(5, round(market.target * rng.uniform(0.85, 1.15)))
        price = center + step * (gap + rng.randint(0, 1))  # never crossed: asks start above the bids
        while len(sizes) < want and low <= price <= high:
            if rng.random() < 0.85:
                sizes[price] = _size(rng)
            price += step
    book.bids, book.asks = sorted(book.bid_sizes), sorted(book.ask_sizes)
    return (None, sorted(book.bid_sizes.items()), sorted(book.ask_sizes.items()))


def level_stream(config: BookStream) -> list[Op]:
    """The seeded operations (see ``Op``): initial snapshots, then updates.

    The same ``config`` gives the same operations. A drawn update that
    cannot happen (a new level outside its book's prices, an "absent"
    price that is there) is dropped, so a stream holds a little fewer than
    ``config.updates`` changes. O(updates x levels) at worst
    (a new level is an ``insort``).

    >>> ops = level_stream(BookStream(updates=300, books=4, seed=1))
    >>> ops == level_stream(BookStream(updates=300, books=4, seed=1))
    True
    >>> sum(1 for op in ops if op[1] is not None) > 250
    True
    >>> fine = level_stream(BookStream("fine", updates=300, books=2, seed=1))
    >>> all(9_500 <= op[2] <= 9_999 for op in fine if op[0] == 0 and op[1] is not None)
    True
    """
    rng = random.Random(config.seed)
    place = _MARKETS[config.kind]
    books: list[_SimBook] = []
    ops: list[Op] = []
    for index in range(config.books):
        market = place(rng, index)
        book = _SimBook(market)
        books.append(book)
        ops.append((index, *_fill(rng, book, market.center)))
    for _ in range(config.updates):
        index = rng.randrange(config.books)
        book = books[index]
        market = book.market
        tick, low, high, home = market.tick, market.low, market.high, market.home
        if rng.random() < config.snapshot_share:
            center = ((book.bids[-1] if book.bids else home) + (book.asks[0] if book.asks else home)) // 2
            ops.append((index, *_fill(rng, book, center // tick * tick)))
            continue
        is_bid = rng.random() < 0.5
        prices, sizes = (book.bids, book.bid_sizes) if is_bid else (book.asks, book.ask_sizes)
        count = len(prices)
        roll = rng.random()
        if count > 1.2 * market.target and roll < 0.5:
            roll = 0.80  # too deep: remove
        elif count < 0.8 * market.target and 0.76 <= roll < 0.88:
            roll = 0.95  # too thin: add instead of removing
        if roll < 0.76 and count:  # resize a level near the top
            depth = min(int(rng.expovariate(0.35)), count - 1)
            price = prices[-1 - depth] if is_bid else prices[depth]
            size = _size(rng)
        elif roll < 0.875 and count > 3:  # remove a level near the top
            depth = min(int(rng.expovariate(0.25)), count - 1)
            price = prices[-1 - depth] if is_bid else prices[depth]
            size = 0.0
        elif roll < 0.885:  # remove a level that is not there: a counted no-op
            price = rng.randrange(low // tick, high // tick + 1) * tick
            if price in sizes:
                continue
            size = 0.0
        else:  # a new level near the top, never crossing the other side
            offset = int(rng.expovariate(0.2)) - 1
            if is_bid:
                best = prices[-1] if prices else home - tick
                limit = book.asks[0] - tick if book.asks else high
                price = min(best - offset * tick, limit)
            else:
                best = prices[0] if prices else home + tick
                limit = book.bids[-1] + tick if book.bids else low
                price = max(best + offset * tick, limit)
            if not low <= price <= high:
                continue
            size = _size(rng)
        if size > 0.0:
            if price not in sizes:
                bisect.insort(prices, price)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            prices.remove(price)
        ops.append((index, is_bid, price, size))
    return ops


_MEMORY_GRID = {"mixed": (10, 5_000), "fine": (1, 9_750)}
"""Per stream kind: the memory book's tick and its best bid (ticks)."""


def memory_snapshot(kind: str, levels: int = MEMORY_LEVELS) -> Op:
    """The snapshot the memory figure's book is built from (an ``Op``):
    ``levels`` contiguous levels a side on the stream's grid, sizes drawn
    with a fixed seed.

    ``fine``: the 0.0001 grid, bids 0.9701-0.975, asks 0.9751-0.98.
    ``mixed``: the 0.001 grid, bids 0.451-0.5, asks 0.501-0.55. The
    stream's coarser grid, 0.01, cannot hold the book: it has 99 prices in
    all, one short of 50 a side. None of the contenders stores anything
    that depends on the grid (the price objects are the caller's, see
    ``measure_memory``), so the grid changes no figure.

    >>> _, _, bids, asks = memory_snapshot("mixed")
    >>> len(bids), len(asks), bids[-1][0], asks[0][0], asks[-1][0]
    (50, 50, 5000, 5010, 5500)
    """
    tick, best_bid = _MEMORY_GRID[kind]
    rng = random.Random(_SEED)
    bids = [(best_bid - tick * i, _size(rng)) for i in range(levels)]
    asks = [(best_bid + tick * (i + 1), _size(rng)) for i in range(levels)]
    return (0, None, sorted(bids), sorted(asks))


# ------------------------------------------------------------------ contenders
#
# Each contender converts the stream to its native form once, then replays
# it with a loop written out for it (the same shape for all: unpack, pick
# the book, write, read the top), so no contender pays for a generic
# adapter the others do not.


@functools.cache
def _asset_ids(count: int) -> tuple[str, ...]:
    """Asset ids "0", "1", ...: made once per process, as a router keeps its
    keys, so that building a book allocates no id (see ``measure_memory``)."""
    return tuple(str(index) for index in range(count))


class _Lab:
    """``StateMachine``: ticks, a dict and a sorted list per side, cached best level."""

    name = "orderbook-lab"

    @staticmethod
    def prepare(ops: list[Op]) -> list:
        native = []
        for index, is_bid, price, size in ops:
            if is_bid is None:
                # Plain (ticks, size) tuples: what the parser hands a snapshot over as.
                native.append((index, None, [tuple(lv) for lv in price], [tuple(lv) for lv in size]))
            else:
                native.append((index, "BUY" if is_bid else "SELL", price, size))
        return native

    @staticmethod
    def new_books(count: int) -> list:
        from ..core.book import StateMachine

        return [StateMachine(asset_id) for asset_id in _asset_ids(count)]

    @staticmethod
    def replay(native: list, books: list, read: bool) -> None:
        if read:
            for index, side, price, size in native:
                book = books[index]
                if side is None:
                    book.apply_snapshot(price, size)
                else:
                    book.apply_change(side, price, size)
                book.best_bid()
                book.best_ask()
        else:
            for index, side, price, size in native:
                if side is None:
                    books[index].apply_snapshot(price, size)
                else:
                    books[index].apply_change(side, price, size)

    @staticmethod
    def read_best(books: list) -> None:
        for book in books:
            book.best_bid()
            book.best_ask()

    @staticmethod
    def read_depth(books: list, n: int) -> None:
        for book in books:
            book.depth(n)

    @staticmethod
    def summary(books: list) -> list:
        out = []
        for book in books:
            bids, asks = book.depth(3)
            out.append([[list(lv) for lv in bids], [list(lv) for lv in asks], list(book.levels())])
        return out


class _SortedListBook:
    """The project's previous book: a dict plus a ``SortedList`` of ticks."""

    __slots__ = ("bid_sizes", "ask_sizes", "bid_prices", "ask_prices")

    def __init__(self) -> None:
        from sortedcontainers import SortedList

        self.bid_sizes: dict[int, float] = {}
        self.ask_sizes: dict[int, float] = {}
        self.bid_prices = SortedList()
        self.ask_prices = SortedList()

    def apply_snapshot(self, bids: list, asks: list) -> None:
        from sortedcontainers import SortedList

        self.bid_sizes, self.ask_sizes = {}, {}
        for sizes, levels in ((self.bid_sizes, bids), (self.ask_sizes, asks)):
            for price, size in levels:
                sizes[price] = sizes.get(price, 0.0) + size
        self.bid_sizes = {p: s for p, s in self.bid_sizes.items() if s > 0.0}
        self.ask_sizes = {p: s for p, s in self.ask_sizes.items() if s > 0.0}
        self.bid_prices = SortedList(self.bid_sizes)
        self.ask_prices = SortedList(self.ask_sizes)

    def apply_change(self, side: str, price: int, size: float) -> bool:
        if side == "BUY":
            sizes, prices = self.bid_sizes, self.bid_prices
        else:
            sizes, prices = self.ask_sizes, self.ask_prices
        if size > 0.0:
            if price not in sizes:
                prices.add(price)
            sizes[price] = size
            return True
        if price in sizes:
            del sizes[price]
            prices.remove(price)
            return True
        return False

    def best_bid(self):
        if not self.bid_prices:
            return None
        price = self.bid_prices[-1]
        return PriceLevel(price, self.bid_sizes[price])

    def best_ask(self):
        if not self.ask_prices:
            return None
        price = self.ask_prices[0]
        return PriceLevel(price, self.ask_sizes[price])

    def depth(self, n: int) -> tuple[list, list]:
        bid_sizes, ask_sizes = self.bid_sizes, self.ask_sizes
        return (
            [PriceLevel(p, bid_sizes[p]) for p in islice(reversed(self.bid_prices), n)],
            [PriceLevel(p, ask_sizes[p]) for p in islice(self.ask_prices, n)],
        )

    def levels(self) -> tuple[int, int]:
        return len(self.bid_sizes), len(self.ask_sizes)


class _SortedList(_Lab):
    name = "sortedlist"

    @staticmethod
    def new_books(count: int) -> list:
        return [_SortedListBook() for _ in range(count)]


_TABLE_SLOTS = TICKS_PER_UNIT + 1
_EMPTY_TABLE = [0.0] * _TABLE_SLOTS


class _TickTableBook:
    """The project's second book: per side a direct-address table of sizes
    (index = price in ticks, 0.0 = no level), the sorted prices present,
    and the best level cached until a change at or beyond it. The fastest
    write Python offers (an index, no hash), paid for with a slot for every
    tick of (0, 1) whatever the book holds."""

    __slots__ = ("bid_sizes", "ask_sizes", "bid_prices", "ask_prices", "bid_top", "ask_top")

    def __init__(self) -> None:
        self.bid_sizes, self.ask_sizes = _EMPTY_TABLE.copy(), _EMPTY_TABLE.copy()
        self.bid_prices: list[int] = []  # ascending: the best bid is last
        self.ask_prices: list[int] = []  # ascending: the best ask is first
        self.bid_top = self.ask_top = None

    def apply_snapshot(self, bids: list, asks: list) -> None:
        self.bid_prices = self._refill(self.bid_sizes, self.bid_prices, bids)
        self.ask_prices = self._refill(self.ask_sizes, self.ask_prices, asks)
        self.bid_top = self.ask_top = None

    @staticmethod
    def _refill(sizes: list[float], old: list[int], levels: list) -> list[int]:
        if old:  # clear the old span in one slice copy
            sizes[old[0] : old[-1] + 1] = _EMPTY_TABLE[old[0] : old[-1] + 1]
        for price, size in levels:
            sizes[price] += size
        return sorted({price for price, _ in levels if sizes[price]})

    def apply_change(self, side: str, price: int, size: float) -> bool:
        if side == "BUY":
            sizes, prices = self.bid_sizes, self.bid_prices
            if self.bid_top is not None and price >= self.bid_top[0]:
                self.bid_top = None
        else:
            sizes, prices = self.ask_sizes, self.ask_prices
            if self.ask_top is not None and price <= self.ask_top[0]:
                self.ask_top = None
        if size > 0.0:
            if not sizes[price]:
                bisect.insort(prices, price)
            sizes[price] = size
            return True
        if sizes[price]:
            sizes[price] = 0.0
            del prices[bisect.bisect_left(prices, price)]
            return True
        return False

    def best_bid(self):
        if self.bid_top is None and self.bid_prices:
            price = self.bid_prices[-1]
            self.bid_top = PriceLevel(price, self.bid_sizes[price])
        return self.bid_top

    def best_ask(self):
        if self.ask_top is None and self.ask_prices:
            price = self.ask_prices[0]
            self.ask_top = PriceLevel(price, self.ask_sizes[price])
        return self.ask_top

    def depth(self, n: int) -> tuple[list, list]:
        bid_sizes, ask_sizes = self.bid_sizes, self.ask_sizes
        return (
            [PriceLevel(p, bid_sizes[p]) for p in self.bid_prices[: -n - 1 : -1]],
            [PriceLevel(p, ask_sizes[p]) for p in self.ask_prices[:n]],
        )

    def levels(self) -> tuple[int, int]:
        return len(self.bid_prices), len(self.ask_prices)


class _TickTable(_Lab):
    name = "ticktable"

    @staticmethod
    def new_books(count: int) -> list:
        return [_TickTableBook() for _ in range(count)]


_UNIT = float(TICKS_PER_UNIT)


def _float_ops(ops: list[Op]) -> list:
    # Float keys: ticks / 10,000 is the same float for the same tick, so every
    # price lands on one key; what floats cost is the hashing and comparing.
    # A snapshot arrives as a list of (price, size) pairs, as a parser hands
    # it over: building the side from it is part of applying it, for every
    # contender alike.
    native = []
    for index, is_bid, price, size in ops:
        if is_bid is None:
            native.append(
                (index, None, [(p / _UNIT, s) for p, s in price], [(p / _UNIT, s) for p, s in size])
            )
        else:
            native.append((index, is_bid, price / _UNIT, size))
    return native


class _SortedDict:
    """The naive book: one ``SortedDict`` per side, float price keys."""

    name = "sorteddict"
    prepare = staticmethod(_float_ops)

    @staticmethod
    def new_books(count: int) -> list:
        from sortedcontainers import SortedDict

        return [[SortedDict(), SortedDict()] for _ in range(count)]

    @staticmethod
    def replay(native: list, books: list, read: bool) -> None:
        from sortedcontainers import SortedDict

        for index, is_bid, price, size in native:
            book = books[index]
            if is_bid is None:
                book[0] = SortedDict(price)
                book[1] = SortedDict(size)
            else:
                side = book[0] if is_bid else book[1]
                if size:
                    side[price] = size
                elif price in side:
                    del side[price]
            if read:
                book[0].peekitem(-1)
                book[1].peekitem(0)

    @staticmethod
    def read_best(books: list) -> None:
        for bids, asks in books:
            bids.peekitem(-1)
            asks.peekitem(0)

    @staticmethod
    def read_depth(books: list, n: int) -> None:
        for bids, asks in books:
            [(p, bids[p]) for p in islice(reversed(bids), n)]
            [(p, asks[p]) for p in islice(asks, n)]

    @staticmethod
    def summary(books: list) -> list:
        out = []
        for bids, asks in books:
            top_bids = [[round(p * _UNIT), bids[p]] for p in islice(reversed(bids), 3)]
            top_asks = [[round(p * _UNIT), asks[p]] for p in islice(asks, 3)]
            out.append([top_bids, top_asks, [len(bids), len(asks)]])
        return out


class _OrderBookC:
    """The ``order-book`` C extension: a hash table per side whose keys are
    sorted lazily, on the first read after a write. Float price keys."""

    name = "order-book"
    prepare = staticmethod(_float_ops)

    @staticmethod
    def new_books(count: int) -> list:
        from order_book import OrderBook

        return [OrderBook() for _ in range(count)]

    @staticmethod
    def replay(native: list, books: list, read: bool) -> None:
        for index, is_bid, price, size in native:
            book = books[index]
            if is_bid is None:
                book.bids = dict(price)
                book.asks = dict(size)
            else:
                side = book.bids if is_bid else book.asks
                if size:
                    side[price] = size
                elif price in side:
                    del side[price]
            if read:
                book.bids.index(0)
                book.asks.index(0)

    @staticmethod
    def read_best(books: list) -> None:
        for book in books:
            book.bids.index(0)
            book.asks.index(0)

    @staticmethod
    def read_depth(books: list, n: int) -> None:
        # index(i) per level beats to_list()[:n], which builds every level.
        for book in books:
            bids, asks = book.bids, book.asks
            [bids.index(i) for i in range(min(n, len(bids)))]
            [asks.index(i) for i in range(min(n, len(asks)))]

    @staticmethod
    def summary(books: list) -> list:
        out = []
        for book in books:
            bids, asks = book.bids, book.asks
            top_bids = [[round(p * _UNIT), s] for p, s in (bids.index(i) for i in range(min(3, len(bids))))]
            top_asks = [[round(p * _UNIT), s] for p, s in (asks.index(i) for i in range(min(3, len(asks))))]
            out.append([top_bids, top_asks, [len(bids), len(asks)]])
        return out


_IMPLEMENTATIONS = {c.name: c for c in (_Lab, _SortedDict, _OrderBookC, _SortedList, _TickTable)}


def missing_reason(name: str) -> str | None:
    """Why a contender cannot run here, or ``None`` if it can."""
    if name == "order-book" and importlib.util.find_spec("order_book") is None:
        return "order-book (C extension) is not installed: uv sync --extra bench, or pip install 'orderbook-lab[bench]'"
    return None


# ------------------------------------------------------------------ the worker


def measure(contender: str, stream_path: str, timing: dict) -> dict[str, Any]:
    """Worker side: time one contender on the pickled stream."""
    impl = _IMPLEMENTATIONS[contender]
    with open(stream_path, "rb") as handle:
        config, ops = pickle.load(handle)
    native = impl.prepare(ops)
    book_count = config["books"]
    repeats, min_sample_s = timing["repeats"], timing["min_sample_s"]
    op_count = len(native)

    def replay(ops: list, read: bool):
        def run(loops: int) -> int:
            elapsed = 0
            for _ in range(loops):  # every pass starts from fresh, empty books
                books = impl.new_books(book_count)
                began = time.perf_counter_ns()
                impl.replay(ops, books, read)
                elapsed += time.perf_counter_ns() - began
            return elapsed

        return run

    settled = impl.new_books(book_count)
    impl.replay(native, settled, True)

    def reads(read, *args):
        def run(loops: int) -> int:
            began = time.perf_counter_ns()
            for _ in range(loops):
                read(settled, *args)
            return time.perf_counter_ns() - began

        return run

    from ._runner import calibrate, sample

    def timed(run, per: int) -> list[float]:
        # Samples run with the garbage collector off, as timeit does: a
        # collection triggered by one contender's allocations is noise.
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()
        try:
            loops = calibrate(run, min_sample_s)
            return [ns / (loops * per) for ns in sample(run, loops, repeats)]
        finally:
            if enabled:
                gc.enable()

    update = timed(replay(native, True), op_count)
    write = timed(replay(native, False), op_count)
    # The snapshots alone (each followed by its top-of-book read, as in
    # ``update``): how much of an update's average they account for.
    snapshots = [op for op in native if op[1] is None]
    snapshot = timed(replay(snapshots, True), len(snapshots))
    best = timed(reads(impl.read_best), book_count)
    depth = timed(reads(impl.read_depth, 10), book_count)
    return {
        "contender": contender,
        "ops": op_count,
        "samples": {
            "ns_per_update": update,
            "ns_per_write": write,
            "ns_per_best": best,
            "ns_per_depth10": depth,
            "ns_per_snapshot": snapshot,
        },
        "snapshots": len(snapshots),
        "summary": impl.summary(settled),
        "pid": os.getpid(),
    }


def measure_memory(contender: str, kind: str, copies: int = 16) -> dict[str, Any]:
    """Worker side: the bytes one book of ``contender`` keeps when it holds
    ``MEMORY_LEVELS`` levels a side, on the grid of stream ``kind``.

    Each book is built the way the bench's update loop builds one: a fresh
    book, the snapshot of ``memory_snapshot(kind)`` applied, then a read of
    the best bid and ask (so that state built lazily on a read, the C
    extension's sorted keys or this book's cached best levels, is there).
    ``tracemalloc`` counts what ``copies`` such books hold after a garbage
    collection, less what the same steps cost with no book, divided by
    ``copies``.

    Counted: every allocation made while a book is built that is still
    alive afterwards: the book object, each side's containers (a dict's
    hash table, a list's or tuple's pointers, ``SortedList``'s sublists
    and index), and whatever the book makes for itself and keeps: cached
    ``PriceLevel`` tuples, the C extension's copy of the dict it is given
    and its tuple of sorted keys, the bound methods each ``SortedDict``
    stores, and the two-slot list the bench holds a ``sorteddict`` book's
    sides in. The C extension allocates through CPython's allocator too,
    so ``tracemalloc`` sees it.

    Not counted, for every contender alike: the objects the caller hands
    in and the book only points to, namely the price keys (int ticks, or
    floats for the float-keyed contenders), the size floats, the
    snapshot's level tuples and the asset id. They exist before tracing
    starts: in a live process they are the parser's, and shared (the
    parser memoises price ints; one price object serves every book that
    rests a level there). Charged to the book, the 200 of them would add
    5,200 bytes with int ticks (28 bytes each, sizes 24) and 4,800 with
    float prices (24 each): the same objects for every contender, so none
    is charged.
    Nor what a process spends once, or on its first few books only (type
    caches, first use of a module, per-class state CPython settles while
    the first instances are made: ``sortedcontainers``' first five books
    each cost up to 300 bytes more than the sixth): ``_WARM_BOOKS`` books
    are built before tracing starts, after which every book costs the
    same to the byte.
    """
    import tracemalloc

    impl = _IMPLEMENTATIONS[contender]
    native = impl.prepare([memory_snapshot(kind)])  # the caller's objects

    def build(holder: list) -> None:
        for slot in range(len(holder)):
            books = impl.new_books(1)
            impl.replay(native, books, True)
            holder[slot] = books[0]

    build([None] * _WARM_BOOKS)  # first-use allocations: not a book's

    def traced(count: int) -> tuple[int, list]:
        holder = [None] * count
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        build(holder)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, holder

    tracemalloc.start()
    try:
        harness, _ = traced(0)
        held, books = traced(copies)
    finally:
        tracemalloc.stop()
    return {
        "contender": contender,
        "stream": kind,
        "bytes_per_book": (held - harness) / copies,
        "levels": [summary[2] for summary in impl.summary(books)],
        "pid": os.getpid(),
    }


_WARM_BOOKS = 16


def book_memory_bytes(name: str, kind: str = "mixed") -> float:
    """Bytes one book of contender ``name`` keeps with ``MEMORY_LEVELS``
    levels a side on the grid of stream ``kind``, measured in a fresh
    worker process (see ``measure_memory``)."""
    return _memory_worker(name, kind)["bytes_per_book"]


def _memory_worker(name: str, kind: str) -> dict[str, Any]:
    answer = run_worker({"bench": "book-memory", "contender": name, "kind": kind})
    if any(levels != [MEMORY_LEVELS, MEMORY_LEVELS] for levels in answer["levels"]):
        raise RuntimeError(f"{name}: the memory book does not hold {MEMORY_LEVELS} levels a side")
    return answer


# ------------------------------------------------------------------ the parent


@dataclass(frozen=True)
class BookResult:
    """One contender's medians on one stream. ``vs_reference`` divides
    ``ns_per_update`` by the reference's (``order-book``) on the same
    stream, ``None`` when that did not run."""

    name: str
    ns_per_update: float
    ns_per_write: float
    ns_per_best: float
    us_per_depth10: float
    samples: int
    us_per_snapshot: float = 0.0
    ns_per_change: float = 0.0
    """``ns_per_update`` with the snapshots' share taken out: a level change
    and its top-of-book read (derived from the two medians)."""
    vs_reference: float | None = None
    stream: str = "mixed"
    bytes_per_book: float = 0.0
    """Bytes one book keeps with ``MEMORY_LEVELS`` levels a side (see
    ``measure_memory``)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stream": self.stream,
            "ns_per_update": round(self.ns_per_update, 1),
            "ns_per_best": round(self.ns_per_best, 1),
            "us_per_depth10": round(self.us_per_depth10, 3),
            "ns_per_write": round(self.ns_per_write, 1),
            "ns_per_change": round(self.ns_per_change, 1),
            "us_per_snapshot": round(self.us_per_snapshot, 3),
            "update_vs_order_book": None if self.vs_reference is None else round(self.vs_reference, 3),
            "bytes_per_book": round(self.bytes_per_book),
            "samples": self.samples,
        }


@dataclass
class BookReport:
    streams: tuple[BookStream, ...]
    timing: Timing
    python: str
    machine: str
    results: list[BookResult] = field(default_factory=list)
    """Stream by stream (in ``streams`` order), contender by contender."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    same_books_by_stream: dict[str, bool] = field(default_factory=dict)
    """Per stream kind: every contender ended with the same top 3 levels
    and level counts."""

    @property
    def same_books(self) -> bool:
        """The contenders agreed on every stream."""
        return all(self.same_books_by_stream.values())

    def result(self, name: str, stream: str = "mixed") -> BookResult | None:
        return next((r for r in self.results if r.name == name and r.stream == stream), None)

    def results_for(self, stream: str) -> list[BookResult]:
        return [r for r in self.results if r.stream == stream]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": "book",
            "python": self.python,
            "machine": self.machine,
            "results": [r.as_dict() for r in self.results],
            "skipped": [{"name": n, "reason": why} for n, why in self.skipped],
            "same_books": self.same_books,
            "streams": {
                stream.kind: {**stream.as_dict(), "same_books": self.same_books_by_stream.get(stream.kind)}
                for stream in self.streams
            },
            "memory": {
                "levels_per_side": MEMORY_LEVELS,
                "books": {kind: describe_memory_book(kind) for kind in (s.kind for s in self.streams)},
                "tool": "tracemalloc, in a fresh worker per contender and stream",
                "counts": "what the book allocates and keeps; not the price and size objects the caller hands in",
            },
            "method": {
                "processes_per_contender": self.timing.processes,
                "repeats_per_process": self.timing.repeats,
                "min_sample_s": self.timing.min_sample_s,
                "statistic": "median",
            },
        }


def describe_memory_book(kind: str) -> str:
    """Where the memory book of stream ``kind`` lies.

    >>> describe_memory_book("mixed")
    '0.001 grid, bids 0.451-0.5, asks 0.501-0.55'
    """
    tick, _ = _MEMORY_GRID[kind]
    _, _, bids, asks = memory_snapshot(kind)
    bid_span = f"{ticks_to_price(bids[0][0])}-{ticks_to_price(bids[-1][0])}"
    ask_span = f"{ticks_to_price(asks[0][0])}-{ticks_to_price(asks[-1][0])}"
    return f"{ticks_to_price(tick)} grid, bids {bid_span}, asks {ask_span}"


def run_book_bench(
    *,
    quick: bool = False,
    contenders: tuple[str, ...] = DEFAULT_CONTENDERS,
    streams: tuple[BookStream, ...] | None = None,
    timing: Timing | None = None,
    progress=None,
) -> BookReport:
    """Generate each stream once, time each contender on each in fresh
    workers (rounds interleave streams and contenders), then measure each
    contender's memory per stream in one more fresh worker each."""
    from ._runner import machine, python_version

    if streams is None:
        updates = 20_000 if quick else BookStream().updates
        streams = tuple(BookStream(kind, updates=updates) for kind in STREAMS)
    timing = timing or (Timing.quick() if quick else Timing())
    report = BookReport(tuple(streams), timing, python_version(), machine())
    runnable = []
    for name in contenders:
        reason = missing_reason(name)
        if reason is None:
            runnable.append(name)
        else:
            report.skipped.append((name, reason))
    kinds = [stream.kind for stream in streams]
    samples: dict[tuple[str, str], dict[str, list[float]]] = {
        (kind, name): {} for kind in kinds for name in runnable
    }
    summaries: dict[str, dict[str, list]] = {kind: {} for kind in kinds}
    counts: dict[str, tuple[int, int]] = {}
    memory: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-bench-") as tmp:
        paths = {}
        for stream in streams:
            paths[stream.kind] = os.path.join(tmp, f"{stream.kind}.pickle")
            with open(paths[stream.kind], "wb") as handle:
                pickle.dump(
                    ({"books": stream.books}, level_stream(stream)), handle, protocol=pickle.HIGHEST_PROTOCOL
                )
        for round_no in range(timing.processes):
            for kind in kinds:
                for name in rotated(runnable, round_no):  # interleaved, first turn by turn
                    if progress is not None:
                        progress(f"{kind} stream, {name}: worker {round_no + 1}/{timing.processes}")
                    answer = run_worker(
                        {
                            "bench": "book",
                            "contender": name,
                            "stream": paths[kind],
                            "timing": {"repeats": timing.repeats, "min_sample_s": timing.min_sample_s},
                        }
                    )
                    for key, values in answer["samples"].items():
                        samples[kind, name].setdefault(key, []).extend(values)
                    summaries[kind][name] = answer["summary"]
                    counts[kind] = (answer["snapshots"], answer["ops"])
    for kind in kinds:
        for name in runnable:
            if progress is not None:
                progress(f"{kind} stream, {name}: memory of a book of {MEMORY_LEVELS} levels a side")
            memory[kind, name] = _memory_worker(name, kind)["bytes_per_book"]
    for kind in kinds:
        snapshot_count, op_count = counts.get(kind, (0, 0))
        results = []
        for name in runnable:
            got = samples[kind, name]
            results.append(
                BookResult(
                    name=name,
                    ns_per_update=median(got["ns_per_update"]),
                    ns_per_write=median(got["ns_per_write"]),
                    ns_per_best=median(got["ns_per_best"]),
                    us_per_depth10=median(got["ns_per_depth10"]) / 1e3,
                    samples=len(got["ns_per_update"]),
                    us_per_snapshot=median(got["ns_per_snapshot"]) / 1e3,
                    ns_per_change=(
                        median(got["ns_per_update"]) * op_count
                        - median(got["ns_per_snapshot"]) * snapshot_count
                    )
                    / (op_count - snapshot_count),
                    stream=kind,
                    bytes_per_book=memory[kind, name],
                )
            )
        reference = next((r for r in results if r.name == REFERENCE), None)
        if reference is not None:
            results = [
                BookResult(**{**r.__dict__, "vs_reference": r.ns_per_update / reference.ns_per_update})
                for r in results
            ]
        report.results.extend(results)
        report.same_books_by_stream[kind] = len({repr(s) for s in summaries[kind].values()}) <= 1
    return report
