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
from .base import Experiment, Progress, Report, Table, measure

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
    cpu_s = sum(w["cpu_s"] for w in stats.extra["workers"])
    return cpu_s * 1e3 / stats.processed if stats.processed else 0.0


def _speed(stats: RunStats, sync: RunStats) -> float:
    """A pool message's CPU cost over sync's time per message. The work is a
    fixed, calibrated loop, but on a shared virtual machine the same loop
    does not always take the same time; dividing it out separates "more
    cores" from "faster cores". (Sync's processing time is wall time: fair
    while nothing else takes its core.)"""
    return _cpu_per_message_ms(stats) / (sync.processing_us.p50 / 1e3) if sync.processing_us.p50 else 1.0


def _busy_and_cpu(stats: RunStats) -> tuple[float, float]:
    """Mean share of the run each worker was busy (wall clock) and got the
    CPU, in %: the gap is time other processes took from it."""
    workers = stats.extra["workers"]
    return (100 * statistics.fmean(w["busy_share"] for w in workers),
            100 * statistics.fmean(w["cpu_share"] for w in workers))  # fmt: skip


# --------------------------------------------------------------------- 3.1


def scaling(quick: bool, progress: Progress) -> Report:
    """3.1: throughput vs worker count, processes and threads, CPU-bound."""
    work_ms = 1.0 if quick else 2.0
    messages = 300 if quick else 3000
    counts = [1, 2, 4] if quick else [1, 2, 4, 8]
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
                      stats.extra["load_balance"]["max_over_mean"], round(stats.startup_s, 3))  # fmt: skip
    best = max(counts, key=lambda c: results["multiprocessing", c].throughput)
    best_ratio = results["multiprocessing", best].throughput / sync.throughput
    cores = min(_CORES, max(counts))
    at_cores = results["multiprocessing", cores]
    ratio = at_cores.throughput / sync.throughput
    same_speed = ratio * _speed(at_cores, sync)
    report.findings.append(
        f"With {cores} worker processes (one per core of this {_CORES}-core machine) throughput was {ratio:.2f}x "
        f"sync, {100 * ratio / cores:.0f}% of the ideal {cores}.0x. But the same calibrated loop cost "
        f"{_cpu_per_message_ms(at_cores):.2f} ms of CPU per message in a worker against "
        f"{sync.processing_us.p50 / 1e3:.2f} ms in sync; at equal cost per message the pool gave "
        f"{same_speed:.2f}x, {100 * same_speed / cores:.0f}% of {cores} cores' worth."
    )
    busy, cpu = _busy_and_cpu(at_cores)
    report.findings.append(
        f"Those {cores} workers were busy {busy:.0f}% of the run by the clock but got the CPU for {cpu:.0f}% of "
        "it: whatever lies between is time other processes on this shared machine took from them, and the "
        "ratio above shrinks with it."
    )
    beyond = [c for c in counts if c > _CORES]
    if beyond:
        tail = ", ".join(
            f"{c}: {results['multiprocessing', c].throughput / sync.throughput:.2f}x" for c in beyond
        )
        report.findings.append(
            f"The best count was {best} ({best_ratio:.2f}x); past {_CORES} workers ({tail}) there is no more CPU to "
            "use: extra workers take turns on the same cores, each spawn costs start-up, and the parent waits "
            "behind them for a core whenever it wakes to refill a queue."
        )
    threads = [
        results["threads", c].throughput / sync.throughput * _speed(results["threads", c], sync)
        for c in counts
    ]
    report.findings.append(
        f"Threads stayed between {min(threads):.2f}x and {max(threads):.2f}x sync at equal speed per message, at "
        "every count: one GIL, so the CPU work of all worker threads (and the parent's parsing) runs one at a time."
    )
    return report


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
    small, large = table.rows[0], table.rows[-1]
    report.findings.append(
        f"A {small[0]} B message costs {small[3]:.0f} µs to send to a process and back, against {small[1]:.2f} µs "
        f"for a call: the fixed cost (two system calls and a wake-up each way) dominates, so batching many "
        "small messages into one write is where the savings are."
    )
    report.findings.append(
        f"At {large[0]:,} B the round trip takes {large[3]:,.0f} µs ({large[5]:,.0f} MB/s one way), "
        f"{large[3] / max(large[2], 0.001):.0f}x an in-process copy of the same bytes: large payloads pay per byte, "
        "through the kernel's pipe buffer (64 KiB) in many chunks."
    )
    return report


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
    typed = measured[shapes[0][0]]
    as_dict = measured[shapes[1][0]]
    batch = measured[shapes[4][0]]
    single = measured[shapes[5][0]]
    parse_us = _parse_cost_us(change_line, reps)
    report.findings.append(
        f"A typed price_change pickles to {typed[0]} B and costs {typed[3]:.1f} µs to encode and decode; the same "
        f"message as a dict is {as_dict[0]} B and {as_dict[3]:.1f} µs. Shipping the raw wire text instead would "
        f"cost the worker a parse ({parse_us:.1f} µs here): the parent already paid it, so typed messages it is."
    )
    report.findings.append(
        f"In a frame of 64, a message costs {batch[3]:.2f} µs of pickling against {single[3]:.2f} µs one at a time: "
        "one call amortizes pickle's per-call set-up, and one frame means one write and one wake-up."
    )
    return report


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
            counts = [w["processed"] for w in stats.extra["workers"]]
            skew = stats.extra["load_balance"]["max_over_mean"]
            rows[routing, popularity] = (skew, stats.throughput / sync.throughput)
            table.add(
                routing,
                popularity,
                " / ".join(f"{c:,}" for c in counts),
                skew,
                round(workers / skew, 2),
                round(stats.throughput, 1),
                round(stats.throughput / sync.throughput, 2),
                stats.extra["ipc"]["split_messages"],
                "{:.0f} / {:.0f}".format(*_busy_and_cpu(stats)),
            )
    d_uniform, h_uniform = rows["directory", "uniform"], rows["hash", "uniform"]
    d_zipf = rows["directory", "zipf"]
    report.findings.append(
        f"Evenly busy markets: the first-seen table split the work {d_uniform[0]:.2f}x the mean at worst "
        f"({d_uniform[1]:.2f}x sync); the hash put {h_uniform[0]:.2f}x the mean on its busiest worker "
        f"({h_uniform[1]:.2f}x sync). With 8 markets a hash is a coin toss per market; the busiest worker sets "
        "the pace, so the ceiling is workers / (max/mean)."
    )
    report.findings.append(
        f"Zipf popularity: even the table reached only {d_zipf[0]:.2f}x the mean ({d_zipf[1]:.2f}x sync). It places "
        "assets before it knows how busy they will be, and one hot market cannot be split without giving its "
        "book two owners: skew needs re-placement (moving a book) or finer-grained work, not a better hash."
    )
    return report


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
        parts = stats.extra["query_breakdown_us"]
        table.add(
            "flat out" if load is None else round(rate),
            round(stats.throughput, 1),
            stats.queries,
            round(stats.query_latency_us.p50, 1),
            round(stats.query_latency_us.p99, 1),
            round(parts["total"]["mean"], 1),
            *(round(parts[name]["mean"], 1) for name in _SEGMENTS),
            stats.extra["query_outcomes"]["timed_out"],
            "{:.0f} / {:.0f}".format(*_busy_and_cpu(stats)),
        )
        runs.append((load, stats, parts))
    for label, (load, _stats, parts) in (("lightest", runs[0]), ("heaviest", runs[-1])):
        segment = max(_SEGMENTS, key=lambda name: parts[name]["mean"])
        where = "flat out" if load is None else f"{load * capacity:.0f} msg/s"
        share = 100 * parts[segment]["mean"] / parts["total"]["mean"] if parts["total"]["mean"] else 0.0
        report.findings.append(
            f"At {where} ({label} load) a query took {parts['total']['mean']:,.0f} µs on average, "
            f"{share:.0f}% of it in '{segment}' ({parts[segment]['mean']:,.0f} µs): {_WHY[segment]}."
        )
    return report


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
