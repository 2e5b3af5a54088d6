"""Lesson 1's experiments: what the single-threaded baseline can and cannot do."""

from __future__ import annotations

from ..engines import RunConfig, phase_config
from .base import Experiment, Progress, Report, Table, measure

_SEED = 7


def _config(**fields) -> RunConfig:
    return phase_config(1, RunConfig(seed=_SEED, **fields))


def rate_sweep(quick: bool, progress: Progress) -> Report:
    """1.1: offered rate vs capacity at 5 ms of work per message."""
    work_ms = 5.0
    rates = [20, 100, 400] if quick else [10, 50, 100, 150, 190, 250, 500, 1000]
    seconds = 0.25 if quick else 1.0
    table = Table(
        f"Phase 1 at {work_ms:g} ms of CPU work per message, paced",
        [
            "offered (msg/s)",
            "achieved (msg/s)",
            "latency p50 (ms)",
            "latency p99 (ms)",
            "latency max (ms)",
            "schedule lag max (ms)",
        ],
    )
    capacity = 1000 / work_ms
    worst_over = None
    for rate in rates:
        stats = measure(
            _config(
                messages=max(5 if quick else 30, int(rate * seconds)), assets=2, rate=rate, work_ms=work_ms
            ),
            progress,
        )
        table.add(
            rate,
            round(stats.throughput, 1),
            round(stats.latency_ms.p50, 2),
            round(stats.latency_ms.p99, 2),
            round(stats.latency_ms.max, 2),
            round(stats.schedule_lag_ms.max, 2),
        )
        if rate > capacity:
            worst_over = (rate, stats)
    report = Report("1.1", "Rate vs capacity", [table], quick=quick)
    report.findings.append(
        f"Capacity is 1 / {work_ms:g} ms = {capacity:.0f} msg/s; below it latency stays near the work time."
    )
    if worst_over is not None:
        rate, stats = worst_over
        report.findings.append(
            f"At {rate} msg/s offered the engine still achieved only {stats.throughput:.0f} msg/s; "
            f"the backlog grew for the whole run, so the last message waited {stats.latency_ms.max:.0f} ms."
        )
    return report


def work_sweep(quick: bool, progress: Progress) -> Report:
    """1.2: measured ceiling vs the theoretical 1 / work."""
    works = [1.0, 5.0] if quick else [0.0, 1.0, 5.0, 10.0, 50.0]
    seconds = 0.2 if quick else 1.5
    table = Table(
        "Phase 1 flat out: measured ceiling vs 1 / work",
        [
            "work asked (ms)",
            "1 / work (msg/s)",
            "time per msg (ms)",
            "measured (msg/s)",
            "measured / (1 / work) (%)",
        ],
    )
    report = Report("1.2", "Work per message vs throughput", [table], quick=quick)
    for work_ms in works:
        messages = 20_000 if work_ms == 0 else max(10, int(seconds * 1000 / work_ms))
        stats = measure(_config(messages=messages, assets=2, work_ms=work_ms), progress)
        measured = stats.throughput
        per_message_ms = stats.run_s * 1e3 / stats.processed
        ideal = 1000 / work_ms if work_ms else float("inf")
        table.add(
            work_ms,
            round(ideal, 1) if work_ms else "∞",
            round(per_message_ms, 4),
            round(measured, 1),
            round(100 * measured / ideal, 1) if work_ms else "-",
        )
    heaviest = table.rows[-1]
    report.findings.append(
        f"With {heaviest[0]:g} ms of work asked, each message held the thread {heaviest[2]:.2f} ms and the engine "
        f"reached {heaviest[3]:g} msg/s, {heaviest[4]}% of 1 / work: one thread, one message at a time, so "
        "throughput is the inverse of the time each message holds it, never more."
    )
    if not quick:
        bare = table.rows[0]
        report.findings.append(
            f"With no work at all a message still costs {bare[2] * 1e3:.1f} µs (generate, parse, update, "
            f"measure): that overhead is the ceiling of {bare[3]:,.0f} msg/s."
        )
    return report


