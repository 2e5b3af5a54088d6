"""The shared-memory book store (engines/_shm): what a reader gets is what
the writer published, whole, however the two are interleaved, and nothing
is left in /dev/shm afterwards, whoever dies."""

from __future__ import annotations

import multiprocessing as mp
import platform
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook_lab.core.book import StateMachine
from orderbook_lab.core.clock import ManualClock
from orderbook_lab.core.messages import PriceLevel
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.router import MessageRouter, books_digest
from orderbook_lab.core.source import MessageSource, SourceConfig
from orderbook_lab.engines._shm import (
    BookReader,
    BookStore,
    ReadBusy,
    cleanup,
    layout,
    list_segments,
    new_prefix,
    touched_assets,
)
from orderbook_lab.engines._shm.stress import StressConfig, run_stress

X86 = platform.machine().lower() in {"x86_64", "amd64", "i686", "x86"}


@pytest.fixture
def prefix():
    """A run prefix whose segments must all be gone when the test ends."""
    run = new_prefix()
    yield run
    leftover = cleanup(run)
    assert leftover == [], f"segments left behind: {leftover}"


def _book(asset: str, bids: dict[int, float], asks: dict[int, float]) -> StateMachine:
    book = StateMachine(asset)
    book.apply_snapshot(
        [PriceLevel(p, s) for p, s in bids.items()], [PriceLevel(p, s) for p, s in asks.items()]
    )
    return book


def _ladder(asset: str, per_side: int, size: float = 1.0) -> StateMachine:
    """``per_side`` levels a side (crossed past 499: the book does not mind)."""
    return _book(
        asset, {999 - i: size + i for i in range(per_side)}, {1 + i: size + i for i in range(per_side)}
    )


_sides = st.dictionaries(st.integers(1, 9999), st.floats(0.01, 1e9, allow_nan=False), max_size=120)


# ---------------------------------------------------------------- round trip


@settings(max_examples=60, deadline=None)
@given(bids=_sides, asks=_sides, depth=st.sampled_from([0, 1, 10, 200]))
def test_read_equals_snapshot_and_export(bids, asks, depth):
    run = new_prefix()
    book = _book("yes", bids, asks)
    try:
        with BookStore(run) as store, BookReader(run) as reader:
            store.publish(book)
            assert reader.read("yes", depth).view() == book.snapshot(depth)
            whole = reader.read("yes")
            assert whole.complete and whole.levels == book.levels()
            assert whole.export() == book.export()
    finally:
        assert cleanup(run) == []


def test_every_book_of_a_stream_reads_back_identical(prefix):
    """Publishing after every line (what a worker does after a batch) gives
    readers the same books as the router: same digest."""
    router = MessageRouter()
    lines = MessageSource.synthetic(SourceConfig(messages=3000, assets=12, seed=5)).wire_lines()
    with BookStore(prefix) as store, BookReader(prefix) as reader:
        for number, line in enumerate(lines, 1):
            messages = [m for m in parse_line(line, number) if type(m) is not Rejection]
            for message in messages:
                router.apply(message)
            store.publish_touched(router, messages)
        store.check()
        from_shm = {asset: reader.read(asset).export() for asset in reader.assets()}
        assert sorted(from_shm) == sorted(router.assets())
        assert books_digest(from_shm) == books_digest(router.export())
        for asset in router.assets():
            assert reader.read(asset, 10).view() == router.query(asset, 10)


def test_top_n_store_publishes_n_levels_and_never_moves(prefix):
    book = _ladder("a", 300)
    with BookStore(prefix, depth=10) as store, BookReader(prefix) as reader:
        store.publish(book)
        store.publish(_ladder("a", 400))
        snap = reader.read("a")
        assert (len(snap.bids), len(snap.asks)) == (10, 10)
        assert snap.levels == (400, 400) and not snap.complete
        assert snap.view() == _ladder("a", 400).snapshot(10)
        with pytest.raises(ValueError, match="levels were read"):
            snap.export()
        assert store.stats().moves == 0


