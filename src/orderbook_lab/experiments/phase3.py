"""Lesson 3's experiments: what worker processes buy, and what they cost."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import statistics
import time
from multiprocessing.connection import Connection

from ..core.metrics import LatencyHistogram
from ..core.parser import Rejection, parse_line
from ..engines import RunConfig, RunStats, phase_config
from .base import Experiment, Plot, Progress, Report, Table, measure

_SEED = 1
_CORES = os.cpu_count() or 1


def _config(engine: str, **fields) -> RunConfig:
    base = RunConfig(seed=_SEED, **fields)
    if engine == "sync":
        return phase_config(1, base)
    if engine == "multiprocessing":
        return phase_config(3, base)
    return RunConfig(**{**base.as_dict(), "engine": engine})


def _cpu_per_message_ms(stats: RunStats) -> float:
    """CPU the workers' threads really got, per processed message (ms)."""
    cpu_s = sum(w.cpu_s for w in stats.pool.workers)
    return cpu_s * 1e3 / stats.processed if stats.processed else 0.0


def _speed(stats: RunStats, sync: RunStats) -> float:
    """A pool message's CPU cost over sync's time per message. The work is a
    fixed, calibrated loop, but on a shared virtual machine the same loop
    does not always take the same time; dividing it out separates "more
    cores" from "faster cores". (Sync's processing time is wall time: fair
    while nothing else takes its core.)"""
    return _cpu_per_message_ms(stats) / (sync.processing_us.p50 / 1e3) if sync.processing_us.p50 else 1.0


_SAME_WITHIN = 0.10
"""Two figures from single runs that differ by less than this share are
called the same ("no difference within noise"): on this shared 2-core
machine, repeating a flat-out run moves its throughput, or a median of a
few hundred µs-scale timings, by several percent."""

_LATENCY_SAME_WITHIN = 0.5
"""Tail latencies (p99 of a few hundred queries) are noisier: a p99 is
called changed only if it moved by more than this share (1.5x up, or down
to under 0.67x)."""

_STOLEN_PCT = 10.0
"""Busy-but-not-on-CPU time above this many percentage points is reported
as time other processes took; below it, as noise of the accounting."""

_PARALLEL_X = 1.5
"""3.1: threads count as running in parallel only past this throughput
ratio, half a core more than sync: anything less is overlap of waits."""

_FIXED_COST_RATIO = 2.0
"""3.2: if ten times the bytes cost less than this many times the round
trip, the fixed per-message cost dominates."""

_EVEN_WITHIN = 0.05
"""3.4: a placement whose busiest worker has less than this share above the
mean is called even (placement is deterministic: no timing noise)."""


def _by(ratio: float, more: str, less: str, within: float = _SAME_WITHIN) -> str:
    """A ratio in words, right way up: '3.20x more', '1.25x less' (for 0.80),
    or 'no different (within noise, ±10%)'."""
    if ratio > 1 + within:
        return f"{ratio:.2f}x {more}"
    if ratio < 1 / (1 + within) and ratio > 0:
        return f"{1 / ratio:.2f}x {less}"
    return f"no different (within noise, ±{within:.0%})"


def _busy_and_cpu(stats: RunStats) -> tuple[float, float]:
    """Mean share of the run each worker was busy (wall clock) and got the
    CPU, in %: the gap is time other processes took from it."""
    workers = stats.pool.workers
    return (100 * statistics.fmean(w.busy_share for w in workers),
            100 * statistics.fmean(w.cpu_share for w in workers))  # fmt: skip


# --------------------------------------------------------------------- 3.1


