"""``bench ipc``: what it costs to move messages between processes.

Phase 3 ships batches of typed messages to worker processes; phase 6
replaces pickle with msgspec. This bench measures the difference on the
seeded stream (the ``source`` command's), per codec, each in a fresh
worker process (see ``_runner``):

``encode`` / ``decode``
    one batch to bytes and back, in one process: the CPU cost alone;
``round trip``
    a batch encoded, sent through a ``multiprocessing`` pipe to a child
    process that decodes it and encodes it again (what a worker does with
    a batch it answers), sent back and decoded: CPU, copies and two
    context switches, per message;
``bytes / msg``
    the encoded size.

``pickle`` uses the highest protocol; ``msgspec`` a MessagePack encoder and
a typed decoder, each built once. The child is started, stopped by a
sentinel and joined in ``finally``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from ._runner import Timing, calibrate, median, rotated, run_worker, sample

__all__ = ["CODECS", "IpcReport", "run_ipc_bench"]

CODECS = ("pickle", "msgspec")
_BATCH = 64
_STOP = b""


def _codec(name: str):
    """(encode, decode) for a list of messages."""
    if name == "pickle":
        protocol = pickle.HIGHEST_PROTOCOL
        return (lambda batch: pickle.dumps(batch, protocol)), pickle.loads
    import msgspec

    from ..core.messages import Message

    encoder = msgspec.msgpack.Encoder()
    decoder = msgspec.msgpack.Decoder(list[Message])
    return encoder.encode, decoder.decode


def _echo(connection, codec: str) -> None:
    """Child process: decode each batch, encode it again, send it back."""
    encode, decode = _codec(codec)
    try:
        while True:
            data = connection.recv_bytes()
            if data == _STOP:
                return
            connection.send_bytes(encode(decode(data)))
    finally:
        connection.close()


def measure(codec: str, stream_path: str, timing: dict) -> dict[str, Any]:
    """Worker side: time one codec on the stream's messages."""
    from ..core.parser import Rejection, parse_line

    with open(stream_path, encoding="utf-8") as handle:
        messages = [
            m
            for n, line in enumerate(handle, 1)
            for m in parse_line(line.strip(), n)
            if type(m) is not Rejection
        ]
    batches = [messages[i : i + _BATCH] for i in range(0, len(messages), _BATCH)]
    encode, decode = _codec(codec)
    encoded = [encode(batch) for batch in batches]
    assert all(decode(data) == batch for data, batch in zip(encoded, batches, strict=True)), (
        "codec lost a message"
    )
    count = len(messages)

    def run_encode(loops: int) -> int:
        began = time.perf_counter_ns()
        for _ in range(loops):
            for batch in batches:
                encode(batch)
        return time.perf_counter_ns() - began

    def run_decode(loops: int) -> int:
        began = time.perf_counter_ns()
        for _ in range(loops):
            for data in encoded:
                decode(data)
        return time.perf_counter_ns() - began

    repeats, min_sample_s = timing["repeats"], timing["min_sample_s"]
    result: dict[str, Any] = {
        "codec": codec,
        "messages": count,
        "batch": _BATCH,
        "pid": os.getpid(),
        "bytes_per_msg": sum(map(len, encoded)) / count,
    }
    for key, run in (("encode_ns", run_encode), ("decode_ns", run_decode)):
        loops = calibrate(run, min_sample_s)
        result[key] = [ns / (loops * count) for ns in sample(run, loops, repeats)]

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_echo, args=(child, codec), daemon=True)
    process.start()
    try:
        child.close()

        def run_trip(loops: int) -> int:
            send, receive = parent.send_bytes, parent.recv_bytes
            began = time.perf_counter_ns()
            for _ in range(loops):
                for batch in batches:
                    send(encode(batch))
                    decode(receive())
            return time.perf_counter_ns() - began

        loops = calibrate(run_trip, min_sample_s)
        result["round_trip_ns"] = [ns / (loops * count) for ns in sample(run_trip, loops, repeats)]
        parent.send_bytes(_STOP)
    finally:
        process.join(timeout=10)
        if process.is_alive():  # it did not take the sentinel: last resort
            process.terminate()
            process.join()
        parent.close()
    return result


@dataclass
class IpcReport:
    messages: int
    batch: int
    timing: Timing
    python: str
    machine: str
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    """Codec -> encode_us, decode_us, round_trip_us (per message), msgs_per_s, bytes_per_msg."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": "ipc",
            "python": self.python,
            "machine": self.machine,
            "stream": {"messages": self.messages, "batch": self.batch},
            "results": [
                {"name": name, **{k: round(v, 3) for k, v in figures.items()}}
                for name, figures in self.results.items()
            ],
            "method": {
                "processes_per_contender": self.timing.processes,
                "repeats_per_process": self.timing.repeats,
                "statistic": "median",
            },
        }


def run_ipc_bench(
    *, quick: bool = False, messages: int | None = None, timing: Timing | None = None, progress=None
) -> IpcReport:
    from ..core.source import MessageSource, SourceConfig
    from ._runner import machine, python_version

    messages = messages or (3_000 if quick else 30_000)
    timing = timing or (Timing.quick() if quick else Timing(processes=2))
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in CODECS}
    counts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-bench-") as tmp:
        path = os.path.join(tmp, "stream.jsonl")
        with open(path, "w", encoding="utf-8") as handle:
            for line in MessageSource.synthetic(SourceConfig(messages=messages, seed=1)).wire_lines():
                handle.write(line + "\n")
        for round_no in range(timing.processes):
            for name in rotated(CODECS, round_no):
                if progress is not None:
                    progress(f"{name}: worker {round_no + 1}/{timing.processes}")
                answer = run_worker(
                    {
                        "bench": "ipc",
                        "contender": name,
                        "stream": path,
                        "timing": {"repeats": timing.repeats, "min_sample_s": timing.min_sample_s},
                    }
                )
                for key in ("encode_ns", "decode_ns", "round_trip_ns"):
                    samples[name].setdefault(key, []).extend(answer[key])
                counts[name] = answer
    first = counts[CODECS[0]]
    report = IpcReport(first["messages"], first["batch"], timing, python_version(), machine())
    for name in CODECS:
        trip = median(samples[name]["round_trip_ns"])
        report.results[name] = {
            "encode_us": median(samples[name]["encode_ns"]) / 1e3,
            "decode_us": median(samples[name]["decode_ns"]) / 1e3,
            "round_trip_us": trip / 1e3,
            "msgs_per_s": 1e9 / trip,
            "bytes_per_msg": counts[name]["bytes_per_msg"],
        }
    return report
