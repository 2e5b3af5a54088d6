"""``BookReader``: any process reads any writer's books, without a lock
and without asking the writer.

A read is the other half of the double-buffered seqlock (see ``store``)::

    a, b = seq[0], seq[1]        # pick the half with the highest even value
    copy that half's payload     # one memcpy into private bytes
    re-read its seq              # changed: the writer lapped us, try again
    check owner, counts, crc32   # then decode the private copy at leisure

The reader writes nothing to shared memory, so any number of readers cost
the writer nothing but cache traffic. A read that keeps colliding with
writes retries a bounded number of times (yielding the CPU after the first
few) and then raises ``ReadBusy`` instead of spinning forever.

Each result carries ``age_ns``: how old the state it shows may be, from the
later of the payload's own ``as_of_ns`` and the writer's last
``mark_synced`` (read before the payload, so the payload is at least that
recent).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from itertools import repeat
from multiprocessing.shared_memory import SharedMemory
from typing import NamedTuple

from ...core.book import BookView
from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.messages import PriceLevel
from ...core.prices import TICKS_PER_UNIT, ticks_to_price
from . import layout as L
from .segments import arena_name, attach, directory_name, release, settle_tracking

__all__ = ["BookReader", "ReadBusy", "ReaderStats", "ShmSnapshot", "DEFAULT_MAX_RETRIES"]

DEFAULT_MAX_RETRIES = 64
_SPIN_RETRIES = 8  # retries before each further one yields the CPU


class ReadBusy(RuntimeError):
    """A book stayed mid-write for every retry of one read."""


class ShmSnapshot(NamedTuple):
    """One book as a reader found it.

    ``bids``/``asks`` are best-first, cut to the depth asked; ``levels`` is
    how many levels each side of the book held when published (the cut, or
    a writer publishing only its top N, may show fewer). ``as_of_ns`` is
    when the writer's book was in this state, ``age_ns`` how long before the
    read that was (perf_counter ns, one clock for all processes on Linux),
    ``version`` the book's publish count, ``retries`` what the read cost.
    """

    asset_id: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    best_bid: PriceLevel | None
    best_ask: PriceLevel | None
    levels: tuple[int, int]
    as_of_ns: int
    age_ns: int
    version: int
    retries: int
    has_snapshot: bool = True
    """``False`` while the writer's book has had updates only (no ``book``)."""

    @property
    def complete(self) -> bool:
        """Whether ``bids`` and ``asks`` are the whole book."""
        return (len(self.bids), len(self.asks)) == self.levels

    def view(self) -> BookView:
        """The query answer, as ``StateMachine.snapshot`` gives it."""
        bid, ask = self.best_bid, self.best_ask
        spread = mid = None
        if bid is not None and ask is not None:
            spread = ask.price - bid.price
            mid = (ask.price + bid.price) / (2 * TICKS_PER_UNIT)
        return BookView(self.asset_id, bid, ask, spread, mid, self.bids, self.asks, self.has_snapshot)

    def export(self) -> dict[str, list[list]]:
        """The ``--books-out`` form (``StateMachine.export``); whole books only."""
        if not self.complete:
            raise ValueError(f"{self.asset_id}: only {len(self.bids)}/{len(self.asks)} of "
                             f"{self.levels} levels were read")  # fmt: skip
        return {
            "bids": [[ticks_to_price(p), s] for p, s in self.bids],
            "asks": [[ticks_to_price(p), s] for p, s in self.asks],
        }


@dataclass(frozen=True)
class ReaderStats:
    """``reads`` answered; ``retries`` (a write overlapped, or the slot was
    mid-write); ``busy`` (reads given up after every retry); ``relocations``
    (the book had moved: looked up again); ``torn_rejected`` (sequence
    words agreed but the counts or the crc32 did not: a torn copy the
    seqlock alone would have let through; expected 0 on x86-64);
    ``misses`` (asset unknown)."""

    reads: int
    retries: int
    busy: int
    relocations: int
    torn_rejected: int
    misses: int


