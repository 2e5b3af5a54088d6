"""Lesson 2's experiments: what one event loop buys, and what it cannot.

Each experiment measures, then hands its figures to a pure ``*_findings``
function that picks every concluding sentence by comparing those figures
with the named thresholds below; the tests feed those functions
contrasting figures and check that the conclusion flips.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ..engines import RunConfig, RunStats, phase_config
from .base import Experiment, Plot, Progress, Report, Table, measure

_SEED = 7
_ASSETS = 10  # five YES/NO markets: five lanes in phase 2
_IO_MS = 2.0

_BATCHED_MIN = 1.5
"""Messages a batch below which a batch is one message with company now and
then: too few to delay anything, so a latency change is not batching's."""
_NOISE = 0.20
"""Two single runs whose figures differ by less than this share of the
larger are "the same within noise". On the shared 2-core machine, repeats
of one run moved throughput by up to about 20 % (lesson 2's reference
runs). 2.3 judges its flat-out cells by the spread of its own control
row instead, measured in the same run (see ``_BATCH_SLACK``)."""

_KEPT_UP = 0.90
"""A paced run kept up when it achieved at least this share of the offered
rate (short runs wobble by a few percent around it, never a tenth)."""

_LOAD_SHARE = 0.80
"""2.5 offers this share of the capacity measured flat out in the same run:
busy, but not saturated, so queries meet the load rather than a full queue."""


def _config(phase: int, **fields) -> RunConfig:
    return phase_config(phase, RunConfig(seed=_SEED, **fields))


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0


def _compare(a: float, b: float, within: float = _NOISE) -> int:
    """-1, 0 or 1: ``a`` below, within ``within`` (share of the larger) of,
    or above ``b``."""
    top = max(abs(a), abs(b))
    if top == 0 or abs(a - b) <= within * top:
        return 0
    return 1 if a > b else -1


# ---------------------------------------------------------------- 2.1


def io_rate_sweep(quick: bool, progress: Progress) -> Report:
    """2.1: sync vs asyncio as the offered rate grows, with 2 ms of awaited I/O."""
    rates = [200, 1500] if quick else [100, 250, 500, 1000, 2000, 4000]
    seconds = 0.25 if quick else 1.0
    table = Table(
        f"{_IO_MS:g} ms of I/O per message, {_ASSETS} assets, paced",
        [
            "offered (msg/s)",
            "sync (msg/s)",
            "asyncio (msg/s)",
            "asyncio / sync",
            "sync latency p99 (ms)",
            "asyncio latency p99 (ms)",
        ],
    )
    report = Report("2.1", "Sync vs asyncio on I/O-bound work", [table], quick=quick)
    top = None
    for rate in rates:
        fields = dict(messages=max(50, int(rate * seconds)), assets=_ASSETS, rate=rate, io_ms=_IO_MS)
        sync = measure(_config(1, **fields), progress)
        asyn = measure(_config(2, **fields), progress)
        table.add(
            rate,
            round(sync.throughput),
            round(asyn.throughput),
            _ratio(asyn.throughput, sync.throughput),
            round(sync.latency_ms.p99, 1),
            round(asyn.latency_ms.p99, 1),
        )
        top = (rate, sync, asyn)
    rate, sync, asyn = top
    lanes = asyn.asyncio.lanes.count if asyn.asyncio and asyn.asyncio.lanes else 0
    report.findings.extend(io_findings(table.rows, lanes))
    top_row = table.rows[-1]
    report.headline = {
        "asyncio_vs_sync_at_top_rate_x": top_row[3],
        "sync_at_top_rate_msgs_per_s": top_row[1],
        "asyncio_at_top_rate_msgs_per_s": top_row[2],
    }
    return report


