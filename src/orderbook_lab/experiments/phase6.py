"""Lesson 6's experiments: what serialization costs, and what phase 6 saves.

6.1 and 6.3 to 6.5 measure codecs on their own (in this process, or one
pipe to one child); 6.2 runs phases 5 and 6 on the same stream. Each
experiment computes its findings from what it measured, in a pure
``*_findings(figures)`` function with named thresholds.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from multiprocessing import shared_memory
from multiprocessing.connection import Connection

from ..bench._runner import calibrate, sample
from ..bench.serialization import codec_functions, decode_allocations
from ..core.messages import BookMessage, Message
from ..engines import RunConfig, RunStats, phase_config
from .base import Experiment, Plot, Progress, Report, Table, measure
from .phase4 import PACKED, best_us, sample_books, snapshot_codecs

_SEED = 1
_ASSETS = 20
_CORES = os.cpu_count() or 1
_PROCESSES = max(2, min(_CORES, 4))

_CODECS = ("pickle", "msgspec-msgpack", "msgspec-json", "stdlib-json")

_SAME_WITHIN = 0.10
"""Two throughputs or CPU times from single runs within this share are
called the same (this shared 2-core machine moves by several percent)."""

_LATENCY_SAME_WITHIN = 0.5
"""Latency percentiles are noisier: a change counts past this share."""

_TENFOLD = 10.0
"""6.4's question: can a codec publish ten times as often as pickle?"""


def _timed_us(call: Callable[[], object], target_s: float, repeats: int) -> float:
    """Median over ``repeats`` samples of one call's time (µs), each sample
    long enough to last ``target_s`` (the bench's ``calibrate`` and
    ``sample``); GC off while timing, as timeit."""

    def run(loops: int) -> int:
        began = time.perf_counter_ns()
        for _ in range(loops):
            call()
        return time.perf_counter_ns() - began

    gc.collect()
    gc.disable()
    try:
        loops = calibrate(run, target_s)
        return statistics.median(sample(run, loops, repeats)) / loops / 1e3
    finally:
        gc.enable()


def _snapshot(levels: int) -> BookMessage:
    """A book message of ``levels`` levels a side on the 0.0001 grid, with
    feed-sized ids: the payload that grows with the book."""
    bids = tuple((5000 - i, 100.0 + (i * 7919) % 5000 / 100) for i in range(levels))
    asks = tuple((5001 + i, 100.0 + (i * 104729) % 5000 / 100) for i in range(levels))
    return BookMessage("7" * 77, "0x" + "ab" * 32, 1_760_000_000_000, bids, asks, "f" * 40, 1)


# --------------------------------------------------------------------- 6.1


