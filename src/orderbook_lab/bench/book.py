"""``bench book``: the order book against the anchors a reader already trusts.

One seeded stream of level operations, drawn like the real feed, is
applied to each contender in its own fresh process (see ``_runner``):

* ``orderbook-lab``: this project's ``StateMachine`` (integer ticks, a
  tick-indexed size table plus a sorted ``list`` of prices, cached best
  level);
* ``sorteddict``: the naive book most people write first, a
  ``sortedcontainers.SortedDict`` per side keyed by float prices;
* ``order-book``: the ``order-book`` C extension (the book behind the
  cryptofeed feed handler), float keys; skipped when not installed;
* ``sortedlist`` (experiment 1.5 only): this project's previous book,
  a dict plus a ``sortedcontainers.SortedList`` of prices.

The stream: books of tens to a few hundred levels per side, half on the
0.01 tick and half on the 0.001 tick; mostly size changes near the top,
some new levels and removals (and a rare removal of an absent level), and
occasional full snapshots. Every contender gets the stream pre-converted
to its own native form (ticks or floats, tuples or dicts) before timing.

Figures per contender:

``ns_per_update``
    one feed update as a consumer must apply it: the level change, then a
    read of the best bid and best ask (every ``price_change`` of the live
    feed carries them, and a book is kept to be read). The C extension
    writes into a hash table and sorts its keys lazily on the next read;
    charging that sort to the update is the only honest accounting, since
    an update that is never read is never sorted. ``ns_per_write`` (the
    change alone, no read) is reported beside it.
``ns_per_best``
    reading the best bid and the best ask of a settled book (no write in
    between): the pure read cost.
``us_per_depth10``
    the top 10 levels of both sides of a settled book, best-first.
"""

from __future__ import annotations

import bisect
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
from ._runner import Timing, median, rotated, run_worker

__all__ = [
    "BOOK_CONTENDERS",
    "DEFAULT_CONTENDERS",
    "BookStream",
    "BookResult",
    "BookReport",
    "book_memory_bytes",
    "level_stream",
    "run_book_bench",
]

BOOK_CONTENDERS = ("orderbook-lab", "sorteddict", "order-book", "sortedlist")
DEFAULT_CONTENDERS = ("orderbook-lab", "sorteddict", "order-book")
REFERENCE = "order-book"
"""The contender the ratio column divides by (when it ran)."""

_SEED = 8


# ------------------------------------------------------------------ the stream


@dataclass(frozen=True)
class BookStream:
    """What the stream holds. ``updates`` excludes the initial snapshots."""

    seed: int = _SEED
    books: int = 16
    updates: int = 200_000
    snapshot_share: float = 0.005

    def describe(self) -> str:
        return (
            f"{self.updates:,} updates over {self.books} books (0.01 and 0.001 ticks, "
            f"15-300 levels a side), seed {self.seed}"
        )


Op = tuple
"""``(book, is_bid, price_ticks, size)`` for a change (size 0 removes), or
``(book, None, bids, asks)`` for a snapshot, levels as ``(ticks, size)``."""


class _SimBook:
    __slots__ = ("tick", "target", "bids", "asks", "bid_sizes", "ask_sizes")

    def __init__(self, tick: int, target: int) -> None:
        self.tick, self.target = tick, target
        self.bids: list[int] = []
        self.asks: list[int] = []
        self.bid_sizes: dict[int, float] = {}
        self.ask_sizes: dict[int, float] = {}


def _size(rng: random.Random) -> float:
    return round(rng.lognormvariate(5.0, 1.4), 2) or 0.01


def _fill(rng: random.Random, book: _SimBook, center: int) -> Op:
    tick = book.tick
    book.bid_sizes, book.ask_sizes = {}, {}
    for sizes, step, gap in ((book.bid_sizes, -tick, 0), (book.ask_sizes, tick, 1)):
        want = max(5, round(book.target * rng.uniform(0.85, 1.15)))
        price = center + step * (gap + rng.randint(0, 1))  # never crossed: asks start above the bids
        while len(sizes) < want and tick <= price <= 1000 - tick:
            if rng.random() < 0.85:
                sizes[price] = _size(rng)
            price += step
    book.bids, book.asks = sorted(book.bid_sizes), sorted(book.ask_sizes)
    return (None, sorted(book.bid_sizes.items()), sorted(book.ask_sizes.items()))