def io_findings(rows: list[list], lanes: int) -> list[str]:
    """2.1's conclusions from its rows (offered, sync msg/s, asyncio msg/s,
    asyncio / sync, sync p99 ms, asyncio p99 ms) and asyncio's lane count."""
    rate, sync, asyn, ratio = rows[-1][:4]
    sync_ceiling = 1000 / _IO_MS
    verdict = {
        1: "while one lane awaits its I/O the loop runs the others.",
        0: f"no difference within noise ({_NOISE:.0%}): at this rate there was nothing for the overlap to win.",
        -1: "asyncio was slower: its task switches cost more than the overlap won here.",
    }[_compare(asyn, sync)]
    findings = [
        f"At {rate:,} msg/s offered, sync achieved {sync:,} msg/s (its ceiling is 1 / {_IO_MS:g} ms = "
        f"{sync_ceiling:.0f}) and asyncio {asyn:,} msg/s, {ratio}x: {verdict}"
    ]
    kept = {
        name: [row[0] for row in rows if row[col] >= _KEPT_UP * row[0]]
        for name, col in (("sync", 1), ("asyncio", 2))
    }
    knees = ", ".join(
        f"{name} up to {max(rates):,} msg/s" if rates else f"{name} at none of the rates"
        for name, rates in kept.items()
    )
    findings.append(f"Each kept up (at least {_KEPT_UP:.0%} of the offered rate): {knees}.")
    if lanes:
        ceiling = lanes * 1000 / _IO_MS
        if asyn >= _KEPT_UP * rate:
            where = "and kept up with the offered rate below it: the knee lies further on."
        elif asyn >= (1 - _NOISE) * ceiling:
            where = "and stopped near it: waits overlap across assets, never within one."
        else:
            where = f"and stopped at {asyn / ceiling:.0%} of it: something besides the waits held the loop."
        findings.append(
            f"asyncio ran {lanes} lanes (one per market), so its own ceiling is about {lanes} / {_IO_MS:g} ms = "
            f"{ceiling:,.0f} msg/s, {where}"
        )
    return findings


# ---------------------------------------------------------------- 2.2


def queue_size_sweep(quick: bool, progress: Progress) -> Report:
    """2.2: how big the ingress queue should be when the feed comes in bursts,
    then how the wait grows with the burst (a queue big enough for all)."""
    rate, burst = (2000, 250) if quick else (1500, 500)
    messages = 1000 if quick else 6000
    sizes = [10, 100, 1000, 10_000]
    bursts = [25, burst] if quick else [50, burst, 1000, 2000, 5000]
    runs = [("drop-newest", size) for size in sizes] + [("block", 10), ("drop-oldest", 100)]
    columns = [
        "policy",
        "queue size",
        "delivered (%)",
        "dropped",
        "latency p50 (ms)",
        "latency p99 (ms)",
        "latency max (ms)",
        "queue high water",
        "queue wait p99 (ms)",
    ]
    table = Table(f"asyncio, {_IO_MS:g} ms of I/O, {rate:,} msg/s offered in bursts of {burst}", columns)
    by_burst = Table(
        f"asyncio, {_IO_MS:g} ms of I/O, {rate:,} msg/s offered, drop-newest with {sizes[-1]:,} slots",
        [
            "burst (msgs)",
            "messages",
            "delivered (%)",
            "latency p99 (ms)",
            "queue wait p99 (ms)",
            "queue high water",
        ],
    )
    report = Report("2.2", "Queue size under bursts: latency vs drops", [table, by_burst], quick=quick)

    def run(policy: str, size: int, burst: int, messages: int) -> RunStats:
        config = _config(
            2,
            messages=messages,
            assets=_ASSETS,
            rate=rate,
            burst=burst,
            io_ms=_IO_MS,
            queue_size=size,
            backpressure=policy,
        )
        return measure(config, progress)

    results = {}
    for policy, size in runs:
        stats = results[policy, size] = run(policy, size, burst, messages)
        table.add(
            policy,
            size,
            round(100 * stats.processed / stats.generated, 1),
            stats.dropped_total,
            round(stats.latency_ms.p50, 1),
            round(stats.latency_ms.p99, 1),
            round(stats.latency_ms.max, 1),
            stats.queue_high_water,
            round(_wait_p99_ms(stats), 1),
        )
    plot = Plot(
        f"asyncio at {rate:,} msg/s in bursts, {sizes[-1]:,}-slot queue: wait vs burst size",
        "burst size (msgs)",
        "wait p99 (ms)",
        log_x=True,
    )
    for size in bursts:
        # At least two bursts, so the second meets whatever the first left.
        stats = results["drop-newest", sizes[-1]] if size == burst else None
        if stats is None:
            stats = run("drop-newest", sizes[-1], size, max(messages, 2 * size))
        wait_p99 = _wait_p99_ms(stats)
        by_burst.add(
            size,
            stats.generated,
            round(100 * stats.processed / stats.generated, 1),
            round(stats.latency_ms.p99, 1),
            round(wait_p99, 1),
            stats.queue_high_water,
        )
        plot.add("queue wait p99", size, round(wait_p99, 2))
        plot.add("latency p99 (from send)", size, round(stats.latency_ms.p99, 2))
    report.plots.append(plot)
    rows = {(row[0], row[1]): dict(zip(columns, row, strict=True)) for row in table.rows}
    report.findings.extend(queue_findings(rows, sizes, by_burst.rows))
    smallest = rows["drop-newest", sizes[0]]
    report.headline = {
        "delivered_10_slots_pct": smallest["delivered (%)"],
        "latency_p99_1000_slots_ms": rows["drop-newest", 1000]["latency p99 (ms)"],
        "queue_wait_p99_largest_burst_ms": by_burst.rows[-1][4],
    }
    return report