def codec_by_size(quick: bool, progress: Progress) -> Report:
    """6.1: encode and decode time, bytes and allocations by payload size."""
    levels = [0, 30, 380] if quick else [0, 30, 380, 3800]
    target_s, repeats = (0.01, 3) if quick else (0.05, 7)
    table = Table(
        f"One book message, {len(levels)} sizes, four codecs (median of {repeats} samples, this process)",
        ["levels a side", "codec", "bytes", "encode (µs)", "decode (µs)", "round trip (µs)", "vs pickle (x)",
         "decode blocks", "decode peak (KiB)"],
    )  # fmt: skip
    report = Report("6.1", "Codec speed by payload size", [table], quick=quick)
    plot = Plot("Round trip by payload size", "bytes (msgspec msgpack)", "µs", log_x=True)
    figures: dict = {"rows": []}
    for count in levels:
        value = _snapshot(count)
        base = None
        for name in _CODECS:
            progress(f"{count} levels: {name}")
            encode, decode = codec_functions(name, BookMessage)
            data = encode(value)
            encode_us = _timed_us(lambda e=encode, v=value: e(v), target_s, repeats)
            decode_us = _timed_us(lambda d=decode, b=data: d(b), target_s, repeats)
            blocks_peak = decode_allocations(decode, data)
            round_trip = encode_us + decode_us
            base = base or round_trip
            size = len(data)
            table.add(count, name, size, round(encode_us, 2), round(decode_us, 2), round(round_trip, 2),
                      round(base / round_trip, 2), blocks_peak[1], round(blocks_peak[0] / 1024, 1))  # fmt: skip
            figures["rows"].append({"levels": count, "codec": name, "bytes": size, "round_trip_us": round_trip,
                                    "blocks": blocks_peak[1]})  # fmt: skip
        msgpack = next(r for r in figures["rows"] if r["levels"] == count and r["codec"] == "msgspec-msgpack")
        for name in _CODECS:
            row = next(r for r in figures["rows"] if r["levels"] == count and r["codec"] == name)
            plot.add(name, msgpack["bytes"], row["round_trip_us"])
    report.plots.append(plot)
    report.findings += codec_by_size_findings(figures)
    by = {(r["levels"], r["codec"]): r for r in figures["rows"]}
    small, large = levels[0], levels[-1]
    report.headline = {
        "small_msgpack_vs_pickle_x": round(by[small, "pickle"]["round_trip_us"] / by[small, "msgspec-msgpack"]["round_trip_us"], 2),
        "large_msgpack_vs_pickle_x": round(by[large, "pickle"]["round_trip_us"] / by[large, "msgspec-msgpack"]["round_trip_us"], 2),
    }  # fmt: skip
    return report


def codec_by_size_findings(figures: dict) -> list[str]:
    """6.1's conclusions. ``figures["rows"]``: ``levels``, ``codec``,
    ``bytes``, ``round_trip_us``, ``blocks``."""
    by = {(r["levels"], r["codec"]): r for r in figures["rows"]}
    sizes = sorted({r["levels"] for r in figures["rows"]})
    small, large = sizes[0], sizes[-1]

    def ratio(levels: int, codec: str) -> float:
        return by[levels, "pickle"]["round_trip_us"] / by[levels, codec]["round_trip_us"]

    first, last = ratio(small, "msgspec-msgpack"), ratio(large, "msgspec-msgpack")
    if last > first * (1 + _SAME_WITHIN):
        trend = "and its lead grew with the payload"
    elif last < first / (1 + _SAME_WITHIN):
        trend = "and its lead shrank as the payload grew: at that size both spend their time building the same floats and tuples"
    else:
        trend = "at every size alike (within noise, ±10%)"
    findings = [
        f"msgspec's MessagePack round-tripped the smallest message ({by[small, 'msgspec-msgpack']['bytes']:,} B) "
        f"{first:.1f}x faster than pickle and the largest ({by[large, 'msgspec-msgpack']['bytes']:,} B) "
        f"{last:.1f}x faster, {trend}."
    ]
    json_x = by[large, "stdlib-json"]["bytes"] / by[large, "msgspec-msgpack"]["bytes"]
    findings.append(
        f"On the largest payload stdlib json took {ratio(large, 'stdlib-json'):.2f}x pickle's speed and "
        f"{json_x:.2f}x MessagePack's bytes, and it returns dicts and lists, not messages."
    )
    blocks = by[large, "pickle"]["blocks"], by[large, "msgspec-msgpack"]["blocks"]
    findings.append(
        f"Decoding the largest payload kept {blocks[0]:,} memory blocks with pickle and {blocks[1]:,} with "
        "msgspec: the objects are the same tuples and floats either way, so the difference is in how they are "
        "made, not in how many."
        if abs(blocks[0] - blocks[1]) <= 0.1 * max(blocks)
        else f"Decoding the largest payload kept {blocks[0]:,} memory blocks with pickle and {blocks[1]:,} with "
        "msgspec."
    )
    return findings


# --------------------------------------------------------------------- 6.2


