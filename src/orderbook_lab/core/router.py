"""``MessageRouter``: asset id to ``StateMachine``, and the message dispatch.

The router is the only place that knows which message touches which book.
A book is created the first time its asset is seen. A ``price_change`` may
carry changes for several assets; once all of the message's changes are
applied, each book it touched is settled (``StateMachine.settle``): a
crossed book is counted, and the feed's ``best_bid``/``best_ask`` are
checked against it.

The router also keeps each market's tick size (from ``book`` messages
that carry one and from ``tick_size_change``) and counts every price that
is off its market's current grid as ``off_grid``: applied, since the
exchange is the authority on its own prices, but visible.

    >>> from .parser import parse_line
    >>> router = MessageRouter()
    >>> for message in parse_line('{"event_type": "price_change", "market": "m", '
    ...         '"price_changes": [{"asset_id": "a", "price": "0.4", "size": "10", '
    ...         '"side": "BUY", "best_bid": "0.4", "best_ask": "1"}]}'):
    ...     router.apply(message)
    >>> router.query("a").best_bid, router.stats().orphan_updates
    (PriceLevel(price=4000, size=10.0), 1)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import msgspec

from .book import BookCheckpoint, BookView, StateMachine
from .messages import (
    BookMessage,
    LastTradePriceMessage,
    Message,
    OtherMessage,
    PriceChangeMessage,
    TickSizeChangeMessage,
)

__all__ = ["MessageRouter", "RouterCheckpoint", "RouterStats", "books_digest"]


@dataclass(frozen=True)
class RouterStats:
    """Totals over every book a router holds (see ``StateMachine``)."""

    books: int = 0
    snapshots: int = 0
    changes: int = 0
    absent_removals: int = 0
    best_checks: int = 0
    best_mismatches: int = 0
    crossed: int = 0
    off_grid: int = 0
    orphan_updates: int = 0
    trades: int = 0
    tick_size_changes: int = 0
    other: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: RouterStats) -> RouterStats:
        """Merge two routers' totals (engines with several workers)."""
        merged_other = dict(self.other)
        for kind, count in other.other.items():
            merged_other[kind] = merged_other.get(kind, 0) + count
        return RouterStats(
            books=self.books + other.books,
            snapshots=self.snapshots + other.snapshots,
            changes=self.changes + other.changes,
            absent_removals=self.absent_removals + other.absent_removals,
            best_checks=self.best_checks + other.best_checks,
            best_mismatches=self.best_mismatches + other.best_mismatches,
            crossed=self.crossed + other.crossed,
            off_grid=self.off_grid + other.off_grid,
            orphan_updates=self.orphan_updates + other.orphan_updates,
            trades=self.trades + other.trades,
            tick_size_changes=self.tick_size_changes + other.tick_size_changes,
            other=merged_other,
        )


class RouterCheckpoint(msgspec.Struct, frozen=True, array_like=True):
    """A router's whole state (``MessageRouter.checkpoint``)."""

    books: tuple[BookCheckpoint, ...]
    tick_sizes: dict[str, int]
    last_trades: tuple[LastTradePriceMessage, ...]
    other: dict[str, int]
    counters: tuple[int, int, int, int]