def queue_findings(rows: dict[tuple[str, int], dict], sizes: list[int], bursts: list[list]) -> list[str]:
    """2.2's conclusions. ``rows`` maps (policy, queue size) to the first
    table's row as column -> value; ``bursts`` are the second table's rows
    (burst, messages, delivered %, latency p99 ms, queue wait p99 ms, high
    water), smallest burst first."""
    small, big = rows["drop-newest", sizes[0]], rows["drop-newest", sizes[-1]]
    p99 = "latency p99 (ms)"
    fewer_drops = small["dropped"] > big["dropped"]
    costlier = _compare(big[p99], small[p99]) > 0
    if fewer_drops and costlier:
        verdict = "A queue trades loss for delay; it adds no capacity."
    elif fewer_drops:
        verdict = f"The bigger queue dropped less at no latency cost beyond noise ({_NOISE:.0%}): bursts were short."
    else:
        verdict = (
            "The bigger queue saved nothing from the drops: the bursts exceed what any slot count absorbs."
        )
    findings = [
        f"With drop-newest, a {sizes[0]}-slot queue delivered {small['delivered (%)']}% ({small['dropped']:,} "
        f"dropped) at a p99 latency of {small[p99]:.0f} ms; {sizes[-1]:,} slots dropped {big['dropped']:,} at "
        f"{big[p99]:.0f} ms. " + verdict
    ]
    mid = rows.get(("drop-newest", 1000))
    if mid is not None and sizes[-1] > 1000:
        same = _compare(mid[p99], big[p99]) == 0 and mid["dropped"] == big["dropped"] == 0
        findings.append(
            f"1,000 slots against {sizes[-1]:,}: p99 {mid[p99]:.0f} against {big[p99]:.0f} ms, high water "
            f"{mid['queue high water']:,} against {big['queue high water']:,}. "
            + (
                "Past the size of a burst, more slots change nothing."
                if same
                else "They differ: this burst needs more than 1,000 slots, or the runs differ by more than noise."
            )
        )
    block = rows["block", 10]
    wait, latency = block["queue wait p99 (ms)"], block[p99]
    upstream = _compare(latency, wait) > 0 and latency > 2 * wait
    findings.append(
        f"block with 10 slots dropped {block['dropped']} and its p99 latency was {latency:.0f} ms with a queue wait "
        f"p99 of {wait:.1f} ms: "
        + (
            "the backlog waited upstream, in the feed, where no queue statistic sees it; only latency from the "
            "send time does."
            if upstream
            else "the queue's own wait accounts for most of the latency, so little waited upstream in this run."
        )
    )
    if len(bursts) > 1:
        first, last = bursts[0], bursts[-1]
        grew = _compare(last[4], first[4]) > 0
        findings.append(
            f"With room for every burst, the queue wait p99 went from {first[4]:.1f} ms (bursts of {first[0]:,}) to "
            f"{last[4]:.1f} ms (bursts of {last[0]:,}): "
            + (
                "the wait grows with the burst, since a burst drains at the processing rate. Size a queue from "
                "the bursts you must absorb and the wait you can accept."
                if grew
                else f"no growth beyond noise ({_NOISE:.0%}): these bursts drained faster than they arrived."
            )
        )
    return findings


# ---------------------------------------------------------------- 2.3


