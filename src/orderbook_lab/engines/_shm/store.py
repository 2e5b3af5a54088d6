"""``BookStore``: one writer process publishes the books it owns.

A worker calls ``publish`` for each book a batch touched (or
``publish_touched`` with the batch's messages), then ``mark_synced``: from
then on a reader in any process sees every one of those books as of that
moment, without asking the worker anything.

Each book has a slot of two halves (a double buffer), each with its own
sequence word. A publish goes to the *older* half, seqlock-style::

    seq[h] = last + 1   # odd: this half is being written
    copy the payload    # one memcpy of a payload encoded beforehand
    seq[h] = last + 2   # even, and now the highest: this half is the newest

Readers copy the half with the highest even sequence and re-check it. The
writer never waits for anyone (there is no lock to take), and, because the
newer half is never the one being written, a writer that is descheduled or
killed in the middle of a write does not stall readers: they keep reading
the last complete publish. A reader retries only if the writer wrote the
same half again during its copy, which takes two publishes of that book
within one memcpy. The payload is encoded into a private buffer first, so
the odd window is a single ``memcpy`` (about 0.2 µs for 1 KB). Sequence
words only ever grow (a reused slot continues from its old values), so a
reader cannot mistake a rewritten half for the one it started copying.

Growth: a book that outgrows its slot moves to a slot of a larger class.
The new slot is written first, then the directory entry is flipped under its
own seqlock (new arena, offset, capacity, generation + 1), then a "free"
payload is published into the old slot. A reader holding the old location
finds the free mark (or, once the slot is reused, another book's owner
tag) and looks the book up again; it never accepts another book's bytes,
because every payload carries its owner's (entry, generation).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

from ...core.book import StateMachine
from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.messages import BookMessage, Message, PriceChangeMessage
from ...core.router import MessageRouter
from . import layout as L
from .segments import arena_name, create, directory_name, release, tracker_token

__all__ = ["BookStore", "StoreStats", "touched_assets", "DEFAULT_MAX_BOOKS"]

DEFAULT_MAX_BOOKS = 65_536
"""Directory entries per writer: 8 MiB of address space, but tmpfs pages
are only allocated when touched (128 bytes per book actually used)."""

_MIN_ARENA_BYTES = 256 * 1024
_LAYOUT_VERSION = 1
_MAX_LEVELS_PER_SIDE = 9999  # prices are 1..9999 ticks
_FREE_MARK = L.HEAD.pack(0, 0, 0, 0, L.FREE_ENTRY, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class StoreStats:
    """What one writer did: ``publishes`` (payloads written), ``moves``
    (books that outgrew their slot), ``bytes_written`` (payload bytes),
    ``segments`` and ``mapped_bytes`` (its shared memory, directory included),
    ``used_bytes`` (slots held by books plus their directory entries)."""

    books: int
    publishes: int
    moves: int
    bytes_written: int
    segments: int
    mapped_bytes: int
    used_bytes: int


class _Slot:
    """The writer's private view of one slot: where it is and its sequence
    state (the writer never needs to read shared memory back)."""

    __slots__ = ("arena", "half", "offset", "seq")

    def __init__(self, arena: int, offset: int, words: memoryview, half_bytes: int) -> None:
        self.arena = arena
        self.offset = offset
        # A reused slot continues from its old sequence values.
        a, b = words[offset >> 3], words[(offset + half_bytes) >> 3]
        self.seq = max(a, b)  # the newest complete write
        self.half = 0 if a > b else 1  # the half that holds it


class _Entry:
    """The writer's private copy of one directory entry."""

    __slots__ = ("capacity", "generation", "index", "slot", "version")

    def __init__(self, index: int, slot: _Slot, capacity: int) -> None:
        self.index = index
        self.slot = slot
        self.capacity = capacity
        self.generation = 0
        self.version = 0


