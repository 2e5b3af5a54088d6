"""``bench codec``: from a raw wire line to an applied book, and where the
time of one phase-1 message goes.

The bench sits beside the experiments, above the engines: it measures
the core's parsers and book directly, and the ``sync`` engine (phase 1)
end to end. Workers (fresh processes, see ``_runner``):

``stdlib``
    ``parse_line`` (stdlib ``json``) then ``MessageRouter.apply``, msg/s;
    the phase-1 engine on the same lines with metrics on and off, in
    alternating samples (the metrics overhead); and the breakdown of one
    message: source (frame), parse, route + apply, metrics (two histogram
    records and a clock read), each timed on its own over the whole
    stream, plus the engine loop's remainder (total minus the parts).
``msgspec``
    the same with ``parse_line_msgspec`` (msgspec typed structs, one
    decoder built once), and the phase-1 engine with ``--codec msgspec``.
``book``
    pre-parsed level changes straight into the books
    (``StateMachine.apply_change`` per change): the ceiling under both.

All rates are medians of the samples; every sample is one pass over the
whole seeded stream (the ``source`` command's stream) on fresh books.

The same command then compares serializations (``serialization``):
pickle, msgspec MessagePack, msgspec JSON and stdlib ``json`` on one
``price_change``, one phase 3 frame of 100 messages and a snapshot of
1,000 levels; encode, decode and round trip times, bytes, and what a
decode allocates. Its headline is the frame's round trip, msgspec
MessagePack against pickle (``ipc_batch_msgpack_vs_pickle_x``; issue #15
asks for at least 5x and aims at 10x: ``IPC_BATCH_GOAL_X``).
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from ._runner import Timing, calibrate, median, rotated, run_worker, sample
from .serialization import PAYLOAD_NOTES, PAYLOADS, SERIAL_CODECS

__all__ = ["CodecReport", "IPC_BATCH_GOAL_X", "run_codec_bench"]

IPC_BATCH_GOAL_X = (5.0, 10.0)
"""Issue #15's (goal, target) for msgspec MessagePack's round trip of the
phase 3 frame against pickle's: how many times faster."""

_SEED = 1
_ASSETS = 10