def batch_grid(quick: bool, progress: Progress) -> Report:
    """2.3: batch size x batch timeout, paced (latency) and flat out (throughput)."""
    sizes = [1, 50] if quick else [1, 10, 50, 100, 500]
    timeouts = [0.0, 100.0] if quick else [0.0, 1.0, 10.0, 100.0]
    rate = 2000
    paced_messages = 400 if quick else 2000
    flat_messages = 3000 if quick else 20_000
    rounds = 1 if quick else 3
    grid = [(size, timeout) for size in sizes for timeout in timeouts]

    def config(size: int, timeout: float, **fields) -> RunConfig:
        return _config(2, assets=_ASSETS, batch_size=size, batch_timeout_ms=timeout, **fields)

    paced = {cell: measure(config(*cell, messages=paced_messages, rate=rate), progress) for cell in grid}
    flat: dict[tuple[int, float], list[RunStats]] = {cell: [] for cell in grid}
    for _ in range(rounds):  # every cell once a round: drifting machine load hits all cells alike
        for cell in grid:
            flat[cell].append(measure(config(*cell, messages=flat_messages), progress))
    base = grid[0]
    ratio = {
        cell: statistics.median(
            run.throughput / flat[base][r].throughput if flat[base][r].throughput else 0.0
            for r, run in enumerate(flat[cell])
        )
        for cell in grid
    }
    base_throughput = statistics.median(run.throughput for run in flat[base])

    def grid_table(title: str, value) -> Table:
        table = Table(title, ["batch size", *[f"timeout {t:g} ms" for t in timeouts]])
        for size in sizes:
            table.add(size, *[value((size, timeout)) for timeout in timeouts])
        return table

    def batch_of(stats: RunStats) -> float:
        return stats.asyncio.batching.mean_batch

    tables = [
        grid_table(f"paced at {rate:,} msg/s: latency p50 (ms)", lambda c: round(paced[c].latency_ms.p50, 2)),
        grid_table(f"paced at {rate:,} msg/s: messages per batch", lambda c: round(batch_of(paced[c]), 1)),
        grid_table(
            f"flat out: throughput vs batch 1, timeout 0 (= {base_throughput:,.0f} msg/s); median of {rounds}",
            lambda c: round(ratio[c], 2),
        ),
        grid_table(
            "flat out: messages per batch",
            lambda c: round(statistics.median(batch_of(r) for r in flat[c]), 1),
        ),
    ]
    report = Report("2.3", "Batch size x timeout", tables, quick=quick)
    big, long = sizes[-1], timeouts[-1]
    figures = {
        "unbatched_p50_ms": paced[base].latency_ms.p50,
        "waiting_p50_ms": paced[big, long].latency_ms.p50,
        "waiting_batch": batch_of(paced[big, long]),
        "no_wait_p50_ms": paced[big, 0.0].latency_ms.p50,
        "no_wait_batch": batch_of(paced[big, 0.0]),
        "control_spread": max(ratio[1, t] for t in timeouts) - min(ratio[1, t] for t in timeouts),
    }
    best = max(grid, key=ratio.get)
    report.findings.extend(batch_findings(figures, ratio, big, long))
    report.headline = {
        "latency_p50_unbatched_ms": round(figures["unbatched_p50_ms"], 2),
        "latency_p50_largest_batch_longest_timeout_ms": round(figures["waiting_p50_ms"], 2),
        "throughput_best_cell_vs_unbatched_x": round(ratio[best], 2),
    }
    return report


_BATCH_SLACK = 0.10
"""2.3: flat-out cells count as "the same" when their spread is within the
batch-1 row's own spread plus this much. In that row the timeout never
applies, so its spread is the noise of this run; the slack covers a
control row of only a few cells."""


