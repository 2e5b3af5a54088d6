"""Lesson 1's experiments: what the single-threaded baseline can and cannot do.

Each experiment measures, then hands its figures to a pure ``*_findings``
function that picks every concluding sentence by comparing those figures
with the named thresholds below: the tests feed those functions contrasting
figures and check that the conclusion flips.
"""

from __future__ import annotations

from ..core.source import MessageSource
from ..engines import RunConfig, create_engine, phase_config, run_engine
from .base import Experiment, Plot, Progress, Report, Table, measure

_SEED = 7

_RUN_NOISE = 0.20
"""Two single runs whose figures differ by less than this share are called
the same. On the shared 2-core machine, repeats of one run moved throughput
and medians by up to about 20 % (lesson 2's reference runs; 2.3's control
row measures the same spread in its own run)."""

_KEPT_UP = 0.90
"""A paced run kept up when it achieved at least this share of the offered
rate: a short run's achieved rate wobbles a few percent around the offered
one (start-up, the opening snapshot array), never by a tenth."""

_NEAR_WORK = 1.5
"""Latency "near the work time" is at most this multiple of the work: one
message's work plus a little parsing and scheduling, not a queue."""

_WAITED_SHARE = 0.5
"""1.3: a query "waited for the message in hand" when its p99 reached at
least this share of one message's work (a query falling due at a random
moment waits half a message on average, a whole one at worst)."""


_NO_BACKLOG_SHARE = 0.05
"""1.1: no backlog built when at most this share of the lines sent (or two
lines) was still waiting when the feed stopped: the line in hand and the
one just sent are always there."""


def _config(**fields) -> RunConfig:
    return phase_config(1, RunConfig(seed=_SEED, **fields))


def _same(a: float, b: float, within: float = _RUN_NOISE) -> bool:
    """Whether ``a`` and ``b`` differ by less than ``within`` of the larger."""
    top = max(abs(a), abs(b))
    return top == 0 or abs(a - b) <= within * top


# ---------------------------------------------------------------- 1.1


class _TimedSource(MessageSource):
    """A paced source that also notes when the engine finished each line:
    the sync engine asks for line i + 1 only once line i is done, so the
    moment the generator resumes after a yield is line i's completion.
    One clock read per line; ``sent_ns`` and ``done_ns`` are on the
    source's clock (ns)."""

    def frames(self, clock=None):
        clock_now = (clock or self.clock).now_ns
        self.sent_ns: list[int] = []
        self.done_ns: list[int] = []
        for frame in super().frames(clock):
            self.sent_ns.append(frame.produced_ns)
            yield frame
            self.done_ns.append(clock_now())


def _timed_run(config: RunConfig, progress: Progress) -> tuple:
    progress(f"{config.engine}: {config.describe()} (timed lines)")
    source = _TimedSource.synthetic(config.source_config(), rate=config.rate, duration_s=config.duration_s)
    stats = run_engine(create_engine(config), source)
    return stats, source