def test_one_reader_reads_every_writer(prefix):
    with (
        BookStore(prefix, 0) as first,
        BookStore(prefix, 1) as second,
        BookReader(prefix, workers=3) as reader,  # worker 2 never starts
    ):
        first.publish(_ladder("a", 3))
        second.publish(_ladder("b", 5))
        assert sorted(reader.assets()) == ["a", "b"]
        assert reader.read("b").export() == _ladder("b", 5).export()
        assert reader.read("nobody") is None
        assert reader.stats().misses == 1


def test_touched_assets_are_the_books_a_batch_changed():
    lines = [
        '{"event_type":"book","asset_id":"a","market":"m","bids":[],"asks":[],"timestamp":"1"}',
        '{"event_type":"price_change","market":"m","timestamp":"2","price_changes":['
        '{"asset_id":"b","price":"0.4","size":"1","side":"BUY"},'
        '{"asset_id":"c","price":"0.6","size":"1","side":"SELL"}]}',
        '{"event_type":"last_trade_price","asset_id":"d","market":"m","price":"0.5",'
        '"side":"BUY","size":"1","timestamp":"3"}',
    ]
    messages = [m for n, line in enumerate(lines, 1) for m in parse_line(line, n)]
    assert touched_assets(messages) == {"a", "b", "c"}


def test_a_reader_says_when_the_book_never_had_a_snapshot(prefix):
    orphan = StateMachine("orphan")
    orphan.apply_change("BUY", 9995, 1.0)  # updates only: no ``book`` message yet
    with BookStore(prefix) as store, BookReader(prefix) as reader:
        store.publish(orphan)
        store.publish(_book("whole", {4800: 1.0}, {5200: 2.0}))
        assert reader.read("orphan").view().has_snapshot is False
        assert reader.read("whole").view().has_snapshot is True
        assert reader.read("orphan").export() == {"bids": [["0.9995", 1.0]], "asks": []}


# ---------------------------------------------------------------- growth


def test_a_growing_book_moves_and_cached_readers_follow(prefix):
    with BookStore(prefix) as store, BookReader(prefix) as reader:
        for per_side in (1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 999):
            book = _ladder("a", per_side)
            store.publish(book)
            assert reader.read("a").export() == book.export()  # the reader cached the old place
        store.check()
        assert store.stats().moves == 3  # 32 -> 128 -> 512 -> 2048 levels
        assert reader.stats().relocations == 3
        with pytest.raises(ValueError, match="exceeds the largest slot"):
            store.publish_columns("b", list(range(17000)), [1.0] * 17000, list(range(17000)), [1.0] * 17000)
        with pytest.raises(ValueError, match="u16"):
            store.publish_columns("c", [-1], [1.0], [], [])
        assert reader.assets() == ["a"]  # neither b nor c got an entry


def test_map_ahead_maps_new_segments_so_reads_do_not(prefix):
    with BookStore(prefix) as store, BookReader(prefix) as reader:
        assert reader.map_ahead() == 1  # the directory
        store.publish(_ladder("a", 2))
        assert reader.map_ahead() == 1  # the first arena (32-level slots)
        store.publish(_ladder("a", 40))  # a moves to a new arena (128-level slots)
        assert reader.map_ahead() == 1 and reader.map_ahead() == 0
        mapped = reader.mapped_bytes()
        assert reader.read("a").export() == _ladder("a", 40).export()
        assert reader.mapped_bytes() == mapped  # the read mapped nothing
        assert reader.assets() == ["a"]


def test_a_freed_slot_reused_by_another_book_is_never_read_as_the_old_one(prefix):
    with BookStore(prefix) as store, BookReader(prefix) as reader:
        store.publish(_ladder("a", 2, size=1.0))
        assert reader.read("a").version == 1  # cached: a's first slot
        store.publish(_ladder("a", 40, size=1.0))  # a moves; its old slot is free
        store.publish(_ladder("b", 2, size=7.0))  # b takes that slot
        store.check()
        assert reader.read("a").export() == _ladder("a", 40, size=1.0).export()
        assert reader.read("b").export() == _ladder("b", 2, size=7.0).export()


