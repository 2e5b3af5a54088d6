"""Lesson 4's experiments that need only the shared-memory book store.

4.2 (read/write interference) and 4.5 (snapshot encodings). 4.1, 4.3 and
4.4 compare whole engines and arrive with the ``shared-memory`` engine.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import time
import zlib
from collections.abc import Callable

import msgspec

from ..core.book import StateMachine
from ..core.messages import PriceLevel
from ..core.parser import Rejection, parse_line
from ..core.router import MessageRouter
from ..core.source import MessageSource, SourceConfig
from ..engines._shm import BookReader, BookStore, cleanup, new_prefix
from ..engines._shm import layout as L
from ..engines._shm.stress import StressConfig, StressResult, run_stress
from .base import Experiment, Progress, Report, Table

_SEED = 7
_VARIANTS = 50


def _best_us(fn: Callable[[], object], loops: int, repeats: int) -> float:
    """The best over ``repeats`` of the mean time of one call, in µs. The
    best, as ``timeit`` advises: on a shared machine noise only ever adds."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter_ns() - began) / loops / 1e3)
    return best


def _median_stress(config: StressConfig, repeats: int) -> StressResult:
    """The run with the median writer rate among ``repeats`` runs."""
    runs = sorted((run_stress(config) for _ in range(repeats)), key=lambda r: r.publishes_per_s)
    return runs[len(runs) // 2]


# ---------------------------------------------------------------- 4.2


def interference(quick: bool, progress: Progress) -> Report:
    """4.2: does a fast reader slow the writer, and is a torn read ever seen?"""
    report = Report("4.2", "Read/write interference", quick=quick)
    cores, load = os.cpu_count() or 1, os.getloadavg()[0]
    levels = 40  # a typical full book of the simulator, per side
    publishes = 5_000 if quick else 200_000
    repeats = 1 if quick else 3

    # A. the writer's rate alone and with a reader reading flat out
    table = Table(
        f"A. Writer republishing 16 books of {levels} levels a side, {publishes:,} publishes "
        f"({'1 run' if repeats == 1 else f'median of {repeats}'}; {cores} cores, load {load:.1f} at start)",
        ["readers", "publishes/s", "writer CPU (µs/publish)", "writer wall/CPU", "reads", "reads/s",
         "retries", "busy", "torn caught", "torn accepted"],
    )  # fmt: skip
    report.tables.append(table)
    by_readers = {}
    for readers in (0, 1):
        progress(f"stress: {readers} reader(s), {publishes:,} publishes")
        config = StressConfig(
            publishes=publishes, reads=None, readers=readers, books=16,
            min_levels=levels, max_levels=levels, grow_every=0,
        )  # fmt: skip
        r = by_readers[readers] = _median_stress(config, repeats)
        table.add(readers, round(r.publishes_per_s), round(r.cpu_us_per_publish, 2),
                  round(r.writer_s / r.writer_cpu_s, 2) if r.writer_cpu_s else "-",
                  r.reads, round(r.reads_per_s), r.retries, r.busy, r.torn_rejected, r.violations)  # fmt: skip

    # B. reader protocols against a writer rewriting one book: maximum contention
    reads = 3_000 if quick else 100_000
    hot_levels = 60 if quick else 200
    protocols = [
        ("no checks (naive reader)", dict(double_buffer=False, naive=True, checksum=False, verify=False)),
        ("seqlock, one buffer", dict(double_buffer=False, checksum=False, verify=False)),
        ("seqlock, double buffer", dict(double_buffer=True, checksum=False, verify=False)),
        ("double buffer + crc32", dict(double_buffer=True, checksum=True, verify=True)),
    ]
    proto = Table(
        f"B. One reader, {reads:,} reads of one book of {hot_levels} levels a side that the writer "
        "rewrites flat out",
        ["reader", "reads", "publishes meanwhile", "retries", "retries per 1000 reads", "busy",
         "torn caught", "torn accepted"],
    )  # fmt: skip
    report.tables.append(proto)
    by_protocol = {}
    for name, knobs in protocols:
        progress(f"stress: {name}, {reads:,} reads")
        r = by_protocol[name] = run_stress(
            StressConfig(
                reads=reads, books=1, min_levels=hot_levels, max_levels=hot_levels, grow_every=0, **knobs
            )
        )
        proto.add(name, r.reads, r.publishes, r.retries, round(1000 * r.retries / max(r.reads, 1), 2), r.busy,
                  r.torn_rejected, r.violations)  # fmt: skip

    # C. what the checks cost, one process, no contention
    loops, cost_repeats = (100, 3) if quick else (3000, 7)
    costs = Table(
        f"C. Cost of one publish and one read in one process (no contention), µs, best of {cost_repeats} x "
        f"{loops:,} loops",
        ["levels a side", "payload (B)", "publish", "publish, no crc32", "read all", "read all, no crc32",
         "read depth 10", "crc32 alone", "crc32 share of a read (%)"],
    )  # fmt: skip
    report.tables.append(costs)
    for per_side in (10, 40, 300):
        progress(f"costs: {per_side} levels a side")
        row = _costs(per_side, loops, cost_repeats)
        costs.add(per_side, *row)

    # Findings, from the numbers above.
    alone, shared = by_readers[0], by_readers[1]
    wall = shared.publishes_per_s / alone.publishes_per_s if alone.publishes_per_s else 0.0
    cpu = shared.cpu_us_per_publish / alone.cpu_us_per_publish if alone.cpu_us_per_publish else 0.0
    report.findings.append(
        f"With a reader reading flat out ({shared.reads_per_s:,.0f} reads/s) the writer managed "
        f"{wall:.2f}x its solo rate ({shared.publishes_per_s:,.0f} vs {alone.publishes_per_s:,.0f} publishes/s), "
        f"but its own CPU time per publish changed by {cpu:.2f}x ({shared.cpu_us_per_publish:.2f} vs "
        f"{alone.cpu_us_per_publish:.2f} µs). "
        + (
            "The reader does not slow the writer's work: it writes nothing the writer reads, so there is no "
            f"lock to wait for; what the writer lost was time waiting for one of the {cores} cores."
            if cpu < 1.15
            else "The writer's own work got slower: cache lines bouncing between the writer's and the reader's "
            "cores (or a busy machine) cost it CPU time."
        )
    )
    naive = by_protocol["no checks (naive reader)"]
    checked = [by_protocol[name] for name, _ in protocols[1:]]
    report.findings.append(
        f"Torn reads accepted: {naive.violations} of {naive.reads:,} reads with no checks "
        f"({100 * naive.violations / max(naive.reads, 1):.3f}%: rare, which is why they survive testing), "
        f"{sum(r.violations for r in checked)} with any seqlock, and {shared.violations} in table A."
    )
    single, double = by_protocol["seqlock, one buffer"], by_protocol["seqlock, double buffer"]
    report.findings.append(
        f"One buffer: {1000 * single.retries / max(single.reads, 1):.2f} retries per 1000 reads and "
        f"{single.busy} busy reads (the reader waits out every write, and a writer descheduled mid-write "
        f"stalls it); double buffer: {1000 * double.retries / max(double.reads, 1):.2f} retries and "
        f"{double.busy} busy, because the half being written is never the one being read."
    )
    crc_share = [row[-1] for row in costs.rows]
    caught = sum(r.torn_rejected for r in checked) + shared.torn_rejected
    report.findings.append(
        f"crc32 costs {min(crc_share):.0f}-{max(crc_share):.0f}% of a read; it caught {caught} torn copies "
        "that passed the sequence check here. On x86-64 the seqlock alone suffices (stores are not "
        "reordered with stores, loads not with loads); the checksum is the net for weaker memory models."
    )
    return report


def _costs(per_side: int, loops: int, repeats: int) -> list:
    book = StateMachine("cost")
    book.apply_snapshot([PriceLevel(999 - i, 10.0 + i) for i in range(per_side)],
                        [PriceLevel(1 + i, 5.0 + i) for i in range(per_side)])  # fmt: skip
    row: list = []
    for checksum in (True, False):
        prefix = new_prefix()
        try:
            with BookStore(prefix, checksum=checksum) as store, BookReader(prefix, verify=checksum) as reader:
                payload = store.publish(book)
                publish_us = _best_us(lambda: store.publish(book), loops, repeats)
                read_all = _best_us(lambda: reader.read("cost"), loops, repeats)
                read_10 = _best_us(lambda: reader.read("cost", 10), loops, repeats)
        finally:
            cleanup(prefix)
        row.append((payload, publish_us, read_all, read_10))
    (payload, pub_crc, read_crc, read10_crc), (_, pub_plain, read_plain, _) = row
    body = bytes(payload - 4)
    crc_us = _best_us(lambda: zlib.crc32(body), loops, repeats)
    return [payload, round(pub_crc, 2), round(pub_plain, 2), round(read_crc, 2), round(read_plain, 2),
            round(read10_crc, 2), round(crc_us, 2), round(100 * crc_us / read_crc, 1)]  # fmt: skip


# ---------------------------------------------------------------- 4.5


class _Snapshot(msgspec.Struct, array_like=True):
    asset_id: str
    as_of_ns: int
    version: int
    bid_prices: list[int]
    bid_sizes: list[float]
    ask_prices: list[int]
    ask_sizes: list[float]


_DEEP_LEVELS = 300


def _sample_books(quick: bool) -> list[tuple[str, StateMachine, int | None]]:
    """The top 10 and the whole of the largest book of a simulated stream,
    and a deep book (the stream's books are shallow; real ones need not be)."""
    router = MessageRouter()
    source = MessageSource.synthetic(SourceConfig(messages=5_000 if quick else 20_000, assets=20, seed=_SEED))
    for number, line in enumerate(source.wire_lines(), 1):
        for message in parse_line(line, number):
            if type(message) is not Rejection:
                router.apply(message)
    largest = max((router.get(a) for a in router.assets()), key=lambda b: sum(b.levels()))
    deep = StateMachine("deep")
    rng = random.Random(_SEED)
    deep.apply_snapshot(
        [PriceLevel(999 - i, round(rng.lognormvariate(5.0, 1.4), 2)) for i in range(_DEEP_LEVELS)],
        [PriceLevel(1 + i, round(rng.lognormvariate(5.0, 1.4), 2)) for i in range(_DEEP_LEVELS)],
    )
    return [("top 10 of the stream's largest book", largest, 10), ("the stream's largest book", largest, None),
            (f"a deep book ({_DEEP_LEVELS} a side)", deep, None)]  # fmt: skip


Columns = tuple[list[int], list[float], list[int], list[float]]
Pairs = tuple[list[tuple[int, float]], list[tuple[int, float]]]


def _codecs() -> dict[str, tuple[Callable[..., bytes], Callable[[bytes], Pairs]]]:
    """name -> (encode(asset, as_of_ns, version, columns), decode(bytes) -> (bids, asks)).

    Every codec starts from the same input, the four columns a book gives
    for free (``StateMachine.columns``), and must deliver the same output, a
    query's (price ticks, size) pairs best-first, so that the comparison is
    of the encodings and not of different amounts of work."""
    mp_encoder, mp_decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(_Snapshot)
    js_encoder, js_decoder = msgspec.json.Encoder(), msgspec.json.Decoder(_Snapshot)

    def packed_encode(asset: str, as_of: int, version: int, columns: Columns) -> bytes:
        n_bids, n_asks = len(columns[0]), len(columns[2])
        return L.encode_payload(L.encode_columns(*columns), n_bids, n_asks, as_of_ns=as_of, version=version,
                                entry=0, generation=0, book_levels=(n_bids, n_asks), flags=L.FLAG_CHECKSUM)  # fmt: skip

    return {
        "pickle (protocol 5)": (
            lambda a, t, v, c: pickle.dumps((a, t, v, *c), protocol=5),
            lambda raw: _pairs(pickle.loads(raw)[3:]),
        ),
        "json (stdlib)": (
            lambda a, t, v, c: json.dumps((a, t, v, *c), separators=(",", ":")).encode(),
            lambda raw: _pairs(json.loads(raw)[3:]),
        ),
        "msgspec json (Struct)": (
            lambda a, t, v, c: js_encoder.encode(_Snapshot(a, t, v, *c)),
            lambda raw: _struct_pairs(js_decoder.decode(raw)),
        ),
        "msgspec msgpack (Struct)": (
            lambda a, t, v, c: mp_encoder.encode(_Snapshot(a, t, v, *c)),
            lambda raw: _struct_pairs(mp_decoder.decode(raw)),
        ),
        _PACKED: (packed_encode, lambda raw: _pairs(L.decode_columns(raw))),
    }


_PACKED = "packed binary (this store)"


def _pairs(columns) -> Pairs:
    bid_prices, bid_sizes, ask_prices, ask_sizes = columns
    return list(zip(bid_prices, bid_sizes, strict=True)), list(zip(ask_prices, ask_sizes, strict=True))


def _struct_pairs(snapshot: _Snapshot) -> Pairs:
    return _pairs((snapshot.bid_prices, snapshot.bid_sizes, snapshot.ask_prices, snapshot.ask_sizes))


def encodings(quick: bool, progress: Progress) -> Report:
    """4.5: what one book snapshot costs in each encoding."""
    report = Report("4.5", "Snapshot encodings", quick=quick)
    loops, repeats = (200, 3) if quick else (3000, 7)
    codecs = _codecs()
    table = Table(
        f"One book snapshot: from the book's columns to bytes and back to (price, size) pairs "
        f"(best of {repeats} x {loops:,} loops)",
        ["book", "levels", "encoding", "size (B)", "encode (µs)", "decode (µs)", "size vs packed",
         "encode + decode vs packed"],
    )  # fmt: skip
    report.tables.append(table)
    summary = {}
    samples = _sample_books(quick)
    for label, book, depth in samples:
        columns = book.columns(depth)
        want = _pairs(columns)
        args = (book.asset_id, 1_764_000_000_000_000_000, 12_345, columns)
        rows = {}
        for name, (encode, decode) in codecs.items():
            progress(f"{label}: {name}")
            raw = encode(*args)
            if decode(raw) != want:
                raise AssertionError(f"{name} did not round-trip {label}")
            rows[name] = (len(raw), _best_us(lambda e=encode, a=args: e(*a), loops, repeats),
                          _best_us(lambda d=decode, r=raw: d(r), loops, repeats))  # fmt: skip
        base_size, base_enc, base_dec = rows[_PACKED]
        for name, (size, enc, dec) in rows.items():
            table.add(label, f"{len(columns[0])}+{len(columns[2])}", name, size, round(enc, 2), round(dec, 2),
                      f"{size / base_size:.2f}x", f"{(enc + dec) / (base_enc + base_dec):.2f}x")  # fmt: skip
        summary[label] = rows
    for label, rows in summary.items():
        smallest = min(rows, key=lambda n: rows[n][0])
        fastest = min(rows, key=lambda n: rows[n][1] + rows[n][2])
        packed, pickled = rows[_PACKED], rows["pickle (protocol 5)"]
        report.findings.append(
            f"{label}: smallest {smallest} ({rows[smallest][0]:,} B), fastest round trip {fastest} "
            f"({rows[fastest][1] + rows[fastest][2]:.1f} µs); packed {packed[0]:,} B in "
            f"{packed[1] + packed[2]:.1f} µs, pickle {pickled[0]:,} B in {pickled[1] + pickled[2]:.1f} µs."
        )

    # A slot is rewritten in place, so its size must not depend on the numbers in it.
    rng = random.Random(_SEED)
    label, book, _ = samples[1]
    bid_prices, _, ask_prices, _ = book.columns()
    spread = Table(
        f"Size over {_VARIANTS} versions of {label} ({len(bid_prices)}+{len(ask_prices)} levels, random sizes)",
        ["encoding", "min (B)", "max (B)", "max - min (B)"],
    )
    report.tables.append(spread)
    sizes: dict[str, list[int]] = {name: [] for name in codecs}
    for version in range(_VARIANTS):
        columns = (
            bid_prices, [round(rng.lognormvariate(5.0, 1.4), 2) for _ in bid_prices],
            ask_prices, [round(rng.lognormvariate(5.0, 1.4), 2) for _ in ask_prices],
        )  # fmt: skip
        for name, (encode, _) in codecs.items():
            sizes[name].append(len(encode(book.asset_id, time.perf_counter_ns(), version, columns)))
    for name, found in sizes.items():
        spread.add(name, min(found), max(found), max(found) - min(found))
    fixed = [name for name, found in sizes.items() if max(found) == min(found)]
    varying = {name: max(f) - min(f) for name, f in sizes.items() if max(f) != min(f)}
    report.findings.append(
        f"Across {_VARIANTS} versions of one book, {', '.join(fixed) or 'none'} kept one size; the others "
        f"varied by up to {max(varying.values(), default=0)} B. Only the packed layout also puts every field "
        "at a known offset: a reader reads the counts, copies exactly that many bytes and can stop after the "
        "top 10 levels; the others must be decoded whole."
    )
    return report


EXPERIMENTS = (
    Experiment("4.2", "Read/write interference",
               "Does a fast reader slow the writer, and is a torn read ever seen?", interference),
    Experiment("4.5", "Snapshot encodings",
               "What does one book snapshot cost in pickle, JSON, msgspec and a packed layout?", encodings),
)  # fmt: skip