class _Arena:
    __slots__ = ("shm", "view", "words", "class_levels", "slot_bytes", "slots", "used")

    def __init__(self, shm: SharedMemory, class_levels: int, slot_bytes: int, slots: int) -> None:
        self.shm = shm
        self.view = shm.buf[: L.ARENA_HEADER_BYTES + slots * slot_bytes]
        self.words = self.view.cast("Q")
        self.class_levels = class_levels
        self.slot_bytes = slot_bytes
        self.slots = slots
        self.used = 0  # slots handed out so far (freed ones go to the free list)


class BookStore:
    """The shared-memory books of one writer (one per worker process).

    ``prefix`` is the run's (``segments.new_prefix()``), ``worker`` this
    writer's index. ``depth=None`` publishes whole books; ``depth=N`` only
    the best N levels a side (fixed-size slots, never moves). ``checksum``
    adds a crc32 of each payload (about 0.5 µs per KB) so that a torn read
    is detectable even where the seqlock alone is not enough (see the
    lesson). ``double_buffer=False`` always rewrites the same half: a plain
    seqlock, whose readers must wait out a descheduled writer (experiment
    4.2 shows the difference). ``clock`` stamps publishes when no
    ``as_of_ns`` is given.

    Creates the directory segment at once; ``close`` (idempotent, or the
    ``with`` block) unlinks every segment it created.
    """

    def __init__(
        self,
        prefix: str,
        worker: int = 0,
        *,
        depth: int | None = None,
        max_books: int = DEFAULT_MAX_BOOKS,
        checksum: bool = True,
        double_buffer: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if depth is not None and not 1 <= depth <= _MAX_LEVELS_PER_SIDE:
            raise ValueError(f"depth must be in 1..{_MAX_LEVELS_PER_SIDE} or None, not {depth}")
        self.prefix = prefix
        self.worker = worker
        self.depth = depth
        self.max_books = max_books
        self.clock = clock
        self._double_buffer = double_buffer
        self._flags = (L.FLAG_CHECKSUM if checksum else 0) | (L.FLAG_TRUNCATED if depth else 0)
        self._entries: dict[str, _Entry] = {}
        self._arenas: list[_Arena] = []
        self._free: dict[int, list[_Slot]] = {c: [] for c in L.CLASS_LEVELS}
        self._class_slots: dict[int, int] = dict.fromkeys(L.CLASS_LEVELS, 0)
        self._publishes = 0
        self._moves = 0
        self._bytes_written = 0
        self._closed = False
        size = L.DIR_HEADER_BYTES + max_books * L.ENTRY_BYTES
        self._dir = create(directory_name(prefix, worker), size)
        self._dir_view = self._dir.buf[:size]
        self._dir_words = self._dir_view.cast("Q")
        L.DIR_HEADER.pack_into(
            self._dir_view, 0, L.MAGIC_DIR, _LAYOUT_VERSION, max_books, 0, 0,
            tracker_token(), os.getpid(), self._flags, depth or 0, 0,
        )  # fmt: skip

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> BookStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Mark the directory closed, then release and unlink every segment
        this writer created. Idempotent. Readers still attached keep their
        mappings (the pages live until the last one unmaps); stop them
        first so that none attaches a segment that is going away."""
        if self._closed:
            return
        self._closed = True
        try:
            self._dir_view[L.DIR_CLOSED_AT : L.DIR_CLOSED_AT + 4] = (1).to_bytes(4, "little")
        finally:
            arenas, self._arenas = self._arenas, []
            try:
                for arena in arenas:
                    release(arena.shm, arena.words, arena.view, unlink=True)
            finally:
                release(self._dir, self._dir_words, self._dir_view, unlink=True)

    @property
    def names(self) -> list[str]:
        """The segments this writer created and still holds."""
        if self._closed:
            return []
        return [self._dir.name, *(arena.shm.name for arena in self._arenas)]

    # ------------------------------------------------------------ publishing

    def publish(self, book: StateMachine, as_of_ns: int | None = None) -> int:
        """Publish ``book`` (whole, or its top ``depth`` levels). O(levels):
        about 10 µs for 40 levels a side. Returns the payload bytes."""
        bid_prices, bid_sizes, ask_prices, ask_sizes = book.columns(self.depth)
        return self._write(
            book.asset_id, bid_prices, bid_sizes, ask_prices, ask_sizes, book.levels(), as_of_ns,
            0 if book.has_snapshot else L.FLAG_NO_SNAPSHOT,
        )  # fmt: skip

    def publish_columns(
        self,
        asset_id: str,
        bid_prices: list[int],
        bid_sizes: list[float],
        ask_prices: list[int],
        ask_sizes: list[float],
        as_of_ns: int | None = None,
    ) -> int:
        """Publish a book given as four best-first columns (the shape of
        ``StateMachine.columns``), cut to ``depth`` if the store has one.
        For tools and the stress test; a worker publishes its books."""
        book_levels = (len(bid_prices), len(ask_prices))
        if self.depth is not None:
            depth = self.depth
            bid_prices, bid_sizes = bid_prices[:depth], bid_sizes[:depth]
            ask_prices, ask_sizes = ask_prices[:depth], ask_sizes[:depth]
        return self._write(asset_id, bid_prices, bid_sizes, ask_prices, ask_sizes, book_levels, as_of_ns)

    def publish_touched(
        self, router: MessageRouter, messages: Iterable[Message], as_of_ns: int | None = None
    ) -> int:
        """The worker-loop hook: publish every book ``messages`` touched,
        then ``mark_synced``. Returns the number of books published."""
        as_of = self.clock.now_ns() if as_of_ns is None else as_of_ns
        published = 0
        for asset_id in touched_assets(messages):
            book = router.get(asset_id)
            if book is not None:
                self.publish(book, as_of)
                published += 1
        self.mark_synced(as_of)
        return published

    def mark_synced(self, as_of_ns: int | None = None) -> None:
        """Declare that every book of this writer is published as of
        ``as_of_ns``: readers report a book's age from the later of this and
        its own publish, so a quiet book is not mistaken for a stale one.
        One aligned 8-byte store."""
        self._dir_words[L.SYNCED_WORD] = self.clock.now_ns() if as_of_ns is None else as_of_ns

    def _write(
        self,
        asset_id: str,
        bid_prices: list[int],
        bid_sizes: list[float],
        ask_prices: list[int],
        ask_sizes: list[float],
        book_levels: tuple[int, int],
        as_of_ns: int | None,
        book_flags: int = 0,
    ) -> int:
        if self._closed:
            raise RuntimeError("store is closed")
        n_bids, n_asks = len(bid_prices), len(ask_prices)
        if len(bid_sizes) != n_bids or len(ask_sizes) != n_asks:
            raise ValueError(f"{asset_id}: a price column and its size column differ in length")
        # Encode first: bad values raise here, before any shared byte changes.
        columns = L.encode_columns(bid_prices, bid_sizes, ask_prices, ask_sizes)
        levels = n_bids + n_asks
        entry = self._entries.get(asset_id)
        moved_from = name = None
        if entry is None:
            entry, name = self._new_entry(asset_id, levels)
        elif levels > entry.capacity:
            capacity = L.class_for(levels)
            slot = self._take_slot(capacity)  # may create an arena: before changing anything
            moved_from = (entry.slot, entry.capacity)
            entry.slot, entry.capacity = slot, capacity
            entry.generation += 1
        entry.version += 1
        raw = L.encode_payload(
            columns, n_bids, n_asks,
            as_of_ns=self.clock.now_ns() if as_of_ns is None else as_of_ns,
            version=entry.version, entry=entry.index, generation=entry.generation,
            book_levels=book_levels, flags=self._flags | book_flags,
        )  # fmt: skip
        self._store(entry.slot, entry.capacity, raw)
        self._publishes += 1
        self._bytes_written += len(raw)
        if name is not None:
            # Entry, then count: a reader that sees the count finds a whole entry and a written slot.
            self._write_entry(entry, name)
            self._dir_words[L.COUNT_WORD] = entry.index + 1
        elif moved_from is not None:
            # The new slot is complete; now point readers at it, then free the old one.
            self._write_entry(entry)
            old_slot, old_capacity = moved_from
            self._store(old_slot, old_capacity, _FREE_MARK)  # cached readers look again
            self._free[old_capacity].append(old_slot)
            self._moves += 1
        return len(raw)

    def _store(self, slot: _Slot, capacity: int, raw: bytes) -> None:
        arena = self._arenas[slot.arena]
        half = 1 - slot.half if self._double_buffer else 0  # the older half; readers are on the other
        at = slot.offset + half * L.half_bytes(capacity)
        word = at >> 3
        arena.words[word] = slot.seq + 1  # odd: readers skip this half
        arena.view[at + L.SLOT_HEADER : at + L.SLOT_HEADER + len(raw)] = raw
        slot.seq += 2
        arena.words[word] = slot.seq  # even and highest: the newest half
        slot.half = half

    # ------------------------------------------------------------ directory and slots

    def _new_entry(self, asset_id: str, levels: int) -> tuple[_Entry, bytes]:
        """A slot and an entry for a new book, not yet in the directory."""
        index = len(self._entries)
        if index >= self.max_books:
            raise OverflowError(f"store of worker {self.worker} is full ({self.max_books} books)")
        name = asset_id.encode()
        if len(name) > L.MAX_ASSET_BYTES:
            raise ValueError(f"asset id longer than {L.MAX_ASSET_BYTES} bytes: {asset_id!r}")
        capacity = L.class_for(max(2 * self.depth if self.depth else levels, 1))
        entry = self._entries[asset_id] = _Entry(index, self._take_slot(capacity), capacity)
        return entry, name

    def _write_entry(self, entry: _Entry, name: bytes | None = None) -> None:
        """Write ``entry``'s location (and, for a new entry, its asset id)
        under the entry's seqlock."""
        at = L.DIR_HEADER_BYTES + entry.index * L.ENTRY_BYTES
        word = at >> 3
        seq = self._dir_words[word]
        self._dir_words[word] = seq + 1
        L.ENTRY_LOCATION.pack_into(self._dir_view, at + L.ENTRY_FIELDS_AT, entry.slot.arena, entry.capacity,
                                   entry.slot.offset, entry.generation)  # fmt: skip
        if name is not None:
            name_at = at + L.ENTRY_NAME_AT
            self._dir_view[name_at - 2 : name_at] = len(name).to_bytes(2, "little")
            self._dir_view[name_at : name_at + len(name)] = name
        self._dir_words[word] = seq + 2

    def _take_slot(self, capacity: int) -> _Slot:
        free = self._free[capacity]
        if free:
            return free.pop()
        for index in range(len(self._arenas) - 1, -1, -1):
            arena = self._arenas[index]
            if arena.class_levels == capacity and arena.used < arena.slots:
                break
        else:
            index = self._new_arena(capacity)
            arena = self._arenas[index]
        offset = L.ARENA_HEADER_BYTES + arena.used * arena.slot_bytes
        arena.used += 1
        return _Slot(index, offset, arena.words, L.half_bytes(capacity))

    def _new_arena(self, capacity: int) -> int:
        """A new arena for class ``capacity``, as big as all earlier arenas of
        that class together (at least 256 KiB): the arena count grows as
        log(books), like a list's capacity."""
        per_slot = L.slot_bytes(capacity)
        slots = max(_MIN_ARENA_BYTES // per_slot, self._class_slots[capacity], 4)
        index = len(self._arenas)
        shm = create(arena_name(self.prefix, self.worker, index), L.ARENA_HEADER_BYTES + slots * per_slot)
        arena = _Arena(shm, capacity, per_slot, slots)
        L.ARENA_HEADER.pack_into(arena.view, 0, L.MAGIC_ARENA, capacity, per_slot, slots)
        self._arenas.append(arena)
        self._class_slots[capacity] += slots
        self._dir_words[L.ARENAS_WORD] = len(self._arenas)  # after its header: readers may map it now
        return index

    # ------------------------------------------------------------ introspection

    def stats(self) -> StoreStats:
        mapped = 0 if self._closed else self._dir.size + sum(a.shm.size for a in self._arenas)
        used = sum(L.slot_bytes(e.capacity) + L.ENTRY_BYTES for e in self._entries.values())
        return StoreStats(
            books=len(self._entries),
            publishes=self._publishes,
            moves=self._moves,
            bytes_written=self._bytes_written,
            segments=len(self.names),
            mapped_bytes=mapped,
            used_bytes=used,
        )

    def check(self) -> None:
        """Walk the store and raise ``AssertionError`` on any broken
        invariant: every entry matches the writer's copy; every slot's halves
        are even, its newest half is owned by its entry and generation,
        holds the latest version and a right checksum; no two books share a
        slot; free slots say so. O(books + slots). For tests."""
        assert not self._closed, "store is closed"
        assert self._dir_words[L.COUNT_WORD] == len(self._entries)
        seen = set()
        for asset_id, entry in self._entries.items():
            at = L.DIR_HEADER_BYTES + entry.index * L.ENTRY_BYTES
            assert self._dir_words[at >> 3] % 2 == 0, "directory entry left odd"
            fields = L.ENTRY.unpack_from(self._dir_view, at + L.ENTRY_FIELDS_AT)
            arena, capacity, offset, generation, name_len = fields
            name_at = at + L.ENTRY_NAME_AT
            assert bytes(self._dir_view[name_at : name_at + name_len]).decode() == asset_id
            slot = entry.slot
            assert (arena, capacity, offset, generation) == (
                slot.arena,
                entry.capacity,
                slot.offset,
                entry.generation,
            )
            assert (arena, offset) not in seen, "two books share a slot"
            seen.add((arena, offset))
            head = self._check_slot(slot, capacity)
            version, owner, owner_gen, n_bids, n_asks = head[3:8]
            assert (owner, owner_gen, version) == (entry.index, entry.generation, entry.version)
            assert n_bids + n_asks <= capacity
        for capacity, free in self._free.items():
            for slot in free:
                assert (slot.arena, slot.offset) not in seen, "a free slot is in use"
                assert self._check_slot(slot, capacity)[4] == L.FREE_ENTRY

    def _check_slot(self, slot: _Slot, capacity: int) -> tuple:
        arena = self._arenas[slot.arena]
        assert arena.class_levels == capacity
        half = L.half_bytes(capacity)
        seqs = [arena.words[(slot.offset + h * half) >> 3] for h in (0, 1)]
        assert seqs[0] % 2 == 0 and seqs[1] % 2 == 0, "a half left odd"
        assert seqs[slot.half] == slot.seq == max(seqs), "the newest half is not the last written"
        at = slot.offset + slot.half * half + L.SLOT_HEADER
        head = L.HEAD.unpack_from(arena.view, at)
        if head[1] & L.FLAG_CHECKSUM:
            end = at + L.PAYLOAD_OFFSET + L.levels_bytes(head[6] + head[7])
            assert zlib.crc32(arena.view[at + 4 : end]) == head[0], "checksum"
        return head


def touched_assets(messages: Iterable[Message]) -> set[str]:
    """Asset ids whose book ``messages`` may have changed (snapshots and
    price changes; trades and tick sizes change no level). O(changes)."""
    touched: set[str] = set()
    for message in messages:
        kind = type(message)
        if kind is PriceChangeMessage:
            touched.update(change.asset_id for change in message.changes)
        elif kind is BookMessage:
            touched.add(message.asset_id)
    return touched