def scaling(quick: bool, progress: Progress) -> Report:
    """3.1: throughput vs worker count, processes and threads, CPU-bound."""
    work_ms = 1.0 if quick else 2.0
    messages = 300 if quick else 3000
    counts = [1, 2, 4] if quick else [1, 2, 4, 8, 16]
    table = Table(
        f"{messages:,} messages, 16 assets, {work_ms:g} ms of CPU work each, flat out",
        ["engine", "workers", "msg/s", "vs sync (x)", "CPU per msg (ms)", "same-speed (x)", "busy (%)",
         "CPU got (%)", "max/mean", "startup (s)"],
    )  # fmt: skip
    report = Report("3.1", "Throughput vs workers: processes and threads", [table], quick=quick)
    sync = measure(_config("sync", messages=messages, assets=16, work_ms=work_ms), progress)
    table.add("sync", 1, round(sync.throughput, 1), 1.0, round(sync.processing_us.p50 / 1e3, 3), 1.0, 100.0,
              "-", 1.0, round(sync.startup_s, 3))  # fmt: skip
    results: dict[tuple[str, int], RunStats] = {}
    for engine in ("multiprocessing", "threads"):
        for count in counts:
            stats = measure(
                _config(engine, messages=messages, assets=16, work_ms=work_ms, processes=count), progress
            )
            results[engine, count] = stats
            ratio = stats.throughput / sync.throughput
            same_speed = ratio * _speed(stats, sync)
            busy, cpu = _busy_and_cpu(stats)
            table.add(engine, count, round(stats.throughput, 1), round(ratio, 2),
                      round(_cpu_per_message_ms(stats), 3), round(same_speed, 2), round(busy, 1), round(cpu, 1),
                      stats.pool.load_balance.max_over_mean, round(stats.startup_s, 3))  # fmt: skip
    figures = {
        "cores": _CORES,
        "sync_cpu_ms": sync.processing_us.p50 / 1e3,
        "runs": {
            (engine, count): {
                "ratio": stats.throughput / sync.throughput,
                "same_speed": stats.throughput / sync.throughput * _speed(stats, sync),
                "cpu_ms": _cpu_per_message_ms(stats),
                "busy_cpu": _busy_and_cpu(stats),
            }
            for (engine, count), stats in results.items()
        },
    }
    report.findings += scaling_findings(figures)
    cores = min(_CORES, max(counts))
    runs = figures["runs"]
    report.headline = {
        "processes_vs_sync_x": round(runs["multiprocessing", cores]["ratio"], 2),
        "processes_same_speed_x": round(runs["multiprocessing", cores]["same_speed"], 2),
        "threads_best_vs_sync_x": round(max(runs["threads", c]["ratio"] for c in counts), 2),
    }
    return report


def scaling_findings(figures: dict) -> list[str]:
    """3.1's conclusions, chosen by the figures. ``figures``: ``cores``,
    ``sync_cpu_ms`` and ``runs[(engine, count)]`` with ``ratio`` (throughput
    vs sync), ``same_speed`` (ratio at sync's cost per message), ``cpu_ms``
    and ``busy_cpu`` (busy %, CPU got %). Noise: ``_SAME_WITHIN``."""
    runs, machine = figures["runs"], figures["cores"]
    counts = sorted(c for e, c in runs if e == "multiprocessing")
    cores = min(machine, max(counts))
    at = runs["multiprocessing", cores]
    ratio, same = at["ratio"], at["same_speed"]
    if same >= cores * (1 - _SAME_WITHIN):
        verdict = f"at equal cost the pool scaled to the {cores} cores"
    elif same > 1 + _SAME_WITHIN:
        verdict = f"at equal cost the pool scaled, but to {100 * same / cores:.0f}% of {cores} cores' worth"
    else:
        verdict = "even at equal cost the pool was no faster than sync (within noise, ±10%)"
    findings = [
        f"With {cores} worker processes (one per core of this {machine}-core machine) throughput was {ratio:.2f}x "
        f"sync, {100 * ratio / cores:.0f}% of the ideal {cores}.0x. The same calibrated loop cost "
        f"{at['cpu_ms']:.2f} ms of CPU per message in a worker against {figures['sync_cpu_ms']:.2f} ms in sync; "
        f"{verdict} ({same:.2f}x)."
    ]
    busy, cpu = at["busy_cpu"]
    if busy - cpu > _STOLEN_PCT:
        stolen = (
            "the gap is time other processes on this shared machine took from them, and the ratio above "
            "shrinks with it"
        )
    else:
        stolen = f"within {_STOLEN_PCT:g} points, so they got a core whenever they had work"
    findings.append(
        f"Those {cores} workers were busy {busy:.0f}% of the run by the clock and got the CPU for {cpu:.0f}% "
        f"of it: {stolen}."
    )
    beyond = [c for c in counts if c > machine]
    if beyond:
        best = max(counts, key=lambda c: runs["multiprocessing", c]["ratio"])
        most = runs["multiprocessing", beyond[-1]]["ratio"]
        tail = ", ".join(f"{c}: {runs['multiprocessing', c]['ratio']:.2f}x" for c in beyond)
        change = most / ratio if ratio else 1.0
        if change < 1 / (1 + _SAME_WITHIN):
            why = (
                f"fell ({_by(change, 'more', 'lower')} than at {cores}): extra workers take turns on the same "
                "cores, each spawn costs start-up, and the parent waits behind them for a core whenever it "
                "wakes to refill a queue"
            )
        elif change > 1 + _SAME_WITHIN:
            why = (
                f"still rose ({change:.2f}x the rate at {cores}): the machine had CPU the {cores} workers did "
                "not use, for instance while the parent parsed"
            )
        else:
            why = "stayed level (within noise, ±10%): no more CPU to use, and no visible cost for the extra workers"
        findings.append(f"The best count was {best}; past {machine} workers ({tail}) throughput {why}.")
    threads = [runs["threads", c]["ratio"] for c in counts if ("threads", c) in runs]
    if max(threads) <= 1 + _SAME_WITHIN:
        gil = (
            "no faster than sync (within noise, ±10%): one GIL, so the CPU work of all worker threads (and the "
            "parent's parsing) runs one at a time"
        )
    elif max(threads) < _PARALLEL_X:
        gil = (
            f"a little faster than sync, far from {cores}.0x: one GIL still runs the work one thread at a time; "
            "what they gained is the parent parsing while a worker waits"
        )
    else:
        gil = (
            f"above {_PARALLEL_X:g}x, so the threads ran in parallel: this Python may be a free-threaded build, "
            "or the work released the GIL"
        )
    findings.append(
        f"Threads gave between {min(threads):.2f}x and {max(threads):.2f}x sync's throughput: {gil}."
    )
    return findings