def batch_findings(
    figures: dict[str, float], ratio: dict[tuple[int, float], float], big: int, long: float
) -> list[str]:
    """2.3's conclusions. ``figures``: paced median latencies (ms) and mean
    batches of batch 1 (``unbatched``), of (``big``, ``long``) (``waiting``)
    and of (``big``, 0) (``no_wait``), and ``control_spread``, the spread of
    the batch-1 row's flat-out ratios; ``ratio``: each (size, timeout)
    cell's flat-out throughput against batch 1, timeout 0."""
    unbatched, waiting, no_wait = (
        figures["unbatched_p50_ms"],
        figures["waiting_p50_ms"],
        figures["no_wait_p50_ms"],
    )
    findings = []
    cost = _compare(waiting, unbatched)
    findings.append(
        f"Paced, batch {big} with a {long:g} ms timeout gathered {figures['waiting_batch']:.1f} messages a batch "
        f"at a median latency of {waiting:.2f} ms, against {unbatched:.2f} ms unbatched: "
        + (
            "a batch that waits to fill charges the wait to every message in it."
            if cost > 0
            else f"no cost beyond noise ({_NOISE:.0%}), so the batches filled before the timeout mattered."
        )
    )
    findings.append(
        f"Timeout 0 takes only what is already queued: batch {big} gathered {figures['no_wait_batch']:.1f} a batch "
        f"at {no_wait:.2f} ms median. "
        + (
            "Size without a timeout adapts to the backlog; it never waits."
            if _compare(no_wait, unbatched) <= 0
            else "Here it cost latency beyond noise even without a timeout: the batches were large enough to "
            "delay their own last messages."
            if figures["no_wait_batch"] >= _BATCHED_MIN
            else "Its median was higher beyond noise, yet with about one message a batch batching cannot be "
            "the cause: that is the run's own variation (a busier moment of a shared machine)."
        )
    )
    low, high = min(ratio.values()), max(ratio.values())
    noise = figures["control_spread"]
    best = max(ratio, key=ratio.get)
    findings.append(
        f"Flat out, the cells ran at {low:.2f}x to {high:.2f}x the throughput of batch 1 with timeout 0; the best "
        f"was batch {best[0]}, timeout {best[1]:g} ms. The batch 1 row, where the timeout changes nothing, spread "
        f"by {noise:.2f} on its own: "
        + (
            "differences of that size are noise on this machine, so batching bought no throughput here. A batch "
            "saves the dispatcher a wake-up per message; next to the per-message work (parse, book, lane hop, "
            "measurement) that is little to save."
            if high - low <= noise + _BATCH_SLACK
            else f"the spread is larger than that (by more than {_BATCH_SLACK:.2f}), so some of it is batching: "
            "compare the best cell with the batch 1 row."
        )
    )
    return findings


# ---------------------------------------------------------------- 2.4


def _cpu_times() -> tuple[list[tuple[int, int]], float, float]:
    """Per-core (busy, total) jiffies from /proc/stat (empty where it does
    not exist), this process's CPU seconds (all threads), and wall seconds."""
    cores = []
    stat = Path("/proc/stat")
    if stat.exists():
        for line in stat.read_text().splitlines():
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
                idle = ticks[3] + ticks[4]
                cores.append((sum(ticks) - idle, sum(ticks)))
    times = os.times()
    return cores, times.user + times.system, time.perf_counter()


def _with_cpu(run: Callable[[], RunStats]) -> tuple[RunStats, float, list[float]]:
    """Run, and return (stats, cores this process used, each core's busy %)."""
    cores_before, cpu_before, wall_before = _cpu_times()
    stats = run()
    cores_after, cpu_after, wall_after = _cpu_times()
    used = (cpu_after - cpu_before) / (wall_after - wall_before)
    busy = [
        100 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        for (b0, t0), (b1, t1) in zip(cores_before, cores_after, strict=False)
    ]
    return stats, used, busy


def cpu_bound(quick: bool, progress: Progress) -> Report:
    """2.4: CPU-bound work on one event loop, and in threads beside it."""
    work_ms = 1.0
    messages = 300 if quick else 3000
    measure(_config(1, messages=5, assets=2, work_ms=work_ms))  # calibrate the work before timing
    core_count = len(_cpu_times()[0])
    table = Table(
        f"{work_ms:g} ms of CPU work per message, {_ASSETS} assets, flat out",
        [
            "engine",
            "CPU work runs",
            "msg/s",
            "vs sync",
            "process CPU (cores)",
            *[f"cpu{i} busy (%)" for i in range(core_count)],
        ],
    )
    report = Report("2.4", "CPU-bound work: async gains nothing", [table], quick=quick)
    runs = [
        ("sync", 1, "none", "in the loop"),
        ("asyncio", 2, "none", "on the event loop"),
        ("asyncio", 2, "thread", "in 4 threads"),
    ]
    results = []
    for engine, phase, offload, where in runs:
        config = _config(phase, messages=messages, assets=_ASSETS, work_ms=work_ms, offload=offload)
        stats, used, busy = _with_cpu(lambda config=config: measure(config, progress))
        results.append((engine, offload, stats, used))
        sync_thr = results[0][2].throughput
        table.add(
            engine,
            where,
            round(stats.throughput),
            _ratio(stats.throughput, sync_thr),
            round(used, 2),
            *[round(b) for b in busy],
        )
    sync, loop, threads = (r[2] for r in results)
    figures = {
        "loop_vs_sync_x": _ratio(loop.throughput, sync.throughput),
        "threads_vs_sync_x": _ratio(threads.throughput, sync.throughput),
        "most_cores": max(r[3] for r in results),
    }
    report.findings.extend(cpu_findings(figures, core_count))
    report.headline = {
        "asyncio_vs_sync_x": figures["loop_vs_sync_x"],
        "threads_vs_sync_x": figures["threads_vs_sync_x"],
        "process_cpu_max_cores": round(figures["most_cores"], 2),
    }
    return report