class _WriteDuringCopy:
    """Stands in for a slot's sequence words in a reader: the second load of
    ``word`` (the re-check after the copy) first runs ``during``, as if the
    writer had published while the reader was copying."""

    def __init__(self, words: memoryview, word: int, during) -> None:
        self.words, self.word, self.during, self.loads = words, word, during, 0

    def __getitem__(self, index: int) -> int:
        if index == self.word:
            self.loads += 1
            if self.loads == 2:
                self.during()
        return self.words[index]


def _hook_reads(reader: BookReader, store: BookStore, asset: str, during) -> tuple:
    """Make ``reader`` run ``during`` mid-copy of ``asset``'s newest half;
    returns what ``_unhook`` needs."""
    entry = store._entries[asset]
    key = (0, entry.slot.arena)
    shm, view, words = reader._arenas[key]
    newest = entry.slot.offset + entry.slot.half * layout.half_bytes(entry.capacity)
    reader._arenas[key] = (shm, view, _WriteDuringCopy(words, newest >> 3, during))
    return key, (shm, view, words)


@pytest.mark.parametrize("double_buffer", [False, True])
def test_a_write_during_the_copy_makes_the_reader_copy_again(prefix, double_buffer):
    laps = 2 if double_buffer else 1  # publishes until the half being copied is rewritten
    with BookStore(prefix, double_buffer=double_buffer) as store, BookReader(prefix) as reader:
        store.publish(_ladder("a", 3, size=1.0))
        assert reader.read("a").version == 1
        key, original = _hook_reads(
            reader, store, "a", lambda: [store.publish(_ladder("a", 3, size=2.0)) for _ in range(laps)]
        )
        try:
            snap = reader.read("a")
        finally:
            reader._arenas[key] = original
        assert (snap.version, snap.retries) == (1 + laps, 1)
        assert snap.export() == _ladder("a", 3, size=2.0).export()


def test_a_move_during_the_copy_gives_the_old_version_whole_then_the_new_one(prefix):
    with BookStore(prefix) as store, BookReader(prefix) as reader:
        store.publish(_ladder("a", 3))
        assert reader.read("a").version == 1
        key, original = _hook_reads(reader, store, "a", lambda: store.publish(_ladder("a", 40)))
        try:
            during = reader.read("a")
        finally:
            reader._arenas[key] = original
        # The copy started before the move and nothing touched its half: a whole, older book.
        assert (during.version, during.export()) == (1, _ladder("a", 3).export())
        after = reader.read("a")  # the old slot now says "free": the reader looks the book up again
        assert (after.version, after.export()) == (2, _ladder("a", 40).export())
        assert reader.stats().relocations == 1
        store.check()


# ---------------------------------------------------------------- staleness and busy


def test_every_read_reports_its_age():
    clock = ManualClock(1_000)
    run = new_prefix()
    try:
        with BookStore(run, clock=clock) as store, BookReader(run, clock=clock) as reader:
            store.publish(_ladder("a", 2))  # as of 1000
            store.publish(_ladder("b", 2), as_of_ns=900)
            clock.advance_ns(4_000)
            assert (reader.read("a").as_of_ns, reader.read("a").age_ns) == (1_000, 4_000)
            store.mark_synced(4_500)  # a and b are unchanged as of 4500: younger
            assert reader.read("a").age_ns == reader.read("b").age_ns == 500
            assert reader.synced_ns(0) == 4_500
    finally:
        assert cleanup(run) == []


def _slot_words(store: BookStore, asset: str) -> tuple[memoryview, int, int]:
    entry = store._entries[asset]
    half = layout.half_bytes(entry.capacity)
    return store._arenas[entry.slot.arena].words, entry.slot.offset >> 3, (entry.slot.offset + half) >> 3


def test_a_writer_stuck_mid_write_does_not_stall_double_buffered_readers(prefix):
    with BookStore(prefix) as store, BookReader(prefix, max_retries=5) as reader:
        store.publish(_ladder("a", 3, size=1.0))
        store.publish(_ladder("a", 3, size=2.0))  # newest in half 1; half 0 holds version 1
        words, half0, _ = _slot_words(store, "a")
        words[half0] += 1  # a write of version 3 began in half 0 and never finished
        snap = reader.read("a")
        assert (snap.version, snap.retries) == (2, 0)
        assert snap.export() == _ladder("a", 3, size=2.0).export()
        words[half0] += 1  # as if it finished (keeps close() and check() consistent)