def _read(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def _timed(run, per: int, timing: dict) -> list[float]:
    """ns per item of each sample, GC off while sampling (as timeit)."""
    gc.collect()
    gc.disable()
    try:
        loops = calibrate(run, timing["min_sample_s"])
        return [ns / (loops * per) for ns in sample(run, loops, timing["repeats"])]
    finally:
        gc.enable()


def _passes(body):
    """A ``run(loops)`` timing ``body`` once per loop (fresh state each)."""

    def run(loops: int) -> int:
        elapsed = 0
        for _ in range(loops):
            elapsed += body()
        return elapsed

    return run


def _parse_apply(lines: list[str], parse) -> int:
    from ..core.parser import Rejection
    from ..core.router import MessageRouter

    router = MessageRouter()
    apply = router.apply
    began = time.perf_counter_ns()
    for line_no, line in enumerate(lines, 1):
        for message in parse(line, line_no):
            if type(message) is not Rejection:
                apply(message)
    return time.perf_counter_ns() - began


def _engine(lines: list[str], codec: str, metrics: bool) -> int:
    from ..core.source import MessageSource
    from ..engines import RunConfig, create_engine, run_engine

    config = RunConfig(messages=None, codec=codec, metrics=metrics)
    engine = create_engine(config)
    began = time.perf_counter_ns()
    run_engine(engine, MessageSource(lines))
    return time.perf_counter_ns() - began


def measure(contender: str, stream_path: str, timing: dict) -> dict[str, Any]:
    """Worker side: time one path on the stream file."""
    from ..core.parser import Rejection, parse_line, parse_line_msgspec

    lines = _read(stream_path)
    messages = [m for n, line in enumerate(lines, 1) for m in parse_line(line, n) if type(m) is not Rejection]
    count = len(messages)
    changes = sum(len(m.changes) for m in messages if hasattr(m, "changes"))
    result: dict[str, Any] = {
        "contender": contender,
        "messages": count,
        "changes": changes,
        "pid": os.getpid(),
    }
    if contender in ("stdlib", "msgspec"):
        parse = parse_line if contender == "stdlib" else parse_line_msgspec
        codec = "pickle" if contender == "stdlib" else "msgspec"
        result["parse_apply_ns"] = _timed(_passes(lambda: _parse_apply(lines, parse)), count, timing)
        # Round robin, one pass each per round: the engine with metrics on
        # and off and (stdlib) each step of the breakdown, so that drift in
        # the machine's speed hits every figure of a round alike.
        steps = {
            "engine_ns": lambda: _engine(lines, codec, True),
            "engine_no_metrics_ns": lambda: _engine(lines, codec, False),
        }
        if contender == "stdlib":
            steps.update(_breakdown_steps(lines, messages))
        rounds: dict[str, list[float]] = {name: [] for name in steps}
        gc.collect()
        for step in steps.values():  # warm-up
            step()
        for _ in range(timing["repeats"]):
            for name, step in steps.items():
                rounds[name].append(step() / count)
        result["engine_ns"] = rounds.pop("engine_ns")
        result["engine_no_metrics_ns"] = rounds.pop("engine_no_metrics_ns")
        if contender == "stdlib":
            result["breakdown_ns"] = rounds
    elif contender == "book":
        result["change_ns"] = _timed(_passes(lambda: _changes_only(messages)), changes, timing)
    else:
        raise ValueError(f"unknown codec contender {contender!r}")
    return result


def _changes_only(messages: list) -> int:
    from ..core.book import StateMachine
    from ..core.messages import BookMessage, PriceChangeMessage

    books: dict[str, StateMachine] = {}
    ops = []  # pre-parsed: (book, side, price, size), books made up front
    for message in messages:
        if type(message) is BookMessage:
            book = books.setdefault(message.asset_id, StateMachine(message.asset_id))
            book.apply_snapshot(message.bids, message.asks)
        elif type(message) is PriceChangeMessage:
            for c in message.changes:
                book = books.get(c.asset_id) or books.setdefault(c.asset_id, StateMachine(c.asset_id))
                ops.append((book.apply_change, c.side, c.price, c.size))
    began = time.perf_counter_ns()
    for apply_change, side, price, size in ops:
        apply_change(side, price, size)
    return time.perf_counter_ns() - began


def _breakdown_steps(lines: list[str], messages: list) -> dict:
    """Each step of a phase-1 message on its own: name -> one timed pass (ns)."""
    from ..core.metrics import LatencyHistogram, record_pair
    from ..core.parser import parse_line
    from ..core.router import MessageRouter
    from ..core.source import MessageSource

    count = len(messages)

    def source() -> int:
        began = time.perf_counter_ns()
        for _frame in MessageSource(lines):
            pass
        return time.perf_counter_ns() - began

    def parse() -> int:
        began = time.perf_counter_ns()
        for line_no, line in enumerate(lines, 1):
            parse_line(line, line_no)
        return time.perf_counter_ns() - began

    def route() -> int:
        router = MessageRouter()
        apply = router.apply
        began = time.perf_counter_ns()
        for message in messages:
            apply(message)
        return time.perf_counter_ns() - began

    def metrics() -> int:  # what Pipeline.record adds: a clock read, two histograms
        latency, processing = LatencyHistogram(), LatencyHistogram()
        now = time.perf_counter_ns
        began = now()
        for _ in range(count):
            stamp = now()
            record_pair(latency, stamp - began, processing, stamp - began)
        return now() - began

    return {"source": source, "parse": parse, "route_apply": route, "metrics": metrics}


# ------------------------------------------------------------------ the parent


@dataclass
class CodecReport:
    messages: int
    changes: int
    timing: Timing
    python: str
    machine: str
    msgs_per_s: dict[str, float] = field(default_factory=dict)
    """Parse + apply, no engine: ``stdlib``, ``msgspec``."""
    engine_msgs_per_s: dict[str, float] = field(default_factory=dict)
    """The phase-1 engine from raw lines: ``stdlib``, ``msgspec``, ``stdlib, metrics off``."""
    changes_per_s: float = 0.0
    breakdown_us: dict[str, float] = field(default_factory=dict)
    metrics_overhead_pct: float = 0.0
    serialization: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Payload -> codec -> medians ``encode_ns``, ``decode_ns``,
    ``round_trip_ns``, and ``bytes``, ``decode_peak_bytes``,
    ``decode_blocks`` (see ``serialization``); in ``PAYLOADS`` and
    ``SERIAL_CODECS`` order."""
    serial_samples: int = 0
    """Samples behind each serialization median."""

    @property
    def ipc_batch_msgpack_vs_pickle_x(self) -> float:
        """pickle's round trip of the 100-message frame over msgspec
        MessagePack's: how many times faster msgspec is (0.0 if not run)."""
        batch = self.serialization.get("ipc_batch", {})
        if "pickle" not in batch or "msgspec-msgpack" not in batch:
            return 0.0
        return batch["pickle"]["round_trip_ns"] / batch["msgspec-msgpack"]["round_trip_ns"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": "codec",
            "python": self.python,
            "machine": self.machine,
            "stream": {"messages": self.messages, "changes": self.changes, "seed": _SEED, "assets": _ASSETS},
            "results": [
                {
                    "name": name,
                    "msgs_per_s": round(rate, 1),
                    "engine_msgs_per_s": round(self.engine_msgs_per_s.get(name, 0.0), 1),
                }
                for name, rate in self.msgs_per_s.items()
            ],
            "book_changes_per_s": round(self.changes_per_s, 1),
            "breakdown_us": {k: round(v, 3) for k, v in self.breakdown_us.items()},
            "metrics_overhead_pct": round(self.metrics_overhead_pct, 2),
            "engine_msgs_per_s": {k: round(v, 1) for k, v in self.engine_msgs_per_s.items()},
            "serialization": {
                "codecs": list(SERIAL_CODECS),
                "payloads": {name: PAYLOAD_NOTES[name] for name in self.serialization},
                "results": [
                    {
                        "codec": codec,
                        "payload": payload,
                        **{key: round(value, 1) for key, value in figures.items()},
                        "round_trip_vs_pickle_x": round(
                            self.serialization[payload]["pickle"]["round_trip_ns"] / figures["round_trip_ns"],
                            3,
                        ),
                    }
                    for payload, by_codec in self.serialization.items()
                    for codec, figures in by_codec.items()
                ],
                "samples": self.serial_samples,
                "timing": "in-process, garbage collector off while sampling; allocations by tracemalloc",
            },
            "ipc_batch_msgpack_vs_pickle_x": round(self.ipc_batch_msgpack_vs_pickle_x, 3),
            "ipc_batch_goal": {"at_least_x": IPC_BATCH_GOAL_X[0], "target_x": IPC_BATCH_GOAL_X[1]},
            "method": {
                "processes_per_contender": self.timing.processes,
                "repeats_per_process": self.timing.repeats,
                "statistic": "median",
            },
        }


def run_codec_bench(
    *, quick: bool = False, messages: int | None = None, timing: Timing | None = None, progress=None
) -> CodecReport:
    from ..core.source import MessageSource, SourceConfig
    from ._runner import machine, python_version

    messages = messages or (5_000 if quick else 50_000)
    timing = timing or (Timing.quick() if quick else Timing(processes=2))
    samples: dict[str, dict[str, Any]] = {}
    serial: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-bench-") as tmp:
        path = os.path.join(tmp, "stream.jsonl")
        lines = MessageSource.synthetic(
            SourceConfig(messages=messages, assets=_ASSETS, seed=_SEED)
        ).wire_lines()
        with open(path, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
        for round_no in range(timing.processes):
            for name in rotated(("stdlib", "msgspec", "book"), round_no):
                if progress is not None:
                    progress(f"{name}: worker {round_no + 1}/{timing.processes}")
                answer = run_worker(
                    {
                        "bench": "codec",
                        "contender": name,
                        "stream": path,
                        "timing": {"repeats": timing.repeats, "min_sample_s": timing.min_sample_s},
                    }
                )
                got = samples.setdefault(name, {"messages": answer["messages"], "changes": answer["changes"]})
                for key, values in answer.items():
                    if key.endswith("_ns") and isinstance(values, list):
                        got.setdefault(key, []).extend(values)
                    elif key == "breakdown_ns":  # name -> samples
                        for step, step_values in values.items():
                            got.setdefault(f"breakdown:{step}", []).extend(step_values)
            for name in rotated(SERIAL_CODECS, round_no):
                if progress is not None:
                    progress(f"serialization, {name}: worker {round_no + 1}/{timing.processes}")
                answer = run_worker(
                    {
                        "bench": "codec-serial",
                        "contender": name,
                        "stream": path,
                        "timing": {"repeats": timing.repeats, "min_sample_s": timing.min_sample_s},
                    }
                )
                for payload, figures in answer["payloads"].items():
                    got = serial.setdefault(payload, {}).setdefault(name, {})
                    for key, value in figures.items():
                        if isinstance(value, list):
                            got.setdefault(key, []).extend(value)
                        else:  # sizes and allocations: the same in every worker
                            got[key] = value
    stdlib = samples["stdlib"]
    report = CodecReport(stdlib["messages"], stdlib["changes"], timing, python_version(), machine())
    for name in ("stdlib", "msgspec"):
        report.msgs_per_s[name] = 1e9 / median(samples[name]["parse_apply_ns"])
        report.engine_msgs_per_s[name] = 1e9 / median(samples[name]["engine_ns"])
    on, off = median(stdlib["engine_ns"]), median(stdlib["engine_no_metrics_ns"])
    report.engine_msgs_per_s["stdlib, metrics off"] = 1e9 / off
    report.metrics_overhead_pct = 100 * (on - off) / off
    report.changes_per_s = 1e9 / median(samples["book"]["change_ns"])
    parts = {
        step: median(stdlib[f"breakdown:{step}"]) / 1e3
        for step in ("source", "parse", "route_apply", "metrics")
    }
    # The remainder: what the engine adds around the steps (its loop, the
    # pipeline's counting). A difference of medians: noise can make it small
    # or even negative on a busy machine, and it is shown as measured.
    parts["engine loop (rest)"] = on / 1e3 - sum(parts.values())
    parts["total (phase 1 engine)"] = on / 1e3
    report.breakdown_us = parts
    for payload in PAYLOADS:
        report.serialization[payload] = {
            codec: {
                key: median(value) if isinstance(value, list) else value
                for key, value in serial[payload][codec].items()
            }
            for codec in SERIAL_CODECS
        }
    report.serial_samples = len(serial[PAYLOADS[0]][SERIAL_CODECS[0]]["encode_ns"])
    return report