def queries_under_load(quick: bool, progress: Progress) -> Report:
    """1.3: what a query waits for when processing shares its thread."""
    works = [0.0, 1.0] if quick else [0.0, 1.0, 5.0, 20.0]
    query_rate = 200.0
    seconds = 0.3 if quick else 2.0
    table = Table(
        f"Phase 1 flat out with {query_rate:g} queries/s",
        ["work (ms)", "msg/s", "queries", "query p50 (µs)", "query p99 (µs)", "query max (µs)"],
    )
    report = Report("1.3", "Queries during processing", [table], quick=quick)
    for work_ms in works:
        messages = 30_000 if work_ms == 0 else max(20, int(seconds * 1000 / work_ms))
        if quick and work_ms == 0:
            messages = 5_000
        stats = measure(
            _config(messages=messages, assets=10, work_ms=work_ms, query_rate=query_rate), progress
        )
        q = stats.query_latency_us
        table.add(
            work_ms, round(stats.throughput), stats.queries, round(q.p50, 1), round(q.p99, 1), round(q.max, 1)
        )
    last = table.rows[-1]
    report.findings.append(
        f"With {last[0]:g} ms of work, query p99 is {last[4] / 1000:.2f} ms: a query that falls due mid-message "
        "waits for that message to finish, because the one thread cannot answer it sooner."
    )
    return report


def asset_sweep(quick: bool, progress: Progress) -> Report:
    """1.4: does the per-message cost depend on how many books there are?"""
    counts = [10, 100] if quick else [10, 100, 1000, 10_000]
    messages = 5_000 if quick else 100_000
    table = Table(
        f"Phase 1 flat out, {messages:,} messages, no work",
        ["assets", "snapshot messages", "msg/s", "processing p50 (µs)", "processing p99 (µs)"],
    )
    report = Report("1.4", "Number of books vs cost per message", [table], quick=quick)
    for assets in counts:
        stats = measure(_config(messages=messages, assets=assets), progress)
        table.add(
            assets,
            stats.router.snapshots,
            round(stats.throughput),
            round(stats.processing_us.p50, 2),
            round(stats.processing_us.p99, 2),
        )
    first, last = table.rows[0], table.rows[-1]
    share = [100 * row[1] / messages for row in (first, last)]
    report.findings.append(
        f"Median processing went from {first[3]} µs ({first[0]:,} assets) to {last[3]} µs ({last[0]:,} assets), "
        f"while snapshots grew from {share[0]:.0f}% to {share[1]:.0f}% of the messages. Finding a book is one "
        "dict lookup whatever the count; what grows with the count is the share of heavy snapshot messages "
        "and the memory the books spread over."
    )
    return report


def book_structures(quick: bool, progress: Progress) -> Report:
    """1.5: the data structure under the book, measured on one seeded stream.

    The same stream of level operations (``bench book``'s mixed stream: 0.01
    and 0.001 markets) through the naive book (``sorteddict``: a
    ``SortedDict`` per side, float keys), this project's first book
    (``sortedlist``: a dict plus a ``SortedList`` of ticks), its second
    (``ticktable``: a size table indexed by the tick plus a sorted ``list``)
    and the current one (``orderbook-lab``: a dict plus a sorted ``list``,
    cached best level), each in a fresh worker process; and the memory one
    book of 50 levels a side keeps. "update" is a level change plus a read
    of the best bid and ask, as the feed sends them."""
    from ..bench.book import MEMORY_LEVELS, BookStream, missing_reason, run_book_bench

    names = ["sorteddict", "sortedlist", "ticktable", "orderbook-lab"]
    if missing_reason("order-book") is None:
        names.append("order-book")  # the C extension, as an anchor, when installed
    stream = BookStream(updates=5_000, books=8) if quick else BookStream()
    bench = run_book_bench(contenders=tuple(names), streams=(stream,), quick=quick, progress=progress)
    table = Table(
        f"Book structures on one stream: {stream.describe()}; memory: a book of {MEMORY_LEVELS} levels a side",
        [
            "structure",
            "update (ns)",
            "write only (ns)",
            "best bid+ask (ns)",
            "depth(10) (µs)",
            "memory per book (KiB)",
            "update vs now (x)",
        ],
    )
    labels = {
        "sorteddict": "sorteddict (naive)",
        "sortedlist": "sortedlist (first)",
        "ticktable": "tick table (second)",
        "orderbook-lab": "orderbook-lab (now)",
        "order-book": "order-book (C)",
    }
    ours = bench.result("orderbook-lab")
    for result in bench.results:
        table.add(
            labels[result.name],
            round(result.ns_per_update, 1),
            round(result.ns_per_write, 1),
            round(result.ns_per_best, 1),
            round(result.us_per_depth10, 2),
            round(result.bytes_per_book / 1024, 1),  # measured by the bench, in a fresh worker
            round(result.ns_per_update / ours.ns_per_update, 2),
        )
    report = Report("1.5", "Data structure under the book", [table], quick=quick)
    rows = {
        name: next(r for r in table.rows if r[0] == label) for name, label in labels.items() if name in names
    }
    report.findings.extend(structure_findings(rows))
    return report


