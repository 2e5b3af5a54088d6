"""``SheddingQueue``: what waits for a worker, and what goes when it is full.

When a paced stream brings more than the workers can take, something is
lost either way: a blocking queue loses *time* (every later message waits,
without bound), a shedding one loses *messages*. Phase 7 sheds, and chooses
what to lose:

1. **By priority.** A ``book`` snapshot (and a ``tick_size_change``) ranks
   first: a snapshot replaces the whole book, so it repairs whatever an
   earlier loss broke, and a tick change sets the grid every later price is
   checked against. A ``price_change`` ranks second: losing one leaves a
   level wrong until that level changes again or a snapshot comes. A trade
   (``last_trade_price``) and anything else rank last: they move no level.
2. **Fairly across assets.** Within the lowest rank present, the victim is
   the oldest message of the asset with the *most* messages of that rank
   waiting: a hot asset gives up its own backlog before a quiet asset
   loses anything, so one busy market cannot starve the rest.
3. **Never a better one for a worse one.** An arriving message that ranks
   above everything waiting displaces the worst; one that ranks below is
   itself the victim.

The oldest goes, not the newest: for a book, a later change supersedes an
earlier one at the same level, so the fresh data is the one worth keeping.

Messages leave in arrival order (``take``), whatever was shed around them:
a worker must apply an asset's messages in stream order. ``put`` and
``take`` are O(1); choosing a victim is O(assets with waiting messages of
the lowest rank).

    >>> queue = SheddingQueue()
    >>> for n, (rank, asset) in enumerate([(1, "a"), (1, "a"), (1, "b"), (2, "b")]):
    ...     queue.put(n, rank, asset, enqueued_ns=n)
    >>> queue.shed_for(rank=1, asset="c")  # the trade goes first: (item, enqueued_ns, rank, asset)
    (3, 3, 2, 'b')
    >>> queue.shed_for(rank=1, asset="c")  # then the hot asset's oldest change
    (0, 0, 1, 'a')
    >>> [item for item, _ in queue.take(10)]
    [1, 2]
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

__all__ = ["PRIORITY_NAMES", "SheddingQueue", "rank_of_event", "rank_of_message"]

PRIORITY_NAMES = ("snapshot", "change", "trade")
"""Rank -> the name drops are counted under (``shed:change``...)."""

_RANK_OF_EVENT = {"book": 0, "tick_size_change": 0, "price_change": 1, "last_trade_price": 2}


def rank_of_event(event_type: str) -> int:
    """The rank of a wire ``event_type`` ("" is an older ``price_change``)."""
    if not event_type:
        return 1
    return _RANK_OF_EVENT.get(event_type, 2)


def rank_of_message(message: Any) -> int:
    """The rank of a parsed message (its struct's tag is its event type)."""
    return rank_of_event(type(message).__struct_config__.tag or "")


class SheddingQueue:
    """A FIFO of ``(item, enqueued_ns)`` with a victim chosen by rank and
    asset (see the module docstring). The bound is the caller's: it asks
    ``shed_for`` before ``put`` when the queue is full."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[Any, int, int, str]] = OrderedDict()
        self._waiting: tuple[dict[str, deque[int]], ...] = tuple({} for _ in PRIORITY_NAMES)
        self._next = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, rank: int, asset: str, enqueued_ns: int) -> None:
        seq = self._next
        self._next += 1
        self._items[seq] = (item, enqueued_ns, rank, asset)
        by_asset = self._waiting[rank]
        line = by_asset.get(asset)
        if line is None:
            line = by_asset[asset] = deque()
        line.append(seq)

    def drain(self) -> list[tuple[Any, int, int, str]]:
        """Remove everything: ``(item, enqueued_ns, rank, asset)`` in order."""
        drained = [(item, enqueued, rank, asset) for item, enqueued, rank, asset in self._items.values()]
        self._items.clear()
        for by_asset in self._waiting:
            by_asset.clear()
        return drained

    def oldest_ns(self) -> int | None:
        """When the oldest waiting message arrived (``None``: empty)."""
        if not self._items:
            return None
        return self._items[next(iter(self._items))][1]

    def take(self, n: int) -> list[tuple[Any, int]]:
        """Up to ``n`` of the oldest ``(item, enqueued_ns)``, in arrival order."""
        items, waiting = self._items, self._waiting
        taken = []
        for _ in range(min(n, len(items))):
            _seq, (item, enqueued_ns, rank, asset) = items.popitem(last=False)
            line = waiting[rank][asset]
            line.popleft()  # the oldest overall is the oldest of its own line
            if not line:
                del waiting[rank][asset]
            taken.append((item, enqueued_ns))
        return taken

    def shed_for(self, rank: int, asset: str) -> tuple[Any, int, int, str] | None:
        """Make room for a message of ``rank`` and ``asset``: remove and
        return ``(item, enqueued_ns, rank, asset)`` of the victim, or ``None`` if the
        arriving message itself is the one to shed (nothing waiting ranks
        as low as it does)."""
        for lowest in range(len(PRIORITY_NAMES) - 1, rank - 1, -1):
            by_asset = self._waiting[lowest]
            if not by_asset:
                continue
            # The busiest asset of that rank; the arriving message counts
            # for its own asset when it is of the same rank.
            hot, hot_count = None, -1
            for name, line in by_asset.items():
                count = len(line) + (1 if lowest == rank and name == asset else 0)
                if count > hot_count:
                    hot, hot_count = name, count
            if lowest == rank and asset not in by_asset and hot_count <= 1:
                return None  # every asset of its rank has one waiting: the newcomer goes
            line = by_asset[hot]
            seq = line.popleft()
            if not line:
                del by_asset[hot]
            item, enqueued_ns, _rank, _asset = self._items.pop(seq)
            return item, enqueued_ns, lowest, hot
        return None