_ONE_CORE_SLACK = 0.15
"""2.4: a process "used one core" while its CPU time per wall second stayed
under 1 + this: start-up, the garbage collector and the C parts of the
loop can add a little beside the thread that holds the GIL."""


def cpu_findings(figures: dict[str, float], core_count: int) -> list[str]:
    """2.4's conclusions from ``loop_vs_sync_x`` and ``threads_vs_sync_x``
    (throughput against sync) and ``most_cores`` (the largest process CPU
    time per wall second of the three runs)."""
    loop, threads = figures["loop_vs_sync_x"], figures["threads_vs_sync_x"]

    def against_sync(ratio: float) -> str:
        return {0: "the same as sync within noise", 1: "faster than sync", -1: "slower than sync"}[
            _compare(ratio, 1.0)
        ]

    gained = _compare(loop, 1.0) > 0 or _compare(threads, 1.0) > 0
    findings = [
        f"On the loop, asyncio reached {loop}x sync's throughput ({against_sync(loop)}); with the work in threads "
        f"{threads}x ({against_sync(threads)}). "
        + (
            "Something overlapped here: look for work that released the GIL."
            if gained
            else "No task awaits anything, so there is nothing to overlap, and threads only take turns holding "
            "the GIL."
        )
    ]
    most = figures["most_cores"]
    findings.append(
        f"No run used more than {most:.2f} cores of this process's CPU time per second of wall time, on a "
        f"{core_count}-core machine: "
        + (
            "one interpreter runs one thread of Python at a time."
            if most <= 1 + _ONE_CORE_SLACK
            else "more than one core, so some of the work ran outside the GIL (C code that releases it)."
        )
        + " (The per-core columns are machine-wide: other programs' load shows there too.)"
    )
    return findings


# ---------------------------------------------------------------- 2.5


def queries_under_load(quick: bool, progress: Progress) -> Report:
    """2.5: 100 queries/s beside I/O-bound and CPU-bound processing.

    Per load and engine: a flat-out run without queries measures capacity;
    a flat-out run with queries says what they cost in throughput; a run
    paced at ``_LOAD_SHARE`` of that capacity, with queries, says what a
    query waits for under load (flat out, asyncio's queue is always full)."""
    query_rate = 100.0
    messages = 200 if quick else 2000
    loads = [("I/O 2 ms", {"io_ms": _IO_MS}), ("CPU 1 ms", {"work_ms": 1.0})]
    table = Table(
        f"{query_rate:g} queries/s, {_ASSETS} assets, paced at {_LOAD_SHARE:.0%} of the capacity measured",
        [
            "load",
            "engine",
            "capacity (msg/s)",
            "offered (msg/s)",
            "msg/s flat out, queries vs none",
            "queries answered",
            "query p50 (µs)",
            "query p99 (µs)",
            "query max (µs)",
        ],
    )
    report = Report("2.5", "Queries under load", [table], quick=quick)
    found = {}
    for label, load in loads:
        for engine, phase in (("sync", 1), ("asyncio", 2)):
            fields = dict(messages=messages, assets=_ASSETS, **load)
            quiet = measure(_config(phase, **fields), progress)
            busy = measure(_config(phase, query_rate=query_rate, **fields), progress)
            offered = round(_LOAD_SHARE * quiet.throughput)
            paced = measure(_config(phase, query_rate=query_rate, rate=offered, **fields), progress)
            q = paced.query_latency_us
            found[label, engine] = {
                "cost_x": _ratio(busy.throughput, quiet.throughput),
                "p50_us": q.p50,
                "p99_us": q.p99,
            }
            table.add(
                label,
                engine,
                round(quiet.throughput),
                offered,
                _ratio(busy.throughput, quiet.throughput),
                paced.queries,
                round(q.p50, 1),
                round(q.p99, 1),
                round(q.max, 1),
            )
    report.findings.extend(query_load_findings(found, query_rate))
    report.headline = {
        "io_query_p99_asyncio_us": round(found["I/O 2 ms", "asyncio"]["p99_us"], 1),
        "cpu_query_p99_asyncio_us": round(found["CPU 1 ms", "asyncio"]["p99_us"], 1),
        "cpu_query_p99_sync_us": round(found["CPU 1 ms", "sync"]["p99_us"], 1),
    }
    return report