def end_to_end(quick: bool, progress: Progress) -> Report:
    """6.2: latency percentiles of phases 5 and 6, paced and flat out."""
    messages = 3000 if quick else 30_000
    table = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers; paced at half of phase 5's flat-out "
        "throughput, then flat out",
        ["phase", "load", "msg/s", "latency p50 (ms)", "latency p95 (ms)", "latency p99 (ms)",
         "workers busy (%)", "IPC bytes/msg", "IPC encode + decode (ms)"],
    )  # fmt: skip
    report = Report("6.2", "End-to-end latency: phase 5 vs phase 6", [table], quick=quick)
    figures: dict = {"rows": []}
    flat: dict[int, RunStats] = {}
    for phase in (5, 6):
        flat[phase] = measure(phase_config(phase, RunConfig(seed=_SEED, assets=_ASSETS, messages=messages,
                                                            processes=_PROCESSES)), progress)  # fmt: skip
    rate = round(flat[5].throughput / 2, 1)
    figures["rate"] = rate
    for phase in (5, 6):
        paced = measure(phase_config(phase, RunConfig(seed=_SEED, assets=_ASSETS, messages=messages,
                                                      processes=_PROCESSES, rate=rate)), progress)  # fmt: skip
        for load, stats in ((f"paced {rate:,.0f}/s", paced), ("flat out", flat[phase])):
            pool = stats.pool
            busy = 100 * statistics.fmean(w.busy_share for w in pool.workers)
            table.add(phase, load, round(stats.throughput, 1), round(stats.latency_ms.p50, 3),
                      round(stats.latency_ms.p95, 3), round(stats.latency_ms.p99, 3), round(busy, 1),
                      pool.ipc.bytes_per_message, round(pool.ipc.encode_ms + pool.ipc.decode_ms, 1))  # fmt: skip
            figures["rows"].append({"phase": phase, "paced": stats is paced, "throughput": stats.throughput,
                                    "p50_ms": stats.latency_ms.p50, "p99_ms": stats.latency_ms.p99,
                                    "codec_ms": pool.ipc.encode_ms + pool.ipc.decode_ms})  # fmt: skip
    report.findings += end_to_end_findings(figures)
    by = {(r["phase"], r["paced"]): r for r in figures["rows"]}
    report.headline = {
        "paced_p99_ms_phase5": round(by[5, True]["p99_ms"], 2),
        "paced_p99_ms_phase6": round(by[6, True]["p99_ms"], 2),
        "flat_out_phase6_vs_phase5_x": round(by[6, False]["throughput"] / by[5, False]["throughput"], 2),
    }
    return report