class MessageRouter:
    """Routes typed messages to per-asset books and records the rest.

    ``apply`` is O(changes in the message) plus the book's cost per change.
    """

    def __init__(self) -> None:
        self._books: dict[str, StateMachine] = {}
        self.orphan_updates = 0
        self.last_trades: dict[str, LastTradePriceMessage] = {}
        self.tick_sizes: dict[str, int] = {}
        """Asset id -> its market's tick size in ticks of 0.0001, once known."""
        self.other: dict[str, int] = {}
        self._changes = 0
        self._trades = 0
        self._tick_size_changes = 0

    def __len__(self) -> int:
        return len(self._books)

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._books

    def assets(self) -> list[str]:
        """Asset ids with a book, in the order they were first seen."""
        return list(self._books)

    def book(self, asset_id: str) -> StateMachine:
        """The book of ``asset_id``, created empty if it is new."""
        book = self._books.get(asset_id)
        if book is None:
            book = self._books[asset_id] = StateMachine(asset_id)
            book.tick = self.tick_sizes.get(asset_id, 1)
        return book

    def get(self, asset_id: str) -> StateMachine | None:
        """The book of ``asset_id`` if it exists; never creates one."""
        return self._books.get(asset_id)

    def apply(self, message: Message) -> None:
        """Apply one validated message to the books it names."""
        if type(message) is not PriceChangeMessage:
            self._apply_other(message)
            return
        # A price_change, nine messages in ten: handled here rather than in
        # a helper, since a Python call costs about as much as a level change.
        books = self._books
        changes = message.changes
        self._changes += len(changes)  # once per message: see StateMachine
        for change in changes:
            try:
                book = books[change.asset_id]
            except KeyError:
                book = self.book(change.asset_id)
            if not book.has_snapshot:
                self.orphan_updates += 1
            price = change.price
            if price % book.tick:
                book.off_grid += 1
            book.apply_change(change.side, price, change.size)
        # Settle each asset's book once, after all of the message's changes,
        # with that asset's last change (which carries the feed's best prices).
        if len(changes) == 1:
            change = changes[0]
            book.settle(change.best_bid, change.best_ask)
        elif len(changes) == 2 and changes[0].asset_id != changes[1].asset_id:  # YES and NO
            first, second = changes
            books[first.asset_id].settle(first.best_bid, first.best_ask)
            book.settle(second.best_bid, second.best_ask)
        else:
            last_seen = {change.asset_id: change for change in changes}
            for asset_id, change in last_seen.items():
                books[asset_id].settle(change.best_bid, change.best_ask)

    def apply_part(self, message: PriceChangeMessage, asset_id: str) -> None:
        """Apply only ``asset_id``'s changes of a ``price_change`` that names
        several assets, then settle that one book: for this asset, the same
        as ``apply(message)``, and the parts for every asset add up to it
        (one actor per asset applies its own part, phase 5). O(changes).
        The loop repeats ``apply``'s on purpose: a shared helper would add
        a call per change on the hottest path of every engine."""
        book = self._books.get(asset_id) or self.book(asset_id)
        last = None
        applied = 0
        for change in message.changes:
            if change.asset_id != asset_id:
                continue
            if not book.has_snapshot:
                self.orphan_updates += 1
            price = change.price
            if price % book.tick:
                book.off_grid += 1
            book.apply_change(change.side, price, change.size)
            last = change
            applied += 1
        self._changes += applied
        if last is not None:
            book.settle(last.best_bid, last.best_ask)

    def _apply_other(self, message: Message) -> None:
        kind = type(message)
        if kind is BookMessage:
            book = self.book(message.asset_id)
            if message.tick_size is not None:
                book.tick = self.tick_sizes[message.asset_id] = message.tick_size
            book.apply_snapshot(message.bids, message.asks)
            tick = book.tick
            if tick > 1:
                book.off_grid += sum(1 for level in message.bids if level[0] % tick)
                book.off_grid += sum(1 for level in message.asks if level[0] % tick)
            book.settle(None, None)
        elif kind is LastTradePriceMessage:
            self.last_trades[message.asset_id] = message
            self._trades += 1
        elif kind is TickSizeChangeMessage:
            self.tick_sizes[message.asset_id] = tick = message.new_tick_size
            book = self._books.get(message.asset_id)
            if book is not None:
                book.tick = tick
            self._tick_size_changes += 1
        elif kind is OtherMessage:
            self.other[message.event_type] = self.other.get(message.event_type, 0) + 1
        else:
            raise TypeError(f"not a message: {message!r}")

    def query(self, asset_id: str, depth: int = 10) -> BookView | None:
        """The top of one book (see ``StateMachine.snapshot``), or ``None``."""
        book = self._books.get(asset_id)
        return None if book is None else book.snapshot(depth)

    def export(self) -> dict[str, dict[str, list[list]]]:
        """Every book in the ``--books-out`` form, keyed by asset id."""
        return {asset_id: book.export() for asset_id, book in self._books.items()}

    def checkpoint(self) -> RouterCheckpoint:
        """Every book and every counter, as one value that crosses a pipe
        (msgspec or pickle) and restores with ``restored``. O(levels)."""
        return RouterCheckpoint(
            books=tuple(book.checkpoint() for book in self._books.values()),
            tick_sizes=dict(self.tick_sizes),
            last_trades=tuple(self.last_trades.values()),
            other=dict(self.other),
            counters=(self.orphan_updates, self._changes, self._trades, self._tick_size_changes),
        )

    @classmethod
    def restored(cls, checkpoint: RouterCheckpoint) -> MessageRouter:
        """The router a ``checkpoint`` was taken of: the same books, in the
        same order, and the same counters.

        >>> from .parser import parse_line
        >>> router = MessageRouter()
        >>> for message in parse_line('{"event_type": "book", "asset_id": "a", "market": "m", '
        ...         '"bids": [{"price": "0.4", "size": "10"}], "asks": [], "tick_size": "0.01"}'):
        ...     router.apply(message)
        >>> twin = MessageRouter.restored(router.checkpoint())
        >>> twin.export() == router.export() and twin.stats() == router.stats()
        True
        """
        router = cls()
        for book in checkpoint.books:
            router._books[book.asset_id] = StateMachine.restored(book)
        router.tick_sizes = dict(checkpoint.tick_sizes)
        router.last_trades = {trade.asset_id: trade for trade in checkpoint.last_trades}
        router.other = dict(checkpoint.other)
        router.orphan_updates, router._changes, router._trades, router._tick_size_changes = (
            checkpoint.counters
        )
        return router

    def stats(self) -> RouterStats:
        """Counters summed over all books. O(books)."""
        books = self._books.values()
        return RouterStats(
            books=len(self._books),
            snapshots=sum(b.snapshots for b in books),
            changes=self._changes,
            absent_removals=sum(b.absent_removals for b in books),
            best_checks=sum(b.best_checks for b in books),
            best_mismatches=sum(b.best_mismatches for b in books),
            crossed=sum(b.crossed for b in books),
            off_grid=sum(b.off_grid for b in books),
            orphan_updates=self.orphan_updates,
            trades=self._trades,
            tick_size_changes=self._tick_size_changes,
            other=dict(self.other),
        )


def books_digest(books: dict[str, dict[str, list[list]]]) -> str:
    """sha256 of the ``--books-out`` JSON with sorted keys and no
    whitespace: two engines agree on the final books iff digests match."""
    text = json.dumps(books, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
