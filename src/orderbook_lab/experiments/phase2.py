"""Lesson 2's experiments: what one event loop buys, and what it cannot."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ..engines import RunConfig, RunStats, phase_config
from .base import Experiment, Progress, Report, Table, measure

_SEED = 7
_ASSETS = 10  # five YES/NO markets: five lanes in phase 2
_IO_MS = 2.0


def _config(phase: int, **fields) -> RunConfig:
    return phase_config(phase, RunConfig(seed=_SEED, **fields))


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0


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
    sync_ceiling = 1000 / _IO_MS
    report.findings.append(
        f"At {rate:,} msg/s offered, sync achieved {sync.throughput:,.0f} msg/s (its ceiling is 1 / {_IO_MS:g} ms = "
        f"{sync_ceiling:.0f}) and asyncio {asyn.throughput:,.0f} msg/s, {_ratio(asyn.throughput, sync.throughput)}x: "
        f"while one lane awaits its I/O the loop runs the others."
    )
    lanes = asyn.extra.get("lanes", {}).get("count", 0)
    if lanes:
        report.findings.append(
            f"asyncio ran {lanes} lanes (one per market), so its own ceiling is about {lanes} / {_IO_MS:g} ms = "
            f"{lanes * 1000 / _IO_MS:,.0f} msg/s: waits overlap across assets, never within one."
        )
    return report


# ---------------------------------------------------------------- 2.2


def queue_size_sweep(quick: bool, progress: Progress) -> Report:
    """2.2: how big the ingress queue should be when the feed comes in bursts."""
    rate, burst = (2000, 250) if quick else (1500, 500)
    messages = 1000 if quick else 6000
    sizes = [10, 100, 1000, 10_000]
    runs = [("drop-newest", size) for size in sizes] + [("block", 10), ("drop-oldest", 100)]
    table = Table(
        f"asyncio, {_IO_MS:g} ms of I/O, {rate:,} msg/s offered in bursts of {burst}",
        [
            "policy",
            "queue size",
            "delivered (%)",
            "dropped",
            "latency p50 (ms)",
            "latency p99 (ms)",
            "latency max (ms)",
            "queue high water",
            "queue wait p99 (ms)",
        ],
    )
    report = Report("2.2", "Queue size under bursts: latency vs drops", [table], quick=quick)
    results = {}
    for policy, size in runs:
        stats = measure(
            _config(
                2,
                messages=messages,
                assets=_ASSETS,
                rate=rate,
                burst=burst,
                io_ms=_IO_MS,
                queue_size=size,
                backpressure=policy,
            ),
            progress,
        )
        results[policy, size] = stats
        queue = stats.extra["queue"]
        table.add(
            policy,
            size,
            round(100 * stats.processed / stats.generated, 1),
            stats.dropped_total,
            round(stats.latency_ms.p50, 1),
            round(stats.latency_ms.p99, 1),
            round(stats.latency_ms.max, 1),
            stats.queue_high_water,
            round(queue["wait_ms"]["p99"], 1),
        )
    small, big = results["drop-newest", sizes[0]], results["drop-newest", sizes[-1]]
    traded = small.dropped_total > big.dropped_total and small.latency_ms.p99 < big.latency_ms.p99
    report.findings.append(
        f"With drop-newest, a {sizes[0]}-slot queue dropped {small.dropped_total:,} of {small.generated:,} messages "
        f"at a p99 latency of {small.latency_ms.p99:.0f} ms; {sizes[-1]:,} slots dropped {big.dropped_total:,} "
        f"at {big.latency_ms.p99:.0f} ms. "
        + (
            "A queue trades loss for delay; it adds no capacity."
            if traded
            else "This run did not show the usual trade of loss for delay; rerun it on a quieter machine."
        )
    )
    block = results["block", 10]
    report.findings.append(
        f"block with 10 slots dropped {block.dropped_total} and its p99 was {block.latency_ms.p99:.0f} ms with a "
        f"queue wait p99 of only {block.extra['queue']['wait_ms']['p99']:.1f} ms: the backlog waited upstream, "
        f"in the feed, where no queue statistic sees it; only latency from the send time does."
    )
    return report


# ---------------------------------------------------------------- 2.3


def batch_grid(quick: bool, progress: Progress) -> Report:
    """2.3: batch size x batch timeout, paced (latency) and flat out (throughput)."""
    sizes = [1, 64] if quick else [1, 8, 64, 512]
    timeouts = [0.0, 5.0] if quick else [0.0, 1.0, 10.0]
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
        return stats.extra["batching"]["mean_batch"]

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
    unbatched, slow, free = paced[base], paced[big, long], paced[big, 0.0]
    report.findings.append(
        f"Paced, batch {big} with a {long:g} ms timeout gathered {batch_of(slow):.1f} messages a batch and a "
        f"median latency of {slow.latency_ms.p50:.2f} ms, against {unbatched.latency_ms.p50:.2f} ms unbatched: a "
        f"batch that waits to fill charges the wait to every message in it."
    )
    report.findings.append(
        f"Timeout 0 takes only what is already queued: batch {big} gathered {batch_of(free):.1f} a batch at "
        f"{free.latency_ms.p50:.2f} ms median. Size without a timeout adapts to the backlog; it never waits."
    )
    low, high = min(ratio.values()), max(ratio.values())
    # With batch size 1 the timeout never applies, so that row differs by noise alone.
    same = [ratio[1, timeout] for timeout in timeouts]
    noise = max(same) - min(same)
    best = max(grid, key=ratio.get)
    report.findings.append(
        f"Flat out, the cells ran at {low:.2f}x to {high:.2f}x the throughput of batch 1 with timeout 0; the best "
        f"was batch {best[0]}, timeout {best[1]:g} ms. The batch 1 row, where the timeout changes nothing, spread "
        f"by {noise:.2f} on its own: "
        + (
            "differences of that size are noise on this machine. "
            if high - low <= noise + 0.1
            else "the spread is larger than that, so some of it is batching. "
        )
        + "A batch saves the dispatcher a wake-up per message; next to the per-message work (parse, book, "
        "lane hop, measurement) that is little to save."
    )
    return report


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
    most = max(r[3] for r in results)
    report.findings.append(
        f"On the loop, asyncio reached {_ratio(loop.throughput, sync.throughput)}x sync's throughput; with the work "
        f"in threads {_ratio(threads.throughput, sync.throughput)}x. No task awaits anything, so there is nothing to "
        f"overlap, and threads only take turns holding the GIL."
    )
    report.findings.append(
        f"No run used more than {most:.2f} cores of this process's CPU time per second of wall time, on a "
        f"{core_count}-core machine: one interpreter runs one thread of Python at a time. (The per-core columns "
        f"are machine-wide: other programs' load shows there too.)"
    )
    return report


# ---------------------------------------------------------------- 2.5


def queries_under_load(quick: bool, progress: Progress) -> Report:
    """2.5: 100 queries/s beside I/O-bound and CPU-bound processing."""
    query_rate = 100.0
    messages = 300 if quick else 2000
    loads = [("I/O 2 ms", {"io_ms": _IO_MS}), ("CPU 1 ms", {"work_ms": 1.0})]
    table = Table(
        f"{query_rate:g} queries/s, {_ASSETS} assets, flat out",
        [
            "load",
            "engine",
            "msg/s",
            "msg/s vs no queries",
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
            found[label, engine] = (quiet, busy)
            q = busy.query_latency_us
            table.add(
                label,
                engine,
                round(busy.throughput),
                _ratio(busy.throughput, quiet.throughput),
                busy.queries,
                round(q.p50, 1),
                round(q.p99, 1),
                round(q.max, 1),
            )
    io_quiet, io_busy = found["I/O 2 ms", "asyncio"]
    cpu_quiet, cpu_busy = found["CPU 1 ms", "asyncio"]
    sync_io, sync_cpu = found["I/O 2 ms", "sync"][1], found["CPU 1 ms", "sync"][1]

    def versus(a: RunStats, b: RunStats) -> str:
        return "lower" if a.query_latency_us.p99 < b.query_latency_us.p99 else "higher"

    a, b = io_busy.query_latency_us, sync_io.query_latency_us
    report.findings.append(
        f"I/O-bound, queries waited {a.p50:,.0f} µs at the median with asyncio against {b.p50:,.0f} µs with sync "
        f"(p99 {a.p99:,.0f} against {b.p99:,.0f} µs). A sync query waits for the message in hand, on average half "
        f"of its {_IO_MS:g} ms wait; an asyncio query runs while the lanes await, once its timer fires "
        f"(event-loop timers are about a millisecond coarse) and the tasks ready before it have had their turn."
    )
    lanes = cpu_busy.extra.get("lanes", {}).get("count", 0)
    report.findings.append(
        f"CPU-bound, asyncio's query p99 was {cpu_busy.query_latency_us.p99:,.0f} µs, {versus(cpu_busy, sync_cpu)} "
        f"than sync's {sync_cpu.query_latency_us.p99:,.0f} µs. The loop gives every ready task a turn before a new "
        f"one runs: with {lanes} lanes each holding it for a message of CPU work, a query waits for all of their "
        f"turns, where one thread makes it wait for one message."
    )
    report.findings.append(
        f"Throughput with {query_rate:g} queries/s against none: {_ratio(io_busy.throughput, io_quiet.throughput)}x "
        f"(asyncio, I/O) and {_ratio(cpu_busy.throughput, cpu_quiet.throughput)}x (asyncio, CPU). A query reads "
        f"one book in microseconds, so {query_rate:g} a second should cost the pipeline well under 1 %; "
        f"differences of a few percent either way are run-to-run noise on a shared machine."
    )
    return report


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