def end_to_end_findings(figures: dict) -> list[str]:
    """6.2's conclusions. ``figures``: ``rate`` (the pace, msg/s) and
    ``rows`` of ``phase``, ``paced``, ``throughput``, ``p50_ms``,
    ``p99_ms``, ``codec_ms``."""
    by = {(r["phase"], r["paced"]): r for r in figures["rows"]}
    findings = []
    five, six = by[5, True], by[6, True]
    rate = figures["rate"]
    behind = [p for p, row in ((5, five), (6, six)) if row["throughput"] < rate * (1 - _SAME_WITHIN)]
    if behind:
        kept = [p for p in (5, 6) if p not in behind]
        lag = " and ".join(f"phase {p} managed {by[p, True]['throughput']:,.0f}" for p in behind)
        findings.append(
            f"Paced at {rate:,.0f} msg/s (half of phase 5's flat-out rate), {lag}: it fell behind the pace, so "
            f"its queues grew for the whole run and latency p99 reached {max(by[p, True]['p99_ms'] for p in behind):,.0f} ms. "
            "A paced stream sends small frames (a frame leaves when it is 2 ms old), and every frame pays its "
            "encoding, a pipe write and a wake-up, which a flat-out run shares among 64 messages"
            + (
                f"; phase {kept[0]} kept up, with a p99 of {by[kept[0], True]['p99_ms']:.2f} ms."
                if kept
                else "."
            )
        )
    else:
        change = six["p99_ms"] / five["p99_ms"] if five["p99_ms"] else 1.0
        if change < 1 / (1 + _LATENCY_SAME_WITHIN):
            verdict = f"phase 6 cut the p99 to {change:.2f}x"
        elif change > 1 + _LATENCY_SAME_WITHIN:
            verdict = f"phase 6's p99 was {change:.2f}x phase 5's"
        else:
            verdict = f"the p99s were the same within noise ({change:.2f}x)"
        findings.append(
            f"Paced at {rate:,.0f} msg/s, half of phase 5's capacity, latency p99 was {five['p99_ms']:.2f} ms in "
            f"phase 5 and {six['p99_ms']:.2f} ms in phase 6: {verdict}. With both keeping up, what is left is the "
            "batching (a frame leaves when full or 2 ms old) more than the codec."
        )
    flat5, flat6 = by[5, False], by[6, False]
    ratio = flat6["throughput"] / flat5["throughput"] if flat5["throughput"] else 1.0
    codec = flat5["codec_ms"] / flat6["codec_ms"] if flat6["codec_ms"] else 1.0
    more = "no different (within noise, ±10%)" if abs(ratio - 1) <= _SAME_WITHIN else f"{ratio:.2f}x as fast"
    findings.append(
        f"Flat out, phase 6 was {more} as phase 5 ({flat6['throughput']:,.0f} against "
        f"{flat5['throughput']:,.0f} msg/s); its encoding and decoding took {codec:.1f}x less time "
        f"({flat6['codec_ms']:.0f} against {flat5['codec_ms']:.0f} ms for the run)."
    )
    return findings


# --------------------------------------------------------------------- 6.3


_REPORT = b""
"""6.3's frame asking the child for its count (no codec encodes to nothing)."""
_STOP = b"\xc1"
"""6.3's frame telling the child to leave (a byte MessagePack never uses,
and no pickle or JSON starts with)."""
_PIPE_CODECS = ("pickle", "msgspec-msgpack", "msgspec-json")


def _drain_child(connection: Connection, codec: str) -> None:
    """The child of 6.3: decode every frame and count its messages; report
    the count on ``_REPORT``, leave on ``_STOP`` or when the pipe closes."""
    _, decode = codec_functions(codec, list[Message])
    count = 0
    try:
        while True:
            data = connection.recv_bytes()
            if data == _REPORT:
                connection.send(count)
                count = 0
            elif data == _STOP:
                return
            else:
                count += len(decode(data))
    except EOFError:
        return
    finally:
        connection.close()


def _pipe_rate(codec: str, messages: list, batch: int, repeats: int) -> float:
    """Messages per second through one pipe to one child that decodes them,
    in frames of ``batch``, encoding included: the median of ``repeats``
    passes after one to warm up. The child is stopped and joined in
    ``finally`` (terminated if it will not leave)."""
    encode, _ = codec_functions(codec, list[Message])
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_drain_child, args=(child, codec), daemon=True)
    process.start()
    child.close()
    rates = []
    try:
        for _ in range(repeats + 1):
            began = time.perf_counter()
            for start in range(0, len(messages), batch):
                parent.send_bytes(encode(messages[start : start + batch]))
            parent.send_bytes(_REPORT)
            count = parent.recv()
            elapsed = time.perf_counter() - began
            if count != len(messages):
                raise AssertionError(f"{codec}: the child counted {count} of {len(messages)} messages")
            rates.append(len(messages) / elapsed)
        parent.send_bytes(_STOP)
    finally:
        parent.close()
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join()
    return statistics.median(rates[1:])


def _stream_messages(count: int) -> list:
    """The first ``count`` messages of the seeded stream, parsed."""
    from ..core.parser import Rejection, parse_line

    config = RunConfig(seed=_SEED, assets=_ASSETS, messages=count)
    return [
        m
        for f in config.synthetic_source()
        for m in parse_line(f.text, f.line_no)
        if type(m) is not Rejection
    ]