def _than(ratio: float, noun: str = "time") -> str:
    """'1.31x the time' / 'the same time' / '0.80x the time', within 5%."""
    return f"the same {noun}" if abs(ratio - 1) < _SAME_WITHIN else f"{ratio:.2f}x the {noun}"


_SAME_WITHIN = 0.05
"""Two medians of 15 samples that differ by less than this share are called
the same: on a shared 2-core machine, repeated runs of ``bench book`` move
a contender's median by a few percent."""


def structure_findings(rows: dict[str, list]) -> list[str]:
    """1.5's conclusions, chosen by the figures. ``rows`` maps a contender
    name to its table row: label, update, write, best, depth, KiB, vs now."""
    now, table, naive = rows["orderbook-lab"], rows["ticktable"], rows["sorteddict"]
    first = rows["sortedlist"]
    findings = [
        f"The naive SortedDict book needs {_than(naive[1] / now[1])} of the current book per update "
        f"({naive[1]:.0f} ns against {now[1]:.0f}); reading its best levels costs {naive[3]:.0f} ns against "
        f"{now[3]:.0f} ns from a cached level.",
        f"The first book, a dict plus a SortedList, needs {_than(first[1] / now[1])} per update "
        f"({first[1]:.0f} ns): the same dict, but every read of its best indexes a SortedList in Python "
        f"({first[3]:.0f} ns against {now[3]:.0f} ns).",
    ]
    write_ratio, update_ratio = table[2] / now[2], table[1] / now[1]
    memory_ratio = table[5] / now[5]
    if write_ratio < 1 - _SAME_WITHIN:
        writes = f"writes faster than the dict ({table[2]:.0f} ns against {now[2]:.0f}: an index, no hash)"
    elif write_ratio > 1 + _SAME_WITHIN:
        writes = f"writes slower than the dict ({table[2]:.0f} ns against {now[2]:.0f}), its cache misses outweighing the hash it saves"
    else:
        writes = f"writes no faster than the dict ({table[2]:.0f} ns against {now[2]:.0f})"
    memory = (
        f"at 0.0001 ticks a book of it holds {table[5]:.1f} KiB against {now[5]:.1f} KiB ({memory_ratio:.0f}x), "
        f"{table[5] * 10_000 / 1024**2:.2f} GiB for 10,000 books against {now[5] * 10_000 / 1024:.0f} MiB"
    )
    if update_ratio < 1 - _SAME_WITHIN:
        verdict = (
            f"That is the trade the dict makes: {1 / update_ratio - 1:.0%} more time per update "
            f"for {memory_ratio:.0f}x less memory."
        )
    else:
        verdict = "So the table is not even faster here: the dict gives nothing up."
    findings.append(
        f"The tick table {writes}, and needs {_than(update_ratio)} per update; {memory}. {verdict}"
    )
    anchor = rows.get("order-book")
    if anchor is not None:
        vs_c = now[1] / anchor[1]
        verdict = (
            "less" if vs_c < 1 - _SAME_WITHIN else "more" if vs_c > 1 + _SAME_WITHIN else "about the same"
        )
        writes_c = "cheaper" if anchor[2] < now[2] else "dearer"
        memory_c = (
            "more"
            if now[5] > anchor[5] * (1 + _SAME_WITHIN)
            else "less"
            if now[5] < anchor[5] * (1 - _SAME_WITHIN)
            else "about the same"
        )
        findings.append(
            f"Against the C extension order-book the current book needs {verdict} time per update "
            f"({vs_c:.2f}x: {now[1]:.0f} ns against {anchor[1]:.0f}); C's writes are {writes_c} "
            f"({anchor[2]:.0f} ns against {now[2]:.0f}), and it sorts its keys again at the first read after a "
            f"write. In memory the two are {memory_c} ({now[5]:.2f} KiB against {anchor[5]:.2f})."
        )
    return findings


EXPERIMENTS = (
    Experiment("1.1", "Rate vs capacity", "What happens past 1 / work-time?", rate_sweep),
    Experiment("1.2", "Work per message vs throughput", "Is throughput capped at 1 / work?", work_sweep),
    Experiment(
        "1.3", "Queries during processing", "What does a query cost while processing?", queries_under_load
    ),
    Experiment(
        "1.4", "Number of books vs cost per message", "Does more books mean slower messages?", asset_sweep
    ),
    Experiment(
        "1.5",
        "Data structure under the book",
        "Which structure should hold a book's levels?",
        book_structures,
    ),
)
