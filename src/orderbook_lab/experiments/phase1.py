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

    The same stream of level operations (``bench book``'s) through the naive
    book (``sorteddict``: a ``SortedDict`` per side, float keys), this
    project's previous book (``sortedlist``: a dict plus a ``SortedList`` of
    ticks) and the current one (``orderbook-lab``: a tick-indexed size table
    plus a plain sorted ``list``, cached best level), each in a fresh worker
    process; and the memory one book keeps. "update" is a level change plus
    a read of the best bid and ask, as the feed sends them."""
    from ..bench.book import MEMORY_LEVELS, BookStream, missing_reason, run_book_bench

    names = ["sorteddict", "sortedlist", "orderbook-lab"]
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
        "sortedlist": "sortedlist (previous)",
        "orderbook-lab": "orderbook-lab (now)",
        "order-book": "order-book (C)",
    }
    ours = bench.result("orderbook-lab")
    for result in bench.results:
        memory = result.bytes_per_book  # measured by the bench, in a fresh worker
        table.add(
            labels[result.name],
            round(result.ns_per_update, 1),
            round(result.ns_per_write, 1),
            round(result.ns_per_best, 1),
            round(result.us_per_depth10, 2),
            round(memory / 1024, 1),
            round(result.ns_per_update / ours.ns_per_update, 2),
        )
    report = Report("1.5", "Data structure under the book", [table], quick=quick)
    rows = {row[0]: row for row in table.rows}
    naive, previous, current = (rows[labels[n]] for n in ("sorteddict", "sortedlist", "orderbook-lab"))
    report.findings.append(
        f"The naive SortedDict book costs {naive[1]:.0f} ns per update against {current[1]:.0f} ns "
        f"({naive[6]:.2f}x): every write hashes a float and every read of its best runs SortedDict's "
        f"Python code ({naive[3]:.0f} ns for best bid+ask, against {current[3]:.0f} ns from a cached level)."
    )
    report.findings.append(
        f"The previous dict + SortedList book costs {previous[1]:.0f} ns per update ({previous[6]:.2f}x): its "
        f"writes take {previous[2]:.0f} ns against {current[2]:.0f} ns now, and a read of the best "
        f"{previous[3]:.0f} ns against {current[3]:.0f} ns, because SortedList indexing and the PriceLevel "
        "built on every read run Python code. With at most 999 prices a side, SortedList's O(log n) never "
        "pays for itself; a plain list with bisect moves a few KiB at worst."
    )
    lightest = min((row for row in table.rows if row is not current), key=lambda row: row[5])
    report.findings.append(
        f"What the current book trades for its speed is memory: {current[5]:.1f} KiB for a book of "
        f"{MEMORY_LEVELS} levels a side against {lightest[5]:.1f} KiB for {lightest[0]}; "
        f"for 10,000 books that is {current[5] * 10_000 / 1024:.0f} MiB against {lightest[5] * 10_000 / 1024:.0f} MiB."
    )
    if labels["order-book"] in rows:
        anchor = rows[labels["order-book"]]
        report.findings.append(
            f"The C extension order-book costs {anchor[1]:.0f} ns per update: writes are cheaper in C "
            f"({anchor[2]:.0f} ns against {current[2]:.0f} ns), but it sorts its keys again at the first read "
            f"after a write, so per update the current book needs {1 / anchor[6]:.2f}x its time."
        )
    return report


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