def queue_throughput(quick: bool, progress: Progress) -> Report:
    """6.3: messages per second through a pipe, by codec and frame size."""
    messages = _stream_messages(3000 if quick else 30_000)
    batches = [1, 100] if quick else [1, 10, 100, 1000]
    repeats = 1 if quick else 3
    table = Table(
        f"{len(messages):,} messages of the stream through one pipe to one child that decodes them, encoding "
        f"included (median of {repeats} passes)",
        ["messages per frame", "codec", "msg/s", "vs pickle (x)"],
    )  # fmt: skip
    report = Report("6.3", "Queue throughput by codec and frame size", [table], quick=quick)
    plot = Plot("Pipe throughput by frame size", "messages per frame", "msg/s", log_x=True)
    figures: dict = {"rows": []}
    for batch in batches:
        base = None
        for codec in _PIPE_CODECS:
            progress(f"frames of {batch}: {codec}")
            rate = _pipe_rate(codec, messages, batch, repeats)
            base = base or rate
            table.add(batch, codec, round(rate, 1), round(rate / base, 2))
            plot.add(codec, batch, rate)
            figures["rows"].append({"batch": batch, "codec": codec, "rate": rate})
    report.plots.append(plot)
    report.findings += queue_throughput_findings(figures)
    by = {(r["batch"], r["codec"]): r["rate"] for r in figures["rows"]}
    big = batches[-1]
    report.headline = {
        "msgpack_vs_pickle_batch1_x": round(by[1, "msgspec-msgpack"] / by[1, "pickle"], 2),
        f"msgpack_vs_pickle_batch{big}_x": round(by[big, "msgspec-msgpack"] / by[big, "pickle"], 2),
        f"msgpack_batch{big}_vs_batch1_x": round(by[big, "msgspec-msgpack"] / by[1, "msgspec-msgpack"], 2),
    }
    return report


def queue_throughput_findings(figures: dict) -> list[str]:
    """6.3's conclusions. ``figures["rows"]``: ``batch``, ``codec``, ``rate``."""
    by = {(r["batch"], r["codec"]): r["rate"] for r in figures["rows"]}
    batches = sorted({r["batch"] for r in figures["rows"]})
    one, big = batches[0], batches[-1]
    batching = by[big, "msgspec-msgpack"] / by[one, "msgspec-msgpack"]
    codec_one = by[one, "msgspec-msgpack"] / by[one, "pickle"]
    codec_big = by[big, "msgspec-msgpack"] / by[big, "pickle"]
    findings = [
        f"Frames of {big} moved {batching:.1f}x the messages per second of frames of {one} with msgspec "
        f"({by[big, 'msgspec-msgpack']:,.0f} against {by[one, 'msgspec-msgpack']:,.0f}): a frame pays a write, a "
        "wake-up and a read however small it is, so batching matters more than the codec while frames are small."
    ]
    if codec_big > codec_one * (1 + _SAME_WITHIN):
        where = "the codec's share grows as the per-frame cost is shared out"
    elif codec_big < codec_one / (1 + _SAME_WITHIN):
        where = "the codec mattered less in big frames"
    else:
        where = "about the same at both sizes (within noise, ±10%)"
    findings.append(
        f"msgspec's MessagePack against pickle: {codec_one:.2f}x with one message a frame, {codec_big:.2f}x with "
        f"{big}; {where}."
    )
    return findings


# --------------------------------------------------------------------- 6.4