# --------------------------------------------------------------------- 3.2


def _echo(conn: Connection) -> None:
    """Echo worker for 3.2: send back every payload until end-of-file."""
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass
    finally:
        conn.close()


def _median_ns(samples: list[int]) -> float:
    return statistics.median(samples)


def ipc_cost(quick: bool, progress: Progress) -> Report:
    """3.2: a pipe round trip to another process vs an in-process call."""
    sizes = [100, 1_000, 10_000, 100_000, 1_000_000]
    reps = 30 if quick else 300
    table = Table(
        f"Round trip of a bytes payload, median of {reps}",
        [
            "payload (B)",
            "in-process call (µs)",
            "in-process copy (µs)",
            "pipe round trip (µs)",
            "one way (µs)",
            "one way (MB/s)",
            "round trip vs call (x)",
        ],
    )
    report = Report("3.2", "IPC cost vs message size", [table], quick=quick)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    worker = context.Process(target=_echo, args=(child,), name="orderbook-lab-echo", daemon=True)
    progress("spawning an echo process")
    worker.start()
    child.close()
    now = time.perf_counter_ns
    try:
        for size in sizes:
            progress(f"payload {size:,} B")
            payload = os.urandom(size)
            call, copy, trip = [], [], []
            for _ in range(reps):
                began = now()
                _identity(payload)
                call.append(now() - began)
                began = now()
                bytearray(payload)
                copy.append(now() - began)
                began = now()
                parent.send_bytes(payload)
                parent.recv_bytes()
                trip.append(now() - began)
            call_us, copy_us, trip_us = (_median_ns(s) / 1e3 for s in (call, copy, trip))
            one_way_us = trip_us / 2
            table.add(
                size,
                round(call_us, 3),
                round(copy_us, 3),
                round(trip_us, 1),
                round(one_way_us, 1),
                round(size / one_way_us, 1),
                round(trip_us / max(call_us, 0.001)),
            )
    finally:
        parent.close()  # EOF: the echo process leaves
        worker.join(5)
        if worker.is_alive():
            worker.terminate()
            worker.join()
    report.findings += ipc_findings(table.rows)
    report.headline = {
        "small_round_trip_us": table.rows[0][3],
        "large_one_way_mb_s": table.rows[-1][5],
    }
    return report