def level_stream(config: BookStream) -> list[Op]:
    """The seeded operations (see ``Op``): initial snapshots, then updates.

    >>> ops = level_stream(BookStream(updates=300, books=4, seed=1))
    >>> ops == level_stream(BookStream(updates=300, books=4, seed=1))
    True
    >>> sum(1 for op in ops if op[1] is not None) > 250
    True
    """
    rng = random.Random(config.seed)
    books: list[_SimBook] = []
    ops: list[Op] = []
    for index in range(config.books):
        if index % 2 == 0:  # 0.01 tick: at most 99 prices in all
            tick, target = 10, round(15 * 3 ** rng.random())
        else:
            tick, target = 1, round(40 * 7.5 ** rng.random())
        book = _SimBook(tick, target)
        books.append(book)
        center = round(rng.uniform(0.35, 0.65) * 1000 / tick) * tick
        ops.append((index, *_fill(rng, book, center)))
    for _ in range(config.updates):
        index = rng.randrange(config.books)
        book = books[index]
        tick = book.tick
        if rng.random() < config.snapshot_share:
            center = ((book.bids[-1] if book.bids else 500) + (book.asks[0] if book.asks else 500)) // 2
            ops.append((index, *_fill(rng, book, center // tick * tick)))
            continue
        is_bid = rng.random() < 0.5
        prices, sizes = (book.bids, book.bid_sizes) if is_bid else (book.asks, book.ask_sizes)
        count = len(prices)
        roll = rng.random()
        if count > 1.2 * book.target and roll < 0.5:
            roll = 0.80  # too deep: remove
        elif count < 0.8 * book.target and 0.76 <= roll < 0.88:
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
            price = rng.randrange(1, 1000 // tick) * tick
            if price in sizes:
                continue
            size = 0.0
        else:  # a new level near the top, never crossing the other side
            offset = int(rng.expovariate(0.2)) - 1
            if is_bid:
                best = prices[-1] if prices else 500 - tick
                limit = book.asks[0] - tick if book.asks else 1000 - tick
                price = min(best - offset * tick, limit)
            else:
                best = prices[0] if prices else 500 + tick
                limit = book.bids[-1] + tick if book.bids else tick
                price = max(best + offset * tick, limit)
            if not tick <= price <= 1000 - tick:
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


# ------------------------------------------------------------------ contenders
#
# Each contender converts the stream to its native form once, then replays
# it with a loop written out for it (the same shape for all: unpack, pick
# the book, write, read the top), so no contender pays for a generic
# adapter the others do not.


class _Lab:
    """``StateMachine``: ticks, size table + sorted list, cached best level."""

    name = "orderbook-lab"

    @staticmethod
    def prepare(ops: list[Op]) -> list:
        native = []
        for index, is_bid, price, size in ops:
            if is_bid is None:
                native.append(
                    (index, None, [PriceLevel(*lv) for lv in price], [PriceLevel(*lv) for lv in size])
                )
            else:
                native.append((index, "BUY" if is_bid else "SELL", price, size))
        return native

    @staticmethod
    def new_books(count: int) -> list:
        from ..core.book import StateMachine

        return [StateMachine(str(index)) for index in range(count)]

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


def _float_ops(ops: list[Op]) -> list:
    # Float keys: ticks / 1000 is the same float for the same tick, so every
    # price lands on one key; what floats cost is the hashing and comparing.
    # A snapshot arrives as a list of (price, size) pairs, as a parser hands
    # it over: building the side from it is part of applying it, for every
    # contender alike.
    native = []
    for index, is_bid, price, size in ops:
        if is_bid is None:
            native.append((index, None, [(p / 1000, s) for p, s in price], [(p / 1000, s) for p, s in size]))
        else:
            native.append((index, is_bid, price / 1000, size))
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
            top_bids = [[round(p * 1000), bids[p]] for p in islice(reversed(bids), 3)]
            top_asks = [[round(p * 1000), asks[p]] for p in islice(asks, 3)]
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
            top_bids = [[round(p * 1000), s] for p, s in (bids.index(i) for i in range(min(3, len(bids))))]
            top_asks = [[round(p * 1000), s] for p, s in (asks.index(i) for i in range(min(3, len(asks))))]
            out.append([top_bids, top_asks, [len(bids), len(asks)]])
        return out


_IMPLEMENTATIONS = {c.name: c for c in (_Lab, _SortedDict, _OrderBookC, _SortedList)}


def missing_reason(name: str) -> str | None:
    """Why a contender cannot run here, or ``None`` if it can."""
    if name == "order-book" and importlib.util.find_spec("order_book") is None:
        return "order-book (C extension) is not installed: uv sync --extra bench, or pip install 'orderbook-lab[bench]'"
    return None


def book_memory_bytes(name: str, stream: BookStream) -> float:
    """Bytes one book of contender ``name`` holds after the stream, averaged
    over the stream's books (``tracemalloc``: every allocation the books
    keep, the shared 0.0 and small ints aside). In this process: memory,
    unlike time, is not disturbed by neighbours."""
    import tracemalloc

    impl = _IMPLEMENTATIONS[name]
    native = impl.prepare(level_stream(stream))
    impl.replay(native, impl.new_books(stream.books), True)  # first-use allocations: not the books'
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        books = impl.new_books(stream.books)
        impl.replay(native, books, True)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del books
    return (after - before) / stream.books


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


# ------------------------------------------------------------------ the parent


@dataclass(frozen=True)
class BookResult:
    """One contender's medians. ``vs_reference`` divides ``ns_per_update`` by
    the reference's (``order-book``), ``None`` when that did not run."""

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ns_per_update": round(self.ns_per_update, 1),
            "ns_per_best": round(self.ns_per_best, 1),
            "us_per_depth10": round(self.us_per_depth10, 3),
            "ns_per_write": round(self.ns_per_write, 1),
            "ns_per_change": round(self.ns_per_change, 1),
            "us_per_snapshot": round(self.us_per_snapshot, 3),
            "update_vs_order_book": None if self.vs_reference is None else round(self.vs_reference, 3),
            "samples": self.samples,
        }


@dataclass
class BookReport:
    stream: BookStream
    timing: Timing
    python: str
    machine: str
    results: list[BookResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    same_books: bool = True
    """Every contender ended with the same top 3 levels and level counts."""

    def result(self, name: str) -> BookResult | None:
        return next((r for r in self.results if r.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": "book",
            "python": self.python,
            "machine": self.machine,
            "results": [r.as_dict() for r in self.results],
            "skipped": [{"name": n, "reason": why} for n, why in self.skipped],
            "same_books": self.same_books,
            "stream": {
                "seed": self.stream.seed,
                "books": self.stream.books,
                "updates": self.stream.updates,
                "snapshot_share": self.stream.snapshot_share,
            },
            "method": {
                "processes_per_contender": self.timing.processes,
                "repeats_per_process": self.timing.repeats,
                "min_sample_s": self.timing.min_sample_s,
                "statistic": "median",
            },
        }


def run_book_bench(
    *,
    quick: bool = False,
    contenders: tuple[str, ...] = DEFAULT_CONTENDERS,
    stream: BookStream | None = None,
    timing: Timing | None = None,
    progress=None,
) -> BookReport:
    """Generate the stream once, time each contender in fresh workers."""
    from ._runner import machine, python_version

    stream = stream or (BookStream(updates=20_000) if quick else BookStream())
    timing = timing or (Timing.quick() if quick else Timing())
    report = BookReport(stream, timing, python_version(), machine())
    runnable = []
    for name in contenders:
        reason = missing_reason(name)
        if reason is None:
            runnable.append(name)
        else:
            report.skipped.append((name, reason))
    ops = level_stream(stream)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in runnable}
    summaries: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-bench-") as tmp:
        path = os.path.join(tmp, "stream.pickle")
        with open(path, "wb") as handle:
            pickle.dump(({"books": stream.books}, ops), handle, protocol=pickle.HIGHEST_PROTOCOL)
        for round_no in range(timing.processes):
            for name in rotated(runnable, round_no):  # interleaved, first turn by turn
                if progress is not None:
                    progress(f"{name}: worker {round_no + 1}/{timing.processes}")
                answer = run_worker(
                    {
                        "bench": "book",
                        "contender": name,
                        "stream": path,
                        "timing": {"repeats": timing.repeats, "min_sample_s": timing.min_sample_s},
                    }
                )
                for key, values in answer["samples"].items():
                    samples[name].setdefault(key, []).extend(values)
                summaries[name] = answer["summary"]
                snapshot_count, op_count = answer["snapshots"], answer["ops"]
    reference = None
    for name in runnable:
        got = samples[name]
        result = BookResult(
            name=name,
            ns_per_update=median(got["ns_per_update"]),
            ns_per_write=median(got["ns_per_write"]),
            ns_per_best=median(got["ns_per_best"]),
            us_per_depth10=median(got["ns_per_depth10"]) / 1e3,
            samples=len(got["ns_per_update"]),
            us_per_snapshot=median(got["ns_per_snapshot"]) / 1e3,
            ns_per_change=(
                median(got["ns_per_update"]) * op_count - median(got["ns_per_snapshot"]) * snapshot_count
            )
            / (op_count - snapshot_count),
        )
        report.results.append(result)
        if name == REFERENCE:
            reference = result
    if reference is not None:
        report.results = [
            BookResult(**{**r.__dict__, "vs_reference": r.ns_per_update / reference.ns_per_update})
            for r in report.results
        ]
    report.same_books = len({repr(s) for s in summaries.values()}) <= 1
    return report
