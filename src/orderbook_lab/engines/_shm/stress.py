"""A writer process and reader processes hammering one store.

The writer republishes books as fast as it can; version ``v`` of a book
holds ``levels(v)`` levels a side, bid ``i`` at ``500 - i`` ticks, ask ``i``
at ``501 + i``, and every size is ``v + i / 1024``. A read that mixed two
publishes, or the counts of one with the levels of another, breaks that
invariant, and each reader checks it on every successful read, along with
versions never going backwards for a book. Books grow as their version
rises, so they move to larger slots while being read; a book that reaches
``max_levels`` is retired and a new one starts small, so moves go on for the
whole run.

Runs are bounded by counts, not time: the writer stops after ``publishes``,
each reader after ``reads`` successful reads; whichever bound is set
first ends the run (the other side stops when told). Used by
``tests/engines/test_shm_books.py`` (correctness) and experiment 4.2
(interference: the writer's rate with and without a reader).
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from .reader import BookReader, ReadBusy
from .segments import cleanup, new_prefix
from .store import BookStore

__all__ = ["StressConfig", "StressResult", "run_stress", "expected_book"]

_BID_TOP, _ASK_TOP = 500, 501
_MAX_LEVELS = 499  # so that 500 - i and 501 + i stay inside 1..999
_STOP_CHECK_EVERY = 16


@dataclass(frozen=True)
class StressConfig:
    """``publishes``/``reads``: the bounds (``None``: until the other side
    is done; at least one must be set, and ``publishes`` when there are no
    readers). Levels a side of version ``v``: ``min_levels + v //
    grow_every`` (constant when ``grow_every`` is 0), at most ``max_levels``."""

    publishes: int | None = None
    reads: int | None = 20_000
    readers: int = 1
    books: int = 8
    min_levels: int = 1
    max_levels: int = 300
    grow_every: int = 2
    checksum: bool = True
    verify: bool = True
    double_buffer: bool = True
    naive: bool = False
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_levels <= self.max_levels <= _MAX_LEVELS:
            raise ValueError(f"need 1 <= min_levels <= max_levels <= {_MAX_LEVELS}")
        if self.publishes is None and (self.reads is None or self.readers == 0):
            raise ValueError("bound the run: set publishes, or reads with at least one reader")

    def levels(self, version: int) -> int:
        grown = version // self.grow_every if self.grow_every else 0
        return min(self.max_levels, self.min_levels + grown)

    @property
    def retire_at(self) -> int | None:
        """The version at which a fully grown book is replaced by a new one."""
        if not self.grow_every:
            return None
        return (self.max_levels - self.min_levels) * self.grow_every + 1


@dataclass(frozen=True)
class StressResult:
    """Writer: ``publishes`` in ``writer_s`` of wall time and ``writer_cpu_s``
    of its own CPU time (the difference is time it waited for a core), and
    the ``moves`` among them.
    Readers (summed): ``reads`` that passed the seqlock, ``retries``,
    ``busy``, ``relocations``, ``torn_rejected`` (caught by counts or crc32
    after the sequence check passed), ``violations`` (reads that passed
    every check yet broke the invariant: torn reads accepted, must be 0)
    and the first of them, described."""

    publishes: int
    writer_s: float
    writer_cpu_s: float
    moves: int
    books: int
    readers: int
    reads: int
    reader_s: float
    retries: int
    busy: int
    relocations: int
    torn_rejected: int
    violations: int
    first_violation: str | None

    @property
    def publishes_per_s(self) -> float:
        return self.publishes / self.writer_s if self.writer_s > 0 else 0.0

    @property
    def cpu_us_per_publish(self) -> float:
        """The writer's own CPU time per publish: what cache-line sharing
        with readers would raise, unlike time lost waiting for a core."""
        return 1e6 * self.writer_cpu_s / self.publishes if self.publishes else 0.0

    @property
    def reads_per_s(self) -> float:
        return self.reads / self.reader_s if self.reader_s > 0 else 0.0


def expected_book(
    config: StressConfig, version: int
) -> tuple[list[int], list[float], list[int], list[float]]:
    """The four columns of ``version`` of any stress book."""
    n = config.levels(version)
    sizes = [version + i / 1024 for i in range(n)]
    return [_BID_TOP - i for i in range(n)], sizes, [_ASK_TOP + i for i in range(n)], list(sizes)


# ---------------------------------------------------------------- processes


def _writer_main(conn: Connection, prefix: str, config: StressConfig, stop) -> None:
    try:
        with BookStore(prefix, 0, checksum=config.checksum, double_buffer=config.double_buffer) as store:
            names = [f"b{j}" for j in range(config.books)]
            versions = [0] * config.books
            next_name = config.books
            for j, name in enumerate(names):  # every book exists before readers look
                versions[j] = 1
                store.publish_columns(name, *expected_book(config, 1))
            store.mark_synced()
            conn.send(("ready", None))
            conn.recv()  # "go"
            retire_at = config.retire_at
            limit = config.publishes
            done = 0
            began, began_cpu = time.perf_counter(), time.thread_time()
            while limit is None or done < limit:
                if done % _STOP_CHECK_EVERY == 0 and stop.value:
                    break
                j = done % config.books
                version = versions[j] + 1
                if retire_at is not None and version > retire_at:
                    names[j], version = f"b{next_name}", 1
                    next_name += 1
                versions[j] = version
                store.publish_columns(names[j], *expected_book(config, version))
                done += 1
            elapsed, cpu = time.perf_counter() - began, time.thread_time() - began_cpu
            stop.value = 1  # readers bounded by the writer stop now
            stats = store.stats()
            conn.send(("done", (done, elapsed, cpu, stats.moves, stats.books)))
            conn.recv()  # "close": every reader has detached
        conn.send(("closed", None))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        raise


def _reader_main(conn: Connection, prefix: str, config: StressConfig, stop) -> None:
    try:
        with BookReader(prefix, 1, verify=config.verify, naive=config.naive) as reader:
            assets = reader.assets()
            conn.send(("ready", None))
            conn.recv()  # "go"
            last_version: dict[str, int] = {}
            expected: dict[int, tuple] = {}
            limit = config.reads
            reads = violations = attempts = 0
            first = None
            began = time.perf_counter()
            while limit is None or reads < limit:
                if attempts % _STOP_CHECK_EVERY == 0:
                    if stop.value:
                        break
                    if attempts % 1024 == 0:
                        assets = reader.assets()
                asset = assets[attempts % len(assets)]
                attempts += 1
                try:
                    snap = reader.read(asset)
                except ReadBusy:
                    continue
                assert snap is not None
                reads += 1
                version = snap.version
                want = expected.get(version)
                if want is None:
                    if len(expected) > 4096:
                        expected.clear()
                    bid_p, bid_s, ask_p, ask_s = expected_book(config, version)
                    want = expected[version] = (
                        list(zip(bid_p, bid_s, strict=True)),
                        list(zip(ask_p, ask_s, strict=True)),
                        (len(bid_p), len(ask_p)),
                    )
                problem = None
                if snap.bids != want[0] or snap.asks != want[1] or snap.levels != want[2]:
                    problem = f"{asset} v{version}: levels or sizes of another publish"
                elif version < last_version.get(asset, 0):
                    problem = f"{asset}: version went back from {last_version[asset]} to {version}"
                elif snap.age_ns < 0:
                    problem = f"{asset}: negative age {snap.age_ns}"
                if problem is not None:
                    violations += 1
                    first = first or problem
                last_version[asset] = version
            elapsed = time.perf_counter() - began
            s = reader.stats()
            result = (reads, elapsed, s.retries, s.busy, s.relocations, s.torn_rejected, violations, first)
        conn.send(("done", result))  # after close: the writer may unlink now
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        raise


# ---------------------------------------------------------------- the parent


def run_stress(config: StressConfig) -> StressResult:
    """Start the writer and ``config.readers`` readers (spawned), run them to
    their bounds, join them and unlink everything, even on failure: a child
    that dies or a run that exceeds ``timeout_s`` raises, after the
    children are killed and joined and the run's segments are removed."""
    ctx = mp.get_context("spawn")
    prefix = new_prefix()
    stop = ctx.RawValue("i", 0)
    deadline = time.monotonic() + config.timeout_s
    procs: list[mp.process.BaseProcess] = []
    try:
        writer_conn, child = ctx.Pipe()
        writer = ctx.Process(target=_writer_main, args=(child, prefix, config, stop), name="shm-writer")
        writer.start()
        procs.append(writer)
        child.close()
        _expect(writer_conn, writer, "ready", deadline)
        reader_conns = []
        for i in range(config.readers):
            conn, child = ctx.Pipe()
            reader = ctx.Process(
                target=_reader_main, args=(child, prefix, config, stop), name=f"shm-reader-{i}"
            )
            reader.start()
            procs.append(reader)
            child.close()
            _expect(conn, reader, "ready", deadline)
            reader_conns.append((conn, reader))
        for conn, _ in reader_conns:
            conn.send("go")
        writer_conn.send("go")
        reader_results = []
        for conn, reader in reader_conns:
            reader_results.append(_expect(conn, reader, "done", deadline))
        if reader_conns:
            stop.value = 1  # the readers are done: a writer bounded by them stops
        publishes, writer_s, writer_cpu_s, moves, books = _expect(writer_conn, writer, "done", deadline)
        writer_conn.send("close")
        _expect(writer_conn, writer, "closed", deadline)
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.is_alive():  # only on failure: the normal path joined them
                proc.kill()
            proc.join()
        cleanup(prefix)
    violations = [r[7] for r in reader_results if r[7]]
    return StressResult(
        publishes=publishes,
        writer_s=writer_s,
        writer_cpu_s=writer_cpu_s,
        moves=moves,
        books=books,
        readers=config.readers,
        reads=sum(r[0] for r in reader_results),
        reader_s=max((r[1] for r in reader_results), default=0.0),
        retries=sum(r[2] for r in reader_results),
        busy=sum(r[3] for r in reader_results),
        relocations=sum(r[4] for r in reader_results),
        torn_rejected=sum(r[5] for r in reader_results),
        violations=sum(r[6] for r in reader_results),
        first_violation=violations[0] if violations else None,
    )


def _expect(conn: Connection, proc: mp.process.BaseProcess, kind: str, deadline: float):
    """The next message from ``proc``, which must be ``kind``; raises if the
    process died or the deadline passed (never waits past it)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{proc.name}: no {kind!r} before the deadline")
        ready = wait([conn, proc.sentinel], remaining)
        if conn in ready:
            try:
                got, payload = conn.recv()
            except EOFError:
                raise RuntimeError(f"{proc.name} exited (code {proc.exitcode}) before {kind!r}") from None
            if got == "error":
                raise RuntimeError(f"{proc.name} failed:\n{payload}")
            if got != kind:
                raise RuntimeError(f"{proc.name}: expected {kind!r}, got {got!r}")
            return payload
        if proc.sentinel in ready and not conn.poll():
            proc.join()
            raise RuntimeError(f"{proc.name} exited (code {proc.exitcode}) before {kind!r}")