def query_load_findings(found: dict[tuple[str, str], dict[str, float]], query_rate: float) -> list[str]:
    """2.5's conclusions. ``found`` maps (load, engine) for loads "I/O 2 ms"
    and "CPU 1 ms" and engines "sync" and "asyncio" to ``p50_us`` and
    ``p99_us`` (query latency, paced) and ``cost_x`` (flat-out throughput
    with queries against without)."""

    def versus(load: str) -> tuple[dict, dict, str]:
        a, s = found[load, "asyncio"], found[load, "sync"]
        word = {-1: "lower than", 0: "the same within noise as", 1: "higher than"}[
            _compare(a["p99_us"], s["p99_us"])
        ]
        return a, s, word

    findings = []
    a, s, word = versus("I/O 2 ms")
    figures = (
        f"I/O-bound, queries waited {a['p50_us']:,.0f} µs at the median with asyncio against {s['p50_us']:,.0f} µs "
        f"with sync; asyncio's p99 of {a['p99_us']:,.0f} µs was {word} sync's {s['p99_us']:,.0f} µs. "
    )
    if word == "lower than":
        figures += (
            f"A sync query waits for the message in hand, on average half of its {_IO_MS:g} ms wait; an asyncio "
            "query runs while the lanes await, once its timer fires."
        )
    elif word == "higher than":
        figures += (
            "The loop was busier than the waits suggest: an asyncio query waits for its timer (about a "
            "millisecond coarse) and for every task ready before it."
        )
    else:
        figures += "Neither way of waiting gave queries an edge here."
    findings.append(figures)
    a, s, word = versus("CPU 1 ms")
    figures = (
        f"CPU-bound, asyncio's query p99 was {a['p99_us']:,.0f} µs, {word} sync's {s['p99_us']:,.0f} µs. "
    )
    if word == "higher than":
        figures += (
            "The loop gives every ready task a turn before a new one runs: with each lane holding it for a "
            "message of CPU work, a query waits for all of their turns, where one thread makes it wait for one "
            "message."
        )
    elif word == "lower than":
        figures += "Few lanes were ready when queries fell due, so the loop's fairness cost them little here."
    else:
        figures += "Here the loop's turns and the one thread's message in hand cost a query about the same."
    findings.append(figures)
    costs = {key: value["cost_x"] for key, value in found.items()}
    low, high = min(costs.values()), max(costs.values())
    hurt = [f"{engine}, {load}" for (load, engine), x in costs.items() if _compare(x, 1.0) < 0]
    findings.append(
        f"Flat out, throughput with {query_rate:g} queries/s against none was {low:.2f}x to {high:.2f}x. "
        + (
            f"That is no difference within noise ({_NOISE:.0%}): a query reads one book in microseconds, so "
            f"{query_rate:g} a second cost the pipeline too little to see."
            if not hurt
            else f"Beyond noise ({_NOISE:.0%}) queries cost throughput in: {'; '.join(hurt)}."
        )
    )
    return findings


EXPERIMENTS = (
    Experiment(
        "2.1", "Sync vs asyncio on I/O-bound work", "How much do overlapping waits buy?", io_rate_sweep
    ),
    Experiment(
        "2.2", "Queue size under bursts: latency vs drops", "How big should the queue be?", queue_size_sweep
    ),
    Experiment("2.3", "Batch size x timeout", "What does a batch cost, and what does it save?", batch_grid),
    Experiment("2.4", "CPU-bound work: async gains nothing", "Does asyncio help CPU-bound work?", cpu_bound),
    Experiment(
        "2.5",
        "Queries under load",
        "What do 100 queries/s cost, and what do they wait for?",
        queries_under_load,
    ),
)


def _wait_p99_ms(stats: RunStats) -> float:
    """The ingress queue's wait p99 as the result shows it (3 decimals), so
    a table's figure is the JSON's, rounded again."""
    return round(stats.asyncio.queue.wait_p99_ms, 3)