class _Directory:
    __slots__ = ("shm", "view", "words", "tracker", "scanned", "flags")

    def __init__(self, shm: SharedMemory) -> None:
        self.shm = shm
        size = shm.size - shm.size % 8
        self.view = shm.buf[:size]
        self.words = self.view.cast("Q")
        magic, _version, _, _, _, self.tracker, _, self.flags, _, _ = L.DIR_HEADER.unpack_from(self.view)
        if magic != L.MAGIC_DIR:
            raise ValueError(f"{shm.name} is not a book directory")
        self.scanned = 0


class _Location:
    """Where the reader last found a book (refreshed when it moved)."""

    __slots__ = ("worker", "index", "arena", "offset", "capacity", "generation")

    def __init__(self, worker: int, index: int) -> None:
        self.worker = worker
        self.index = index
        self.arena = self.offset = self.capacity = self.generation = -1


class BookReader:
    """Reads the books of every writer of run ``prefix`` (workers
    ``0 .. workers-1``), attaching their segments lazily.

    ``read`` is O(levels) with no system call on the fast path: a few
    8-byte loads, one copy, a crc32 (skipped with ``verify=False``) and a
    decode in C. ``naive=True`` skips every check (sequence words, counts,
    crc32) and just copies: the broken reader that experiment 4.2 runs
    first, to show what a torn read is. ``clock`` must be the writers'
    clock (perf_counter by default, or a shared ``ManualClock`` in tests).
    """

    def __init__(
        self,
        prefix: str,
        workers: int = 1,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        verify: bool = True,
        naive: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.prefix = prefix
        self.workers = workers
        self.max_retries = max_retries
        self.verify = verify
        self.naive = naive
        self.clock = clock
        self._dirs: list[_Directory | None] = [None] * workers
        self._arenas: dict[tuple[int, int], tuple[SharedMemory, memoryview, memoryview]] = {}
        self._where: dict[str, _Location] = {}
        self._reads = self._retries = self._busy = self._relocations = self._torn = self._misses = 0
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> BookReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmap everything (never unlinks: the writers own the segments). Idempotent."""
        if self._closed:
            return
        self._closed = True
        arenas, self._arenas = self._arenas, {}
        dirs, self._dirs = self._dirs, []
        try:
            for shm, view, words in arenas.values():
                release(shm, words, view)
        finally:
            for d in dirs:
                if d is not None:
                    release(d.shm, d.words, d.view)

    # ------------------------------------------------------------ lookups

    def assets(self) -> list[str]:
        """Every asset published so far, scanning for new ones. O(new entries)."""
        self._scan()
        return list(self._where)

    def synced_ns(self, worker: int) -> int:
        """Writer ``worker``'s last ``mark_synced`` time (0 if never)."""
        d = self._directory(worker)
        return 0 if d is None else d.words[L.SYNCED_WORD]

    def mapped_bytes(self) -> int:
        """Shared memory this reader maps (address space, not resident pages)."""
        return sum(d.shm.size for d in self._dirs if d is not None) + sum(
            shm.size for shm, _, _ in self._arenas.values()
        )

    def map_ahead(self) -> int:
        """Map every segment the writers have created that this reader has
        not mapped yet (each writer's directory, then the arenas its
        directory counts) and index new books, so that ``read`` seldom pays
        for it: mapping a segment (open, mmap, the resource tracker) costs
        30-130 µs, a whole read about 10. Call it off the read path (a
        query client between queries). O(workers + arenas) loads when
        nothing is new. Returns how many segments it mapped."""
        if self._closed:
            raise RuntimeError("reader is closed")
        mapped = 0
        for worker in range(self.workers):
            known = self._dirs[worker] is not None
            d = self._directory(worker)
            if d is None:
                continue
            mapped += not known
            for index in range(d.words[L.ARENAS_WORD]):
                if (worker, index) not in self._arenas:
                    self._arena(worker, index)
                    mapped += 1
        self._scan()
        return mapped

    def _directory(self, worker: int) -> _Directory | None:
        d = self._dirs[worker]
        if d is None:
            try:
                shm = attach(directory_name(self.prefix, worker), None)
            except FileNotFoundError:
                return None  # that writer has not started yet
            try:
                d = _Directory(shm)
                # Only now is the owner's tracker known (see segments).
                settle_tracking(shm, d.tracker)
            except BaseException:
                release(shm)
                raise
            self._dirs[worker] = d
        return d

    def _scan(self) -> None:
        """Index the directory entries published since the last scan."""
        for worker in range(self.workers):
            d = self._directory(worker)
            if d is None:
                continue
            count = d.words[L.COUNT_WORD]
            while d.scanned < count:
                at = L.DIR_HEADER_BYTES + d.scanned * L.ENTRY_BYTES
                for _ in range(self.max_retries + 1):
                    seq = d.words[at >> 3]
                    name_len = int.from_bytes(
                        d.view[at + L.ENTRY_NAME_AT - 2 : at + L.ENTRY_NAME_AT], "little"
                    )
                    name = bytes(d.view[at + L.ENTRY_NAME_AT : at + L.ENTRY_NAME_AT + name_len])
                    if seq % 2 == 0 and d.words[at >> 3] == seq and name_len:
                        break
                else:
                    return  # an entry mid-write: index it on the next scan
                self._where[name.decode()] = _Location(worker, d.scanned)
                d.scanned += 1

    def _relocate(self, loc: _Location) -> bool:
        """Re-read a book's directory entry under its seqlock."""
        d = self._dirs[loc.worker]
        assert d is not None
        at = L.DIR_HEADER_BYTES + loc.index * L.ENTRY_BYTES
        seq = d.words[at >> 3]
        arena, capacity, offset, generation = L.ENTRY_LOCATION.unpack_from(d.view, at + L.ENTRY_FIELDS_AT)
        if seq % 2 or d.words[at >> 3] != seq:
            return False
        loc.arena, loc.offset, loc.capacity, loc.generation = arena, offset, capacity, generation
        return True

    def _arena(self, worker: int, index: int) -> tuple[memoryview, memoryview]:
        key = (worker, index)
        found = self._arenas.get(key)
        if found is None:
            d = self._dirs[worker]
            assert d is not None
            shm = attach(arena_name(self.prefix, worker, index), d.tracker)
            size = shm.size - shm.size % 8
            view = shm.buf[:size]
            found = self._arenas[key] = (shm, view, view.cast("Q"))
        return found[1], found[2]

    # ------------------------------------------------------------ reading

    def read(self, asset_id: str, depth: int | None = None) -> ShmSnapshot | None:
        """The latest published state of ``asset_id`` (best ``depth`` levels a
        side, or all), or ``None`` if no writer has published it. Raises
        ``ReadBusy`` after ``max_retries`` collisions with the writer."""
        if self._closed:
            raise RuntimeError("reader is closed")
        loc = self._where.get(asset_id)
        if loc is None:
            self._scan()
            loc = self._where.get(asset_id)
            if loc is None:
                self._misses += 1
                return None
        d = self._dirs[loc.worker]
        assert d is not None
        dir_words = d.words
        verify = self.verify
        checked = not self.naive
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._retries += 1
                if attempt > _SPIN_RETRIES:
                    os.sched_yield()
            if loc.generation < 0 and not self._relocate(loc):
                continue
            synced = dir_words[L.SYNCED_WORD]  # before the payload: it is at least this recent
            view, words = self._arena(loc.worker, loc.arena)
            offset = loc.offset
            half_bytes = L.half_bytes(loc.capacity)
            first, second = offset >> 3, (offset + half_bytes) >> 3
            seq_a, seq_b = words[first], words[second]
            # The newest complete half: the highest even sequence (0: never written).
            # (The naive reader takes the highest, finished or not.)
            if (seq_b & 1 and checked) or (seq_a > seq_b and not (seq_a & 1 and checked)):
                word, seq = first, seq_a
            else:
                word, seq, offset = second, seq_b, offset + half_bytes
            if (checked and seq & 1) or not seq:
                continue
            n_bids, n_asks = L.COUNTS.unpack_from(view, offset + L.COUNTS_AT)
            n = n_bids + n_asks
            if n > loc.capacity:
                continue  # counts from a write in progress; the seq check would fail too
            start = offset + L.SLOT_HEADER
            raw = view[start : start + L.PAYLOAD_OFFSET + L.levels_bytes(n)].tobytes()
            if checked and words[word] != seq:
                continue
            crc, flags, as_of, version, owner, generation, got_bids, got_asks, book_bids, book_asks = (
                L.HEAD.unpack_from(raw)
            )
            if owner != loc.index or generation != loc.generation:
                # The book moved (the slot is free or another book's): look it up again.
                self._relocations += 1
                loc.generation = -1
                continue
            if checked and (
                (got_bids, got_asks) != (n_bids, n_asks)
                or (verify and flags & L.FLAG_CHECKSUM and zlib.crc32(memoryview(raw)[4:]) != crc)
            ):
                self._torn += 1
                continue
            self._reads += 1
            return _snapshot(asset_id, raw, n_bids, n_asks, depth, (book_bids, book_asks),
                             max(as_of, synced), version, attempt, self.clock.now_ns(),
                             not flags & L.FLAG_NO_SNAPSHOT)  # fmt: skip
        self._busy += 1
        raise ReadBusy(f"{asset_id}: still mid-write after {self.max_retries} retries")

    def stats(self) -> ReaderStats:
        return ReaderStats(
            self._reads, self._retries, self._busy, self._relocations, self._torn, self._misses
        )


_new_tuple = tuple.__new__  # builds a PriceLevel in C (PriceLevel(p, s) runs Python code per level)


def _snapshot(
    asset_id: str,
    raw: bytes,
    n_bids: int,
    n_asks: int,
    depth: int | None,
    levels: tuple[int, int],
    as_of_ns: int,
    version: int,
    retries: int,
    now_ns: int,
    has_snapshot: bool,
) -> ShmSnapshot:
    n = n_bids + n_asks
    view = memoryview(raw)
    sizes_at = L.PAYLOAD_OFFSET + (2 * n + 7) // 8 * 8
    prices = view[L.PAYLOAD_OFFSET : L.PAYLOAD_OFFSET + 2 * n].cast("H")
    sizes = view[sizes_at : sizes_at + 8 * n].cast("d")
    # Slice the views before converting: a depth-10 read of a deep book
    # turns 20 levels into Python objects, not all of them.
    keep_bids = n_bids if depth is None else min(depth, n_bids)
    keep_asks = n_asks if depth is None else min(depth, n_asks)
    bids = list(map(_new_tuple, repeat(PriceLevel),
                    zip(prices[:keep_bids].tolist(), sizes[:keep_bids].tolist(), strict=True)))  # fmt: skip
    end = n_bids + keep_asks
    asks = list(map(_new_tuple, repeat(PriceLevel),
                    zip(prices[n_bids:end].tolist(), sizes[n_bids:end].tolist(), strict=True)))  # fmt: skip
    best_bid = _new_tuple(PriceLevel, (prices[0], sizes[0])) if n_bids else None
    best_ask = _new_tuple(PriceLevel, (prices[n_bids], sizes[n_bids])) if n_asks else None
    return ShmSnapshot(asset_id, bids, asks, best_bid, best_ask, levels, as_of_ns, now_ns - as_of_ns, version,
                       retries, has_snapshot)  # fmt: skip
