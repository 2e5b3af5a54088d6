"""``BoundedQueue``: an asyncio queue with a bound, a policy for a full
queue, and the numbers that tell how it behaved.

``asyncio.Queue(maxsize)`` bounds memory but knows one answer to a full
queue (make the producer wait) and reports nothing. A pipeline that reads a
live feed needs the other answers too, and needs to count their cost:

* ``block``: the producer waits for room. Nothing is lost; the wait moves
  upstream (a paced source falls behind its schedule, and latency grows).
* ``drop-newest``: the item that does not fit is discarded. The queue keeps
  the oldest backlog; what arrives during an overload is lost.
* ``drop-oldest``: the oldest waiting item is discarded to make room. The
  queue keeps the freshest data; what waited longest is lost.

Every discarded item is counted by reason (``"ingress:drop-newest"``) and
handed to ``on_drop``, so the caller can keep ``generated == processed +
dropped + invalid``. ``close()`` is how the producer says "no more": getters
drain what is left, then get ``QueueClosed``; nothing is cancelled.

Each item carries the moment it entered, so the queue also measures how
long items waited in it (mean, p99, max in ms), its depth and high-water
mark, and how often and how long producers were held back. ``put`` and
``get`` are O(1) plus two clock reads.

A ``QueueMeter`` (``core/metrics.py``) watches the same items, so the
queue can be checked against Little's law (``littles_law()``): an item
arrives when it enters (a blocked producer's wait for room happened
outside, upstream) and departs when it is taken. An item evicted by
``drop-oldest`` departs too, with the time it spent inside: it was part of
the depth all that while, and leaving it in would make the queue look as
if it never emptied. An item refused by ``drop-newest`` never entered, so
it is neither. The meter's mean wait therefore covers every item that
left, by either door, where ``wait_ms`` covers only the items taken.

    >>> import asyncio
    >>> async def demo():
    ...     queue = BoundedQueue(2, "drop-newest", name="demo")
    ...     accepted = [await queue.put(n) for n in range(4)]
    ...     queue.close()
    ...     return accepted, await queue.get_batch(10), queue.stats().dropped
    >>> asyncio.run(demo())
    ([True, True, False, False], [0, 1], {'demo:drop-newest': 2})
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.metrics import LatencyHistogram, LittlesLaw, QueueMeter

__all__ = ["POLICIES", "BoundedQueue", "Policy", "QueueClosed", "QueueStats"]

Policy = Literal["block", "drop-newest", "drop-oldest"]
POLICIES: tuple[str, ...] = ("block", "drop-newest", "drop-oldest")

T = TypeVar("T")


class QueueClosed(Exception):
    """``get`` on a closed queue that is drained, or ``put`` on a closed queue."""


@dataclass(frozen=True)
class QueueStats:
    """How one queue behaved. Waits in ms: ``wait_*`` is the time items
    spent inside, ``put_wait_*`` the time producers were held back."""

    name: str
    capacity: int
    policy: str
    depth: int
    high_water: int
    accepted: int
    taken: int
    dropped: dict[str, int]
    blocked_puts: int
    wait_mean_ms: float
    wait_p99_ms: float
    wait_max_ms: float
    put_wait_p99_ms: float

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "capacity": self.capacity,
            "policy": self.policy,
            "depth": self.depth,
            "high_water": self.high_water,
            "accepted": self.accepted,
            "taken": self.taken,
            "dropped": self.dropped_total,
            "dropped_by_reason": dict(self.dropped),
            "blocked_puts": self.blocked_puts,
            "wait_ms": {
                "mean": round(self.wait_mean_ms, 3),
                "p99": round(self.wait_p99_ms, 3),
                "max": round(self.wait_max_ms, 3),
            },
            "put_wait_p99_ms": round(self.put_wait_p99_ms, 3),
        }


class BoundedQueue(Generic[T]):
    """A FIFO of at most ``capacity`` items with a full-queue ``policy``
    (see the module docstring). One event loop; not thread-safe."""

    def __init__(
        self,
        capacity: int,
        policy: str = "block",
        *,
        name: str = "queue",
        clock: Clock = SYSTEM_CLOCK,
        on_drop: Callable[[T, str], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"a queue holds at least one item, not {capacity}")
        if policy not in POLICIES:
            raise ValueError(f"unknown backpressure policy {policy!r}; choose from {', '.join(POLICIES)}")
        self.capacity = capacity
        self.policy = policy
        self.name = name
        self.drop_reason = f"{name}:{policy}"
        self._now = clock.now_ns
        self._on_drop = on_drop
        self._items: deque[tuple[int, T]] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._batchers: list[tuple[int, asyncio.Future[None]]] = []  # (items awaited, waiter)
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self.high_water = 0
        self.accepted = 0
        self.taken = 0
        self.dropped = 0
        self.blocked_puts = 0
        self._wait = LatencyHistogram()
        self._put_wait = LatencyHistogram()
        self.meter = QueueMeter()
        """Depth over time and every stay, for ``littles_law``."""

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def full(self) -> bool:
        return len(self._items) >= self.capacity

    # ------------------------------------------------------------ producers

    async def put(self, item: T) -> bool:
        """Offer ``item``; ``True`` if it entered the queue.

        When full: ``block`` waits for room (then ``True``), ``drop-newest``
        discards ``item`` (``False``), ``drop-oldest`` discards the oldest
        item and takes this one (``True``). Raises ``QueueClosed`` once the
        queue is closed.
        """
        if self._closed:
            raise QueueClosed(f"{self.name} is closed")
        if len(self._items) >= self.capacity:
            if self.policy == "block":
                await self._wait_for_room()
            else:
                return self._overflow(item)
        self._push(item)
        return True

    def put_nowait(self, item: T) -> bool:
        """``put`` without waiting: a full ``block`` queue raises
        ``asyncio.QueueFull``; the drop policies behave as in ``put``."""
        if self._closed:
            raise QueueClosed(f"{self.name} is closed")
        if len(self._items) >= self.capacity:
            if self.policy == "block":
                raise asyncio.QueueFull
            return self._overflow(item)
        self._push(item)
        return True

    def close(self) -> None:
        """No more puts. Getters take what is left, then get ``QueueClosed``;
        producers waiting for room get ``QueueClosed``. Idempotent."""
        self._closed = True
        for _count, batcher in self._batchers:
            if not batcher.done():
                batcher.set_result(None)
        self._batchers.clear()
        for waiters in (self._getters, self._putters):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    # ------------------------------------------------------------ consumers

    async def get(self) -> T:
        """The oldest item, waiting for one if needed. O(1)."""
        while not self._items:
            if self._closed:
                raise QueueClosed(f"{self.name} is closed and drained")
            await self._wait_for_item()
        return self._pop()

    def get_nowait(self) -> T:
        """The oldest item; ``asyncio.QueueEmpty`` if there is none yet,
        ``QueueClosed`` if there never will be."""
        if not self._items:
            if self._closed:
                raise QueueClosed(f"{self.name} is closed and drained")
            raise asyncio.QueueEmpty
        return self._pop()

    async def get_batch(self, max_items: int, timeout_s: float = 0.0) -> list[T]:
        """Up to ``max_items`` items, oldest first.

        Waits as long as it takes for the first item, then for more until
        the batch is full or ``timeout_s`` has passed since the first one
        was taken, whichever comes first (0: take only what is already
        there). A batch is never empty: a closed, drained queue raises
        ``QueueClosed`` instead, and closing mid-batch returns what was
        gathered.
        """
        if max_items < 1:
            raise ValueError(f"a batch holds at least one item, not {max_items}")
        batch = [await self.get()]
        self._take_ready(batch, max_items)
        if len(batch) < max_items and timeout_s > 0 and not self._closed:
            # Sleep until the rest of the batch is queued (or the deadline, or
            # close): one wake-up per batch, not one per arriving item.
            deadline = asyncio.get_running_loop().time() + timeout_s
            with suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._wait_for_items(max_items - len(batch))
            self._take_ready(batch, max_items)
        return batch

    # ------------------------------------------------------------ numbers

    def stats(self) -> QueueStats:
        wait, put_wait = self._wait, self._put_wait
        return QueueStats(
            name=self.name,
            capacity=self.capacity,
            policy=self.policy,
            depth=len(self._items),
            high_water=self.high_water,
            accepted=self.accepted,
            taken=self.taken,
            dropped={self.drop_reason: self.dropped} if self.dropped else {},
            blocked_puts=self.blocked_puts,
            wait_mean_ms=wait.mean_ns() / 1e6,
            wait_p99_ms=wait.percentile(99) / 1e6,
            wait_max_ms=wait.max_ns / 1e6,
            put_wait_p99_ms=put_wait.percentile(99) / 1e6,
        )

    def littles_law(self) -> LittlesLaw:
        """The queue so far against Little's law (module docstring): exact
        once it is drained, off by what is still inside before that."""
        return self.meter.law(self._now())

    # ------------------------------------------------------------ internals

    def _push(self, item: T) -> None:
        items = self._items
        now = self._now()
        items.append((now, item))
        self.meter.arrive(now)
        self.accepted += 1
        if len(items) > self.high_water:
            self.high_water = len(items)
        _wake_one(self._getters)
        if self._batchers:
            self._wake_batchers()

    def _pop(self) -> T:
        entered, item = self._items.popleft()
        now = self._now()
        self._wait.record(now - entered)
        self.meter.depart(now, now - entered)
        self.taken += 1
        _wake_one(self._putters)
        return item

    def _take_ready(self, batch: list[T], max_items: int) -> None:
        while self._items and len(batch) < max_items:
            batch.append(self._pop())

    def _overflow(self, item: T) -> bool:
        if self.policy == "drop-newest":
            self._discard(item)
            return False
        entered, oldest = self._items.popleft()
        now = self._now()
        self.meter.depart(now, now - entered)  # evicted: it leaves, after its stay inside
        self._discard(oldest)
        self._push(item)
        return True

    def _discard(self, item: T) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop(item, self.drop_reason)

    async def _wait_for_room(self) -> None:
        began = self._now()
        self.blocked_puts += 1
        loop = asyncio.get_running_loop()
        while len(self._items) >= self.capacity:
            if self._closed:
                raise QueueClosed(f"{self.name} was closed while a producer waited")
            putter = loop.create_future()
            self._putters.append(putter)
            try:
                await putter
            except BaseException:
                putter.cancel()
                with suppress(ValueError):
                    self._putters.remove(putter)
                # Woken and cancelled in the same turn: pass the room on.
                if len(self._items) < self.capacity and not putter.cancelled():
                    _wake_one(self._putters)
                raise
        if self._closed:
            raise QueueClosed(f"{self.name} was closed while a producer waited")
        self._put_wait.record(self._now() - began)

    def _wake_batchers(self) -> None:
        depth = len(self._items)
        waiting = []
        for count, batcher in self._batchers:
            if depth >= count and not batcher.done():
                batcher.set_result(None)
            elif not batcher.done():
                waiting.append((count, batcher))
        self._batchers = waiting

    async def _wait_for_items(self, count: int) -> None:
        """Until ``count`` items are queued, or the queue is closed."""
        if len(self._items) >= count or self._closed:
            return
        batcher = asyncio.get_running_loop().create_future()
        entry = (count, batcher)
        self._batchers.append(entry)
        try:
            await batcher
        finally:
            batcher.cancel()
            with suppress(ValueError):
                self._batchers.remove(entry)

    async def _wait_for_item(self) -> None:
        getter = asyncio.get_running_loop().create_future()
        self._getters.append(getter)
        try:
            await getter
        except BaseException:
            getter.cancel()
            with suppress(ValueError):
                self._getters.remove(getter)
            # Woken and cancelled in the same turn: pass the item on.
            if self._items and not getter.cancelled():
                _wake_one(self._getters)
            raise


def _wake_one(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return