def publish_cost(quick: bool, progress: Progress) -> Report:
    """6.4: what one shared-memory publish costs by codec, and how often a
    core could publish."""
    loops, repeats = (200, 3) if quick else (2000, 7)
    table = Table(
        f"One publish: a book's columns encoded and copied into a shared-memory slot (best of {repeats} x "
        f"{loops:,} loops)",
        ["book", "codec", "bytes", "publish (µs)", "publishes/s on one core", "vs pickle (x)"],
    )  # fmt: skip
    report = Report("6.4", "Shared-memory publish cost by codec", [table], quick=quick)
    codecs = snapshot_codecs()
    figures: dict = {"books": {}}
    segment = shared_memory.SharedMemory(create=True, size=1 << 20)
    try:
        buffer = segment.buf
        for label, book, depth in sample_books(quick)[1:]:  # whole books: the stream's largest, a deep one
            columns = book.columns(depth)
            args = (book.asset_id, 1_764_000_000_000_000_000, 12_345, columns)
            rows = {}
            for name, (encode, _) in codecs.items():
                progress(f"{label}: {name}")

                def publish(encode=encode, args=args, buffer=buffer) -> None:
                    data = encode(*args)
                    buffer[: len(data)] = data

                rows[name] = (len(encode(*args)), best_us(publish, loops, repeats))
            base = rows["pickle (protocol 5)"][1]
            for name, (size, cost) in rows.items():
                table.add(label, name, size, round(cost, 2), round(1e6 / cost), round(base / cost, 2))
            figures["books"][label] = {name: cost for name, (_, cost) in rows.items()}
    finally:
        segment.close()
        segment.unlink()
    report.findings += publish_cost_findings(figures)
    first = next(iter(figures["books"].values()))
    report.headline = {
        "msgpack_publish_vs_pickle_x": round(
            first["pickle (protocol 5)"] / first["msgspec msgpack (Struct)"], 2
        ),
        "packed_publish_vs_pickle_x": round(first["pickle (protocol 5)"] / first[PACKED], 2),
    }
    return report


def publish_cost_findings(figures: dict) -> list[str]:
    """6.4's conclusions. ``figures["books"]``: book label -> codec name ->
    µs per publish (``pickle (protocol 5)``, ``msgspec msgpack (Struct)``,
    the packed layout...)."""
    findings = []
    for label, costs in figures["books"].items():
        pickle_us = costs["pickle (protocol 5)"]
        best = min(costs, key=costs.get)
        gains = {name: pickle_us / cost for name, cost in costs.items()}
        tenfold = [name for name, gain in gains.items() if gain >= _TENFOLD]
        answer = (
            f"yes, with {', '.join(tenfold)}"
            if tenfold
            else f"no: the best, {best}, publishes {gains[best]:.1f}x as often"
        )
        findings.append(
            f"{label.capitalize()}: pickle costs {pickle_us:.1f} µs a publish ({1e6 / pickle_us:,.0f} a second on "
            f"one core), msgspec MessagePack {costs['msgspec msgpack (Struct)']:.1f} µs "
            f"({gains['msgspec msgpack (Struct)']:.1f}x as often). Ten times as often as pickle? {answer}."
        )
    return findings


# --------------------------------------------------------------------- 6.5