def test_a_single_buffered_reader_reports_busy_instead_of_spinning(prefix):
    with BookStore(prefix, double_buffer=False) as store, BookReader(prefix, max_retries=20) as reader:
        store.publish(_ladder("a", 3))
        words, half0, _ = _slot_words(store, "a")
        words[half0] += 1  # the writer died in the middle of a write
        with pytest.raises(ReadBusy):
            reader.read("a")
        stats = reader.stats()
        assert (stats.busy, stats.retries, stats.reads) == (1, 20, 0)
        words[half0] += 1


def test_a_torn_payload_is_caught_by_the_checksum(prefix):
    """What the crc32 is for: bytes that changed without the sequence word
    saying so (as a weakly ordered CPU could show a reader)."""
    with BookStore(prefix) as store, BookReader(prefix, max_retries=3) as reader:
        store.publish(_ladder("a", 3))
        entry = store._entries["a"]
        arena = store._arenas[entry.slot.arena]
        at = entry.slot.offset + entry.slot.half * layout.half_bytes(entry.capacity)
        size_at = at + layout.SLOT_HEADER + layout.PAYLOAD_OFFSET + 8  # the first size
        arena.view[size_at : size_at + 8] = (99.5).hex().encode()[:8]
        with pytest.raises(ReadBusy):
            reader.read("a")
        assert reader.stats().torn_rejected == 4
    with BookStore(new := new_prefix(), checksum=False) as store, BookReader(new, verify=False) as reader:
        store.publish(_ladder("a", 3))
        assert reader.read("a").export() == _ladder("a", 3).export()
    assert cleanup(new) == []


# ---------------------------------------------------------------- hygiene


def test_close_unlinks_everything_and_is_idempotent(prefix):
    store = BookStore(prefix)
    reader = BookReader(prefix)
    store.publish(_ladder("a", 300))
    store.publish(_ladder("b", 3))
    assert reader.read("a") is not None
    assert sorted(list_segments(prefix)) == sorted(store.names) and len(store.names) == 3
    reader.close()
    reader.close()
    store.close()
    store.close()
    assert list_segments(prefix) == []
    with pytest.raises(RuntimeError, match="closed"):
        store.publish(_ladder("a", 1))
    with pytest.raises(RuntimeError, match="closed"):
        reader.read("a")


def test_limits_are_errors_not_corruption(prefix):
    with BookStore(prefix, max_books=2) as store:
        store.publish(_ladder("a", 1))
        store.publish(_ladder("b", 1))
        with pytest.raises(OverflowError, match="full"):
            store.publish(_ladder("c", 1))
        with pytest.raises(ValueError, match="differ in length"):
            store.publish_columns("a", [1, 2], [1.0], [], [])
        store.check()
    with pytest.raises(ValueError, match="longer than"), BookStore(new := new_prefix()) as store:
        store.publish(_ladder("x" * 200, 1))
    assert cleanup(new) == []
    with pytest.raises(ValueError, match="not a run prefix"):
        cleanup("obl-")


def test_cleanup_removes_a_segment_its_creator_never_sized(prefix):
    """A writer killed between shm_open and ftruncate leaves an empty file,
    which SharedMemory cannot even open."""
    empty = Path("/dev/shm") / f"{prefix}-w0-a7"
    empty.touch()
    assert cleanup(prefix) == [empty.name]
    assert not empty.exists()


def _hold_writer(conn, run: str) -> None:
    """A writer that publishes, reports its segments and waits to be killed."""
    store = BookStore(run)
    store.publish(_ladder("a", 5))
    store.publish(_ladder("b", 300))
    conn.send(store.names)
    conn.recv()  # never answered: the parent SIGKILLs this process