def ipc_findings(rows: list[list]) -> list[str]:
    """3.2's conclusions from its rows (payload B, call µs, copy µs, round
    trip µs, one way µs, MB/s, vs call), smallest payload first. The fixed
    cost dominates if ten times the bytes cost under ``_FIXED_COST_RATIO``
    times the round trip."""
    small, next_up, large = rows[0], rows[1], rows[-1]
    growth = next_up[3] / small[3] if small[3] else 1.0
    if growth < _FIXED_COST_RATIO:
        batching = (
            f"{next_up[0] // small[0]}x the bytes cost {growth:.2f}x the time: the fixed cost (system calls "
            "and a wake-up each way) dominates, so batching many small messages into one write is where the "
            "savings are"
        )
    else:
        batching = (
            f"{next_up[0] // small[0]}x the bytes already cost {growth:.2f}x the time: bytes, not the fixed "
            "cost, dominate even here, and batching saves less"
        )
    copy_ratio = large[3] / max(large[2], 0.001)
    findings = [
        f"A {small[0]} B message costs {small[3]:.0f} µs to send to a process and back, against {small[1]:.2f} µs "
        f"for a call; {batching}."
    ]
    findings.append(
        f"At {large[0]:,} B the round trip takes {large[3]:,.0f} µs ({large[5]:,.0f} MB/s one way), "
        f"against an in-process copy of the same bytes: {_by(copy_ratio, 'slower', 'faster')}"
        + (
            ": large payloads pay per byte, through the kernel's pipe buffer (64 KiB) in many chunks."
            if copy_ratio > 1 + _SAME_WITHIN
            else "."
        )
    )
    return findings


def _identity(payload: bytes) -> bytes:
    return payload


# --------------------------------------------------------------------- 3.3


def _sample_messages(count: int):
    config = RunConfig(messages=count, assets=16, seed=_SEED)
    wire, messages = [], []
    for frame in config.synthetic_source():
        for item in parse_line(frame.text, frame.line_no):
            if not isinstance(item, Rejection):
                messages.append(item)
        wire.append(frame.text)
    return wire, messages