def schema_cost(quick: bool, progress: Progress) -> Report:
    """6.5: what an evolvable (versioned, map-encoded) wire format costs
    against today's positional one, and what reading the other version costs."""
    from ..core.schema import schema_costs

    messages = _stream_messages(1000 if quick else 20_000)
    repeats = 3 if quick else 7
    progress(f"schema costs over {len(messages):,} messages")
    figures = schema_costs(messages, repeats)
    table = Table(
        f"{len(messages):,} messages of the stream, one MessagePack array each way (median of {repeats} rounds)",
        ["form", "bytes/msg", "encode (ns/msg)", "decode (ns/msg)", "bytes vs positional (x)",
         "decode vs positional (x)"],
    )  # fmt: skip
    base_bytes, base_decode = figures["array_bytes_per_message"], figures["array_decode_ns_per_message"]
    for label, key in (
        ("positional (today's IPC)", "array"),
        ("v1, named fields", "v1"),
        ("v2, named fields", "v2"),
    ):
        size, decode = figures[f"{key}_bytes_per_message"], figures[f"{key}_decode_ns_per_message"]
        table.add(label, round(size, 1), round(figures[f"{key}_encode_ns_per_message"], 1), round(decode, 1),
                  round(size / base_bytes, 2), round(decode / base_decode, 2))  # fmt: skip
    table.add("v2 reading v1 bytes", round(figures["v1_bytes_per_message"], 1), "-",
              round(figures["v2_reads_v1_decode_ns_per_message"], 1), "-",
              round(figures["v2_reads_v1_decode_ns_per_message"] / base_decode, 2))  # fmt: skip
    table.add("v1 reading v2 bytes", round(figures["v2_bytes_per_message"], 1), "-",
              round(figures["v1_reads_v2_decode_ns_per_message"], 1), "-",
              round(figures["v1_reads_v2_decode_ns_per_message"] / base_decode, 2))  # fmt: skip
    report = Report("6.5", "The cost of schema evolution", [table], quick=quick)
    report.findings += schema_cost_findings(figures)
    report.headline = {
        "named_bytes_vs_positional_x": round(figures["v2_bytes_per_message"] / base_bytes, 2),
        "named_decode_vs_positional_x": round(figures["v2_decode_ns_per_message"] / base_decode, 2),
        "v2_reads_v1_vs_v2_x": round(
            figures["v2_reads_v1_decode_ns_per_message"] / figures["v2_decode_ns_per_message"], 2
        ),
    }
    return report


def schema_cost_findings(figures: dict) -> list[str]:
    """6.5's conclusions. ``figures``: what ``core.schema.schema_costs``
    returns (bytes and ns per message for each form)."""
    bytes_x = figures["v2_bytes_per_message"] / figures["array_bytes_per_message"]
    encode_x = figures["v2_encode_ns_per_message"] / figures["array_encode_ns_per_message"]
    decode_x = figures["v2_decode_ns_per_message"] / figures["array_decode_ns_per_message"]
    findings = [
        f"Naming every field so that versions can differ cost {bytes_x:.2f}x the bytes of the positional form, "
        f"{encode_x:.2f}x its encode time and {decode_x:.2f}x its decode time per message."
    ]
    cross = figures["v2_reads_v1_decode_ns_per_message"] / figures["v2_decode_ns_per_message"]
    back = figures["v1_reads_v2_decode_ns_per_message"] / figures["v1_decode_ns_per_message"]
    if abs(cross - 1) <= _SAME_WITHIN and abs(back - 1) <= _SAME_WITHIN:
        mixed = "no more than reading its own (within noise, ±10%): the migration is a default and a key name"
    else:
        mixed = f"{cross:.2f}x (v2 reading v1) and {back:.2f}x (v1 reading v2) of reading its own"
    findings.append(f"Reading the other version's bytes cost {mixed}.")
    convert = figures["v2_from_messages_ns_per_message"] + figures["v2_to_messages_ns_per_message"]
    findings.append(
        f"Turning the lab's messages into v2 wire structs and back cost {convert:.0f} ns per message, about "
        f"{convert / figures['v2_decode_ns_per_message']:.1f} decodes' worth: a process that kept the wire structs "
        "as its own messages would not pay it."
    )
    return findings


EXPERIMENTS = (
    Experiment("6.1", "Codec speed by payload size",
               "How do pickle, msgspec and json compare from a small message to a 100 KB snapshot, in time, "
               "bytes and allocations?", codec_by_size),
    Experiment("6.2", "End-to-end latency: phase 5 vs phase 6",
               "Does phase 6 (msgspec, parsing in the workers) lower latency and raise throughput over phase 5?",
               end_to_end),
    Experiment("6.3", "Queue throughput by codec and frame size",
               "How many messages a second cross a pipe, by codec and by messages per frame?", queue_throughput),
    Experiment("6.4", "Shared-memory publish cost by codec",
               "Can a cheaper codec publish books to shared memory ten times as often?", publish_cost),
    Experiment("6.5", "The cost of schema evolution",
               "What do versioned messages with named fields cost against positional ones, and what does "
               "reading the other version cost?", schema_cost),
)  # fmt: skip