def test_cleanup_removes_the_segments_of_a_killed_writer(prefix):
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    writer = ctx.Process(target=_hold_writer, args=(child, prefix))
    writer.start()
    try:
        assert parent.poll(60), "writer never reported"
        names = parent.recv()
        with BookReader(prefix) as reader:
            assert reader.read("a").export() == _ladder("a", 5).export()
            writer.kill()
            writer.join()
            assert writer.exitcode == -signal.SIGKILL
            # Its pages outlive it while mapped: the last state is still readable.
            assert reader.read("b").export() == _ladder("b", 300).export()
        assert sorted(list_segments(prefix)) == sorted(names)
        assert sorted(cleanup(prefix)) == sorted(names)
        assert list_segments(prefix) == []
    finally:
        if writer.is_alive():
            writer.kill()
        writer.join()


_SCENARIO = textwrap.dedent(
    """
    import multiprocessing as mp, subprocess, sys
    from orderbook_lab.core.book import StateMachine
    from orderbook_lab.core.messages import PriceLevel
    from orderbook_lab.engines._shm import BookReader, BookStore, cleanup, list_segments, new_prefix

    def book(asset, n):
        b = StateMachine(asset)
        b.apply_snapshot([PriceLevel(500 - i, 1.0) for i in range(n)], [PriceLevel(501 + i, 1.0) for i in range(n)])
        return b

    def writer(conn, run, hold):
        with BookStore(run) as store:
            store.publish(book("a", 5))
            store.publish(book("b", 100))
            conn.send("ready")
            conn.recv()
            if hold:
                conn.recv()

    OTHER_TREE = (
        "import sys; from orderbook_lab.engines._shm import BookReader\\n"
        "with BookReader(sys.argv[1]) as r: assert len(r.read('b').bids) == 100\\n"
    )

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        # 1. normal: a spawned writer, this process reads, everyone closes
        run = new_prefix()
        parent, child = ctx.Pipe()
        p = ctx.Process(target=writer, args=(child, run, False)); p.start()
        assert parent.recv() == "ready"
        with BookReader(run) as r:
            assert len(r.read("b").bids) == 100
        parent.send("close"); p.join(); assert p.exitcode == 0
        assert list_segments(run) == [], "normal exit leaked"
        # 2. a reader in another process tree (its own resource tracker)
        run = new_prefix()
        with BookStore(run) as store:
            store.publish(book("b", 100))
            subprocess.run([sys.executable, "-c", OTHER_TREE, run], check=True)
            assert len(list_segments(run)) == 2, "the other tree's tracker unlinked our segments"
        assert list_segments(run) == []
        # 3. a SIGKILLed writer, cleaned up by its parent
        run = new_prefix()
        parent, child = ctx.Pipe()
        p = ctx.Process(target=writer, args=(child, run, True)); p.start()
        assert parent.recv() == "ready"
        with BookReader(run) as r:
            assert len(r.read("b").bids) == 100
        p.kill(); p.join()
        assert len(cleanup(run)) == 3 and list_segments(run) == []
        print("ok")
    """
)


def test_no_tracker_warnings_and_no_leaks_in_a_fresh_interpreter(tmp_path: Path):
    """The resource tracker speaks only when its process tree exits, so the
    scenarios run in a fresh interpreter whose whole stderr we can read."""
    script = tmp_path / "scenario.py"
    script.write_text(_SCENARIO)
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)], capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""  # no "leaked shared_memory", no KeyError from the tracker


# ---------------------------------------------------------------- concurrency


@pytest.mark.parametrize(
    ("checksum", "double_buffer"),
    [
        pytest.param(True, True, id="double-buffer+crc32"),
        pytest.param(True, False, id="single-buffer+crc32"),
        pytest.param(
            False,
            True,
            id="seqlock-alone",
            marks=pytest.mark.skipif(not X86, reason="without fences only x86-TSO keeps the seqlock sound"),
        ),
    ],
)
def test_no_torn_read_is_ever_accepted(checksum, double_buffer):
    """A writer process rewrites growing books flat out while a reader
    process checks the invariant on every read (see ``stress``)."""
    config = StressConfig(
        reads=6_000,
        books=6,
        min_levels=1,
        max_levels=70,
        grow_every=1,
        checksum=checksum,
        verify=checksum,
        double_buffer=double_buffer,
        timeout_s=90,
    )
    result = run_stress(config)
    assert result.first_violation is None
    assert result.violations == 0
    assert result.reads == 6_000
    assert result.publishes > 0 and result.moves > 0  # books moved while being read