def pickle_cost(quick: bool, progress: Progress) -> Report:
    """3.3: what pickle costs for each shape this engine sends."""
    reps = 200 if quick else 3000
    wire, messages = _sample_messages(400)
    change = next(m for m in messages if type(m).__name__ == "PriceChangeMessage")
    book = max(
        (m for m in messages if type(m).__name__ == "BookMessage"), key=lambda m: len(m.bids) + len(m.asks)
    )
    change_line = next(line for line in wire if '"price_change"' in line and not line.startswith("["))
    changes = [m for m in messages if type(m).__name__ == "PriceChangeMessage"][:64]
    histogram = LatencyHistogram()
    for ns in range(1000, 5_000_000, 997):
        histogram.record(ns)
    shapes = [
        ("price_change, typed Struct", change, 1),
        ("price_change, as a dict (json.loads of the wire)", json.loads(change_line), 1),
        ("price_change, as its wire text (str)", change_line, 1),
        (f"book snapshot, typed Struct ({len(book.bids) + len(book.asks)} levels)", book, 1),
        ("frame of 64 price_changes (what phase 3 sends)", ([(0, True, m) for m in changes], []), 64),
        ("64 price_changes pickled one by one", None, 64),
        ("latency histogram (a worker's report)", histogram, 1),
    ]
    table = Table(
        f"pickle protocol {pickle.HIGHEST_PROTOCOL}, median of {reps}",
        ["payload", "bytes", "encode (µs)", "decode (µs)", "per message (µs)"],
    )
    report = Report("3.3", "Pickle cost by payload shape", [table], quick=quick)
    now = time.perf_counter_ns
    measured = {}
    for name, obj, per in shapes:
        progress(name)
        if obj is None:  # the same 64 messages, one dumps/loads each
            encoded_each = [pickle.dumps(m, pickle.HIGHEST_PROTOCOL) for m in changes]
            enc, dec = [], []
            for _ in range(max(reps // 10, 20)):
                began = now()
                for m in changes:
                    pickle.dumps(m, pickle.HIGHEST_PROTOCOL)
                enc.append(now() - began)
                began = now()
                for data in encoded_each:
                    pickle.loads(data)
                dec.append(now() - began)
            size = sum(map(len, encoded_each))
        else:
            data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
            size = len(data)
            enc, dec = [], []
            for _ in range(reps):
                began = now()
                pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
                enc.append(now() - began)
                began = now()
                pickle.loads(data)
                dec.append(now() - began)
        encode_us, decode_us = statistics.median(enc) / 1e3, statistics.median(dec) / 1e3
        measured[name] = (size, encode_us, decode_us, (encode_us + decode_us) / per)
        table.add(
            name, size, round(encode_us, 2), round(decode_us, 2), round((encode_us + decode_us) / per, 2)
        )
    figures = {
        "typed": measured[shapes[0][0]],
        "dict": measured[shapes[1][0]],
        "wire": measured[shapes[2][0]],
        "batch": measured[shapes[4][0]],
        "single": measured[shapes[5][0]],
        "parse_us": _parse_cost_us(change_line, reps),
    }
    report.findings += pickle_findings(figures)
    report.headline = {
        "typed_pickle_us": round(figures["typed"][3], 2),
        "wire_pickle_plus_parse_us": round(figures["wire"][3] + figures["parse_us"], 2),
        "frame_per_message_us": round(figures["batch"][3], 2),
    }
    return report


def pickle_findings(figures: dict) -> list[str]:
    """3.3's conclusions. ``figures``: ``typed``, ``dict``, ``wire``,
    ``batch``, ``single`` as (bytes, encode µs, decode µs, per message µs),
    and ``parse_us``. Medians within ``_SAME_WITHIN`` are called the same."""
    typed, as_dict, wire = figures["typed"], figures["dict"], figures["wire"]
    batch, single, parse_us = figures["batch"], figures["single"], figures["parse_us"]
    wire_total = wire[3] + parse_us
    choice = typed[3] / wire_total if wire_total else 1.0
    if choice < 1 / (1 + _SAME_WITHIN):
        verdict = "sending typed messages is cheaper, so typed messages it is"
    elif choice > 1 + _SAME_WITHIN:
        verdict = "sending the wire text and parsing in the worker would be cheaper on this run"
    else:
        verdict = "no difference within noise (±10%): the choice rests on other grounds than pickle's cost"
    findings = [
        f"A typed price_change pickles to {typed[0]} B and costs {typed[3]:.1f} µs to encode and decode; as a "
        f"dict it is {as_dict[0]} B and {as_dict[3]:.1f} µs ({_by(as_dict[3] / typed[3], 'dearer', 'cheaper')}). "
        f"Shipping the wire text costs {wire[3]:.1f} µs plus a parse in the worker ({parse_us:.1f} µs), "
        f"{wire_total:.1f} µs in all against {typed[3]:.1f}: {verdict}."
    ]
    saving = batch[3] / single[3] if single[3] else 1.0
    if saving < 1 / (1 + _SAME_WITHIN):
        frame = (
            f"{1 / saving:.1f}x cheaper: one call amortizes pickle's per-call set-up, and one frame means one "
            "write and one wake-up"
        )
    else:
        frame = f"{_by(saving, 'dearer', 'cheaper')}: framing saves pickling nothing here, only writes and wake-ups"
    findings.append(
        f"In a frame of 64, a message costs {batch[3]:.2f} µs of pickling against {single[3]:.2f} µs one at a "
        f"time, {frame}."
    )
    return findings


def _parse_cost_us(line: str, reps: int) -> float:
    now = time.perf_counter_ns
    samples = []
    for _ in range(reps):
        began = now()
        parse_line(line)
        samples.append(now() - began)
    return statistics.median(samples) / 1e3


# --------------------------------------------------------------------- 3.4


def load_balance(quick: bool, progress: Progress) -> Report:
    """3.4: how evenly assets spread load over 2 workers, by placement scheme."""
    work_ms = 1.0
    messages = 300 if quick else 4000
    workers = 2
    table = Table(
        f"{messages:,} messages, 16 assets (8 markets), {work_ms:g} ms of work, {workers} processes",
        [
            "routing",
            "popularity",
            "msgs per worker",
            "max/mean",
            "ceiling (x)",
            "msg/s",
            "vs sync (x)",
            "split msgs",
            "busy / CPU got (%)",
        ],
    )
    report = Report("3.4", "Load balance: uniform vs zipf, table vs hash", [table], quick=quick)
    rows = {}
    for popularity in ("uniform", "zipf"):
        sync = measure(
            _config("sync", messages=messages, assets=16, work_ms=work_ms, popularity=popularity), progress
        )
        for routing in ("directory", "hash"):
            stats = measure(
                _config(
                    "multiprocessing",
                    messages=messages,
                    assets=16,
                    work_ms=work_ms,
                    processes=workers,
                    popularity=popularity,
                    routing=routing,
                ),
                progress,
            )
            counts = [w.processed for w in stats.pool.workers]
            skew = stats.pool.load_balance.max_over_mean
            rows[routing, popularity] = (skew, stats.throughput / sync.throughput)
            table.add(
                routing,
                popularity,
                " / ".join(f"{c:,}" for c in counts),
                skew,
                round(workers / skew, 2),
                round(stats.throughput, 1),
                round(stats.throughput / sync.throughput, 2),
                stats.pool.ipc.split_messages,
                "{:.0f} / {:.0f}".format(*_busy_and_cpu(stats)),
            )
    report.findings += balance_findings(rows)
    report.headline = {
        "uniform_table_max_over_mean_x": rows["directory", "uniform"][0],
        "uniform_hash_max_over_mean_x": rows["hash", "uniform"][0],
        "zipf_table_max_over_mean_x": rows["directory", "zipf"][0],
    }
    return report


def balance_findings(rows: dict[tuple[str, str], tuple[float, float]]) -> list[str]:
    """3.4's conclusions. ``rows[(routing, popularity)]`` = (max/mean of the
    workers' message counts, throughput vs sync). Placement is deterministic,
    so skews are compared with ``_EVEN_WITHIN``, not a noise margin."""
    d_uniform, h_uniform, d_zipf = (
        rows["directory", "uniform"],
        rows["hash", "uniform"],
        rows["directory", "zipf"],
    )
    if h_uniform[0] > d_uniform[0] + _EVEN_WITHIN:
        which = "the table spread the load more evenly than the hash"
    elif h_uniform[0] < d_uniform[0] - _EVEN_WITHIN:
        which = "the hash happened to spread it more evenly than the table"
    else:
        which = f"both were as even as each other (within {_EVEN_WITHIN:g} of the mean)"
    findings = [
        f"Evenly busy markets: the first-seen table put {d_uniform[0]:.2f}x the mean on its busiest worker "
        f"({d_uniform[1]:.2f}x sync); the hash {h_uniform[0]:.2f}x ({h_uniform[1]:.2f}x sync): {which}. With 8 "
        "markets a hash is a coin toss per market; the busiest worker sets the pace, so the ceiling is "
        "workers / (max/mean)."
    ]
    if d_zipf[0] > 1 + _EVEN_WITHIN:
        zipf = (
            f"even the table reached only {d_zipf[0]:.2f}x the mean ({d_zipf[1]:.2f}x sync). It places assets "
            "before it knows how busy they will be, and one hot market cannot be split without giving its book "
            "two owners: skew needs re-placement (moving a book) or finer-grained work, not a better hash"
        )
    else:
        zipf = (
            f"the table still kept the busiest worker within {_EVEN_WITHIN:.0%} of the mean ({d_zipf[0]:.2f}x, "
            f"{d_zipf[1]:.2f}x sync): the hot markets happened to land apart"
        )
    findings.append(f"Zipf popularity: {zipf}.")
    return findings


# --------------------------------------------------------------------- 3.5


_SEGMENTS = ("send", "queue", "worker", "reply")
_WHY = {
    "send": "the parent's loop could not send it: it was waiting for room in a full worker queue (backpressure "
    "holds the loop, and a query waits with the updates)",
    "queue": "it waited behind the frames already queued for its worker: a query shares the FIFO with updates",
    "worker": "its worker was busy applying the updates sent just before it",
    "reply": "the answer waited for the parent's reader thread, which needs the GIL the main loop is holding",
}


def query_latency(quick: bool, progress: Progress) -> Report:
    """3.5: query round trips under growing load, and where the time goes."""
    work_ms = 1.0
    workers = 2
    query_rate = 200.0
    seconds = 0.4 if quick else 3.0
    capacity = workers * 1000 / work_ms
    loads = [0.1, 0.5, 0.9, None]  # share of the pool's capacity; None = flat out
    table = Table(
        f"{workers} processes, {work_ms:g} ms of work, {query_rate:g} queries/s; segment means add up to the mean",
        [
            "offered (msg/s)",
            "achieved (msg/s)",
            "queries",
            "p50 (µs)",
            "p99 (µs)",
            "mean (µs)",
            "send (µs)",
            "queue (µs)",
            "worker (µs)",
            "reply (µs)",
            "timed out",
            "busy / CPU got (%)",
        ],
    )
    report = Report("3.5", "Query latency vs load", [table], quick=quick)
    runs = []
    for load in loads:
        rate = 0.0 if load is None else load * capacity
        messages = int((rate or capacity) * seconds)
        stats = measure(
            _config(
                "multiprocessing",
                messages=messages,
                assets=16,
                work_ms=work_ms,
                processes=workers,
                rate=rate,
                query_rate=query_rate,
            ),
            progress,
        )
        parts = stats.pool.query_breakdown_us
        table.add(
            "flat out" if load is None else round(rate),
            round(stats.throughput, 1),
            stats.queries,
            round(stats.query_latency_us.p50, 1),
            round(stats.query_latency_us.p99, 1),
            round(parts["total"].mean, 1),
            *(round(parts[name].mean, 1) for name in _SEGMENTS),
            stats.pool.query_outcomes.timed_out,
            "{:.0f} / {:.0f}".format(*_busy_and_cpu(stats)),
        )
        runs.append((load, stats, parts))
    plot = Plot("Query latency vs load", "achieved load (% of the pool's capacity)", "query latency (µs)")
    figures = []
    for load, stats, parts in runs:
        achieved = 100 * stats.throughput / capacity
        for name, value in (("p50", stats.query_latency_us.p50), ("p99", stats.query_latency_us.p99),
                            ("mean", parts["total"].mean)):  # fmt: skip
            plot.add(name, round(achieved, 1), round(value, 1))
        figures.append({
            "where": "flat out" if load is None else f"{load * capacity:.0f} msg/s",
            "p99_us": stats.query_latency_us.p99,
            "means_us": {name: parts[name].mean for name in ("total", *_SEGMENTS)},
        })  # fmt: skip
    report.plots.append(plot)
    report.findings += query_findings(figures)
    report.headline = {
        "lightest_query_p99_us": round(figures[0]["p99_us"], 1),
        "flat_out_query_p99_us": round(figures[-1]["p99_us"], 1),
    }
    return report


def query_findings(runs: list[dict]) -> list[str]:
    """3.5's conclusions, lightest load first. Each run: ``where`` (a label),
    ``p99_us`` and ``means_us`` (``total`` and one per segment). A p99 is
    called changed only beyond ``_LATENCY_SAME_WITHIN``."""
    findings = []
    for label, run in (("lightest", runs[0]), ("heaviest", runs[-1])):
        means = run["means_us"]
        segment = max(_SEGMENTS, key=lambda name: means[name])
        share = 100 * means[segment] / means["total"] if means["total"] else 0.0
        findings.append(
            f"At {run['where']} ({label} load) a query took {means['total']:,.0f} µs on average, "
            f"{share:.0f}% of it in '{segment}' ({means[segment]:,.0f} µs): {_WHY[segment]}."
        )
    light, heavy = runs[0]["p99_us"], runs[-1]["p99_us"]
    growth = heavy / light if light else 1.0
    if growth > 1 + _LATENCY_SAME_WITHIN:
        trend = "grew with load: a query shares every queue with the updates"
    elif growth < 1 / (1 + _LATENCY_SAME_WITHIN):
        trend = "fell as load grew, which says more about this run's noise than about load"
    else:
        trend = f"did not change beyond noise (a p99 is called changed past ±{_LATENCY_SAME_WITHIN:.0%})"
    findings.append(
        f"p99 went from {light:,.0f} µs at {runs[0]['where']} to {heavy:,.0f} µs at {runs[-1]['where']} "
        f"({growth:.2f}x): it {trend}."
    )
    return findings


EXPERIMENTS = (
    Experiment(
        "3.1",
        "Throughput vs workers: processes and threads",
        "How far do processes scale CPU work on this machine, and do threads?",
        scaling,
    ),
    Experiment(
        "3.2", "IPC cost vs message size", "What does crossing a process boundary cost per message?", ipc_cost
    ),
    Experiment(
        "3.3", "Pickle cost by payload shape", "What does pickling cost for each shape we send?", pickle_cost
    ),
    Experiment(
        "3.4",
        "Load balance: uniform vs zipf, table vs hash",
        "How evenly does each placement scheme spread the load?",
        load_balance,
    ),
    Experiment("3.5", "Query latency vs load", "Where does a query's time go as load grows?", query_latency),
)