def _per_second(times_ns: list[int], start_ns: int, window_s: float) -> list[tuple[float, float]]:
    """(window end in s since ``start_ns``, events per second in that window)
    for consecutive windows of ``window_s``. O(n)."""
    if not times_ns:
        return []
    width = int(window_s * 1e9)
    counts = [0] * ((max(times_ns) - start_ns) // width + 1)
    for t in times_ns:
        counts[max(0, t - start_ns) // width] += 1
    return [(round((i + 1) * window_s, 3), round(n / window_s, 1)) for i, n in enumerate(counts)]


def _backlog(sent_ns: list[int], done_ns: list[int], at_ns: int) -> int:
    """Lines sent by ``at_ns`` and not yet done then. O(n)."""
    return sum(1 for t in sent_ns if t <= at_ns) - sum(1 for t in done_ns if t <= at_ns)


def rate_sweep(quick: bool, progress: Progress) -> Report:
    """1.1: offered rate vs capacity at 5 ms of work per message.

    The top rate and the highest below capacity run on a ``_TimedSource``,
    so the report can plot lines done per 100 ms window over the run and
    measure the backlog at half-time and when the feed stopped."""
    work_ms = 5.0
    rates = [20, 100, 400] if quick else [10, 50, 100, 150, 190, 250, 500, 1000]
    seconds = 0.25 if quick else 1.0
    window_s = 0.05 if quick else 0.1
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
    below = [r for r in rates if r < capacity]
    timed_rates = {rates[-1], below[-1]} if below else {rates[-1]}
    plot = Plot(
        f"Phase 1 at {work_ms:g} ms of work: lines done per second, {window_s * 1000:g} ms windows",
        "time since the feed started (s)",
        "throughput (msg/s)",
    )
    backlog = None
    for rate in rates:
        config = _config(
            messages=max(5 if quick else 30, int(rate * seconds)), assets=2, rate=rate, work_ms=work_ms
        )
        if rate in timed_rates:
            stats, source = _timed_run(config, progress)
            start = source.started_ns
            for x, y in _per_second(source.done_ns, start, window_s):
                plot.add(f"done at {rate:g} msg/s offered", x, y)
            if rate == rates[-1]:
                for x, y in _per_second(source.sent_ns, start, window_s):
                    plot.add(f"sent at {rate:g} msg/s offered", x, y)
                feed_end = max(source.sent_ns)
                half = start + (feed_end - start) // 2
                backlog = {
                    "half": _backlog(source.sent_ns, source.done_ns, half),
                    "end": _backlog(source.sent_ns, source.done_ns, feed_end),
                    "lines": len(source.sent_ns),
                }
        else:
            stats = measure(config, progress)
        table.add(
            rate,
            round(stats.throughput, 1),
            round(stats.latency_ms.p50, 2),
            round(stats.latency_ms.p99, 2),
            round(stats.latency_ms.max, 2),
            round(stats.schedule_lag_ms.max, 2),
        )
    report = Report("1.1", "Rate vs capacity", [table], quick=quick, plots=[plot])
    report.findings.extend(rate_findings(table.rows, work_ms, backlog))
    top = table.rows[-1]
    kept = [row[0] for row in table.rows if row[1] >= _KEPT_UP * row[0]]
    report.headline = {
        "ceiling_msgs_per_s": top[1],
        "highest_rate_kept_up_msgs_per_s": max(kept) if kept else 0.0,
        "latency_max_at_top_rate_ms": top[4],
    }
    return report


def rate_findings(rows: list[list], work_ms: float, backlog: dict[str, int] | None) -> list[str]:
    """1.1's conclusions from its table rows (offered, achieved, p50, p99,
    max, lag max) and the top rate's backlog in lines (``half``: at half
    the feed's time, ``end``: when it stopped sending, ``lines``: sent)."""
    capacity = 1000 / work_ms
    below = [row for row in rows if row[0] < capacity]
    over = [row for row in rows if row[0] > capacity]
    findings = []
    if below:
        slow = [row for row in below if row[2] > _NEAR_WORK * work_ms]
        if not slow:
            findings.append(
                f"Capacity is 1 / {work_ms:g} ms = {capacity:.0f} msg/s; below it median latency stayed near the "
                f"work time ({min(r[2] for r in below):.1f} to {max(r[2] for r in below):.1f} ms)."
            )
        else:
            findings.append(
                f"Capacity is 1 / {work_ms:g} ms = {capacity:.0f} msg/s, yet below it median latency already "
                f"exceeded {_NEAR_WORK:g}x the work at {slow[0][0]:g} msg/s ({slow[0][2]:.1f} ms): something "
                "else held the thread too."
            )
    if not over:
        return findings
    top = over[-1]
    rate, achieved, latency_max = top[0], top[1], top[4]
    if achieved >= _KEPT_UP * rate:
        findings.append(
            f"At {rate:g} msg/s offered the engine achieved {achieved:.0f} msg/s and kept up: the work took "
            f"less than {work_ms:g} ms here, so capacity was above {rate:g} msg/s."
        )
    else:
        ceilings = [row[1] for row in over]
        if len(over) == 1:
            spread = "one thread cannot go past 1 / work, however hard the feed pushes."
        elif _same(min(ceilings), max(ceilings)):
            spread = (
                f"past capacity every rate gave {min(ceilings):.0f} to {max(ceilings):.0f} msg/s, the same "
                "within noise: pushing harder buys nothing."
            )
        else:
            spread = (
                f"past capacity the achieved rates spread from {min(ceilings):.0f} to {max(ceilings):.0f} "
                f"msg/s, more than noise ({_RUN_NOISE:.0%}): the ceiling moved during the sweep."
            )
        findings.append(f"At {rate:g} msg/s offered the engine achieved only {achieved:.0f} msg/s; " + spread)
    if backlog is not None:
        half, end = backlog["half"], backlog["end"]
        if end <= max(2, _NO_BACKLOG_SHARE * backlog["lines"]):
            findings.append(
                f"No backlog built at {rate:g} msg/s ({end} lines waiting when the feed stopped); the last "
                f"message waited {latency_max:.0f} ms."
            )
        elif end > (1 + _RUN_NOISE) * half:
            findings.append(
                f"The backlog grew for as long as the feed sent: {half} lines waiting at half-time, {end} when "
                f"it stopped, so the last message waited {latency_max:.0f} ms. Latency past capacity is the "
                "length of the queue, not a property of the engine."
            )
        else:
            findings.append(
                f"The backlog stopped growing: {half} lines waiting at half-time, {end} when the feed stopped "
                f"(the same within {_RUN_NOISE:.0%}); the last message waited {latency_max:.0f} ms."
            )
    return findings


# ---------------------------------------------------------------- 1.2


def work_sweep(quick: bool, progress: Progress) -> Report:
    """1.2: measured ceiling vs the theoretical 1 / work."""
    works = [0.0, 1.0, 5.0] if quick else [0.0, 1.0, 5.0, 10.0, 50.0]
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
        bare_messages = 5_000 if quick else 20_000
        messages = bare_messages if work_ms == 0 else max(10, int(seconds * 1000 / work_ms))
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
    report.findings.extend(work_findings(table.rows))
    rows = {row[0]: row for row in table.rows}
    report.headline = {
        "ceiling_no_work_msgs_per_s": rows[0.0][3],
        "overhead_per_msg_us": round(rows[0.0][2] * 1e3, 1),
        "measured_vs_ideal_at_5ms_pct": rows[5.0][4],
    }
    return report


def work_findings(rows: list[list]) -> list[str]:
    """1.2's conclusions from its rows (work asked ms, 1 / work, time per
    message ms, measured msg/s, % of 1 / work; "∞" and "-" without work)."""
    findings = []
    worked = [row for row in rows if row[0]]
    if worked:
        heaviest = worked[-1]
        work_ms, per_ms, measured, share = heaviest[0], heaviest[2], heaviest[3], heaviest[4]
        start = (
            f"With {work_ms:g} ms of work asked, each message held the thread {per_ms:.2f} ms and the engine "
            f"reached {measured:g} msg/s, {share}% of 1 / work: "
        )
        if _same(per_ms, work_ms, _NEAR_SHARE):
            findings.append(
                start + "on the line, since one thread handles one message at a time and throughput is the "
                "inverse of the time each message holds it."
            )
        elif per_ms < work_ms:
            findings.append(
                start
                + f"above the line, because the calibrated work ran {100 * (1 - per_ms / work_ms):.0f}% "
                "faster than asked; throughput is still the inverse of the time each message held the thread."
            )
        else:
            findings.append(
                start + f"below the line: each message cost {per_ms - work_ms:.2f} ms beyond its work "
                "(overhead, or another program holding the CPU), and throughput is the inverse of that total."
            )
    bare = next((row for row in rows if not row[0]), None)
    if bare is not None:
        findings.append(
            f"With no work at all a message still costs {bare[2] * 1e3:.1f} µs (generate, parse, update, "
            f"measure): that overhead is the ceiling of {bare[3]:,.0f} msg/s."
        )
    return findings


_NEAR_SHARE = 0.05
"""1.2: the time per message is "on" the work asked when within this share
of it: the calibrated loop drifts by a few percent with the CPU's speed."""


# ---------------------------------------------------------------- 1.3


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
    report.findings.extend(query_findings(table.rows))
    at_1ms = next(row for row in table.rows if row[0] == 1.0)
    report.headline = {"query_p50_at_1ms_work_us": at_1ms[3], "query_p99_at_1ms_work_us": at_1ms[4]}
    return report


def query_findings(rows: list[list]) -> list[str]:
    """1.3's conclusions from its rows (work ms, msg/s, queries, query p50,
    p99, max in µs): did queries wait for the message in hand?"""
    worked = [row for row in rows if row[0]]
    if not worked:
        return []
    last = worked[-1]
    work_us = last[0] * 1000
    p50_share, p99_share = last[3] / work_us, last[4] / work_us
    figures = (
        f"With {last[0]:g} ms of work, query p50 is {last[3] / 1000:.2f} ms ({p50_share:.0%} of a message's work) "
        f"and p99 {last[4] / 1000:.2f} ms ({p99_share:.0%}): "
    )
    if p99_share >= _WAITED_SHARE:
        return [
            figures + "a query that falls due mid-message waits for that message to finish, because the one "
            "thread cannot answer it sooner."
        ]
    return [
        figures
        + f"under {_WAITED_SHARE:.0%} of a message even at p99, so queries here rarely waited for the "
        "message in hand; look at how often they fell due mid-message."
    ]


# ---------------------------------------------------------------- 1.4


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
    report.findings.extend(asset_findings(table.rows, messages))
    first, last = table.rows[0], table.rows[-1]
    report.headline = {
        "processing_p50_fewest_assets_us": first[3],
        "processing_p50_most_assets_us": last[3],
        "throughput_most_vs_fewest_assets_x": round(last[2] / first[2], 2) if first[2] else 0.0,
    }
    return report


def asset_findings(rows: list[list], messages: int) -> list[str]:
    """1.4's conclusions from its rows (assets, snapshot messages, msg/s,
    processing p50 and p99 in µs), fewest assets first."""
    first, last = rows[0], rows[-1]
    share = [100 * row[1] / messages for row in (first, last)]
    figures = (
        f"Median processing went from {first[3]} µs ({first[0]:,} assets) to {last[3]} µs ({last[0]:,} assets), "
        f"and throughput from {first[2]:,} to {last[2]:,} msg/s, while snapshots went from {share[0]:.0f}% to "
        f"{share[1]:.0f}% of the messages. "
    )
    if _same(first[3], last[3]):
        verdict = (
            f"The median is the same within noise ({_RUN_NOISE:.0%}): finding a book is one dict lookup "
            "whatever the count."
        )
    elif last[3] > first[3]:
        verdict = (
            "The median rose by more than noise: finding a book is still one dict lookup, but more books "
            "spread over more memory than the caches hold, and the constant of that O(1) grows."
        )
    else:
        verdict = (
            "The median fell by more than noise with more books: the count cost nothing per message here."
        )
    if _same(first[2], last[2]):
        verdict += " Throughput held within noise."
    elif last[2] < first[2]:
        verdict += (
            " Throughput fell by more than noise: the stream opens with a snapshot of every book, and a "
            "snapshot is a heavy message."
        )
    return [figures + verdict]


# ---------------------------------------------------------------- 1.5


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
