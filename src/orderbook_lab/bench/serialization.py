"""``bench codec``'s serialization tables: four codecs, three payloads.

Phase 6 moves the process engines from pickle to msgspec. This part of the
codec bench says what that buys, payload by payload, each codec in a fresh
worker process (see ``_runner``):

``pickle``
    ``pickle.dumps(value, protocol=5)`` and ``pickle.loads``: any Python
    object, no schema; the structs pickle through their ``__reduce__``
    (class reference plus field values), so decoding calls each class.
``msgspec-msgpack``
    a ``msgspec.msgpack.Encoder`` and a ``msgspec.msgpack.Decoder`` typed
    with the payload's type, both built once: binary, and the decoder
    builds and validates the typed structs in C as it reads.
``msgspec-json``
    the same with ``msgspec.json``: text on the wire, typed structs out.
``stdlib-json``
    ``json.dumps(msgspec.to_builtins(value))`` and ``json.loads``. What it
    does *not* give you: typed structs. ``json.loads`` returns dicts and
    lists (a struct comes back as a dict with a ``"type"`` key, a tuple as
    a list), nothing is validated, and turning them back into messages is
    another full pass (``msgspec.convert``) that the timings here leave
    out. The encoded value is a ``str`` of ASCII (``ensure_ascii``), so its
    length is its size in bytes; a pipe would add one ``.encode()`` copy.

The payloads (``PAYLOADS``), all built from the seeded stream the way the
engines see it:

``price_change``
    one ``PriceChangeMessage`` (both tokens of a market: two level
    changes), as ``parse_line`` produces it from a simulated line;
``ipc_batch``
    one phase 3 frame, exactly the shape the pool sends a worker
    (``engines/_pool.py``, ``engines/_worker.py``): ``(updates, controls)``
    with 100 ``(produced_ns, primary, message)`` tuples of the stream's
    steady state (after the initial snapshots) and ``controls == []``;
    msgspec decodes it with ``tuple[list[tuple[int, bool, Message]], list]``;
``snapshot``
    a ``BookMessage`` of 1,000 levels, 500 bids and 500 asks on the 0.0001
    grid, parsed from a wire line shaped like the feed's.

Figures per codec and payload (``measure``): ``encode_ns``, ``decode_ns``
and ``round_trip_ns`` (``decode(encode(value))``, in this process: CPU
only; ``bench ipc`` adds a pipe) per payload, medians of samples taken
with the garbage collector off, as ``timeit`` does, the three in turn
(round robin) so that a slow spell of a shared machine hits all three
alike; ``bytes`` encoded; and
what one decode allocates, measured in a separate pass after the timings
with ``tracemalloc`` (which slows every allocation down, so it never runs
while timing): ``decode_peak_bytes``, the highest traced memory during the
decode above what was traced before it, and ``decode_blocks``, the blocks
allocated during the decode that are still alive after it, the decoded
value held (the value's own objects: transient blocks freed inside the
decode show in the peak, not in the count). The same steps with a decode
that does nothing are subtracted from both. Before anything is timed, the
worker decodes each payload once and asserts that the value comes back
equal (for ``stdlib-json``: that ``msgspec.convert`` rebuilds an equal
value from the builtins it returns).
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import random
import time
from typing import Any

from ._runner import calibrate

__all__ = [
    "SERIAL_CODECS",
    "PAYLOADS",
    "PAYLOAD_NOTES",
    "IPC_BATCH",
    "SNAPSHOT_LEVELS",
    "payloads",
    "measure",
    "codec_functions",
    "decode_allocations",
]

SERIAL_CODECS = ("pickle", "msgspec-msgpack", "msgspec-json", "stdlib-json")
"""Codecs in table order; ``pickle`` is the one the ratios divide by."""

PAYLOADS = ("price_change", "ipc_batch", "snapshot")
"""Payload names in table order (see the module docstring)."""

IPC_BATCH = 100
"""Messages in the ``ipc_batch`` frame."""

SNAPSHOT_LEVELS = 500
"""Levels a side of the ``snapshot`` payload (1,000 in all)."""

PAYLOAD_NOTES = {
    "price_change": "one PriceChangeMessage (two level changes) as parse_line builds it",
    "ipc_batch": f"a phase 3 frame (updates, controls): {IPC_BATCH} (produced_ns, primary, message) "
    "tuples, controls []; msgspec decodes tuple[list[tuple[int, bool, Message]], list]",
    "snapshot": f"a BookMessage of {2 * SNAPSHOT_LEVELS:,} levels ({SNAPSHOT_LEVELS} bids, "
    f"{SNAPSHOT_LEVELS} asks, 0.0001 grid)",
}
"""Payload name -> what it is, for tables and JSON."""

_PRODUCED_BASE_NS = 5_000_000_000_000
_PRODUCED_STEP_NS = 50_000
"""``produced_ns`` stamps of the batch: a monotonic clock hours after boot,
one message every 50 µs (20,000 msg/s). Fixed, so that the bytes are the
same in every run; the value of a stamp, not its source, sets its size."""


def payloads(stream_path: str) -> dict[str, tuple[Any, Any]]:
    """Payload name -> (value, the type msgspec decodes it as), built from
    the stream file (one wire line per line). Deterministic: the same file
    gives equal payloads. O(messages in the file).

    Raises ``ValueError`` when the stream is too short for a batch of
    ``IPC_BATCH`` messages after its initial snapshots.
    """
    from ..core.messages import BookMessage, Message, PriceChangeMessage
    from ..core.parser import Rejection, parse_line

    with open(stream_path, encoding="utf-8") as handle:
        messages = [
            m
            for line_no, line in enumerate(handle, 1)
            if line.strip()
            for m in parse_line(line.strip(), line_no)
            if type(m) is not Rejection
        ]
    # The steady state begins after the initial snapshots: at the first
    # message that is not a book.
    start = next((i for i, m in enumerate(messages) if type(m) is not BookMessage), len(messages))
    steady = messages[start : start + IPC_BATCH]
    if len(steady) < IPC_BATCH:
        raise ValueError(f"the stream holds fewer than {IPC_BATCH} messages after its snapshots")
    price_change = next(m for m in steady if type(m) is PriceChangeMessage)
    updates = [
        (_PRODUCED_BASE_NS + index * _PRODUCED_STEP_NS, True, message) for index, message in enumerate(steady)
    ]
    return {
        "price_change": (price_change, PriceChangeMessage),
        "ipc_batch": ((updates, []), tuple[list[tuple[int, bool, Message]], list]),
        "snapshot": (_snapshot(), BookMessage),
    }


def _snapshot() -> Any:
    """A ``BookMessage`` of ``SNAPSHOT_LEVELS`` levels a side, parsed from
    a wire line in the feed's shape: bids ascending 0.4501-0.5, asks
    descending 0.55-0.5001, sizes with two decimals drawn from a fixed seed.

    >>> book = _snapshot()
    >>> len(book.bids), len(book.asks), max(book.bids)[0], min(book.asks)[0]
    (500, 500, 5000, 5001)
    """
    from ..core.parser import parse_line
    from ..core.prices import ticks_to_price

    rng = random.Random(6)

    def level(ticks: int) -> str:
        return f'{{"price":"{ticks_to_price(ticks)}","size":"{rng.lognormvariate(5.0, 1.4):.2f}"}}'

    best_bid = 5_000
    bids = ",".join(level(best_bid - SNAPSHOT_LEVELS + 1 + i) for i in range(SNAPSHOT_LEVELS))
    asks = ",".join(level(best_bid + SNAPSHOT_LEVELS - i) for i in range(SNAPSHOT_LEVELS))
    line = (
        f'{{"event_type":"book","asset_id":"{rng.getrandbits(250)}","market":"0x{rng.getrandbits(256):064x}",'
        f'"bids":[{bids}],"asks":[{asks}],"timestamp":"1760000000000",'
        f'"hash":"{rng.getrandbits(160):040x}","tick_size":"0.0001"}}'
    )
    (book,) = parse_line(line, 1)
    return book


def codec_functions(name: str, kind: Any):
    """(encode, decode) of codec ``name`` for values of type ``kind``,
    built once."""
    if name == "pickle":
        return (lambda value: pickle.dumps(value, 5)), pickle.loads
    import msgspec

    if name == "msgspec-msgpack":
        return msgspec.msgpack.Encoder().encode, msgspec.msgpack.Decoder(kind).decode
    if name == "msgspec-json":
        return msgspec.json.Encoder().encode, msgspec.json.Decoder(kind).decode
    if name == "stdlib-json":
        to_builtins, dumps = msgspec.to_builtins, json.dumps
        return (lambda value: dumps(to_builtins(value))), json.loads
    raise ValueError(f"unknown serialization codec {name!r}")


def _check(name: str, payload: str, decoded: Any, value: Any, kind: Any) -> None:
    """The decode gave back ``value`` (``stdlib-json``: builtins that
    rebuild it); an ``AssertionError`` naming codec and payload if not."""
    if name == "stdlib-json":
        import msgspec

        decoded = msgspec.convert(decoded, kind)
    assert decoded == value, f"{name} did not round-trip the {payload} payload"


def decode_allocations(decode, data) -> tuple[int, int]:
    """(peak bytes, blocks kept) of one ``decode(data)`` under tracemalloc,
    less the same steps with a decode that does nothing (see the module
    docstring)."""
    import tracemalloc

    def traced(call) -> tuple[int, int]:
        gc.collect()
        gc.disable()  # a collection in the middle would free someone else's blocks
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            kept = call(data)
            peak = tracemalloc.get_traced_memory()[1]
            blocks = len(tracemalloc.take_snapshot().traces)
        finally:
            tracemalloc.stop()
            gc.enable()
        del kept
        return peak - base, blocks

    harness_peak, harness_blocks = traced(lambda _: None)
    peak, blocks = traced(decode)
    return peak - harness_peak, blocks - harness_blocks


def _round_robin(runs: dict, timing: dict) -> dict[str, list[float]]:
    """ns per call of each sample of each ``run(loops)`` in ``runs``, GC off
    while sampling (as timeit). Each is calibrated and warmed up, then the
    samples go round robin (one of each per round), so that drift in the
    machine's speed hits encode, decode and round trip alike."""
    gc.collect()
    gc.disable()
    try:
        loops = {name: calibrate(run, timing["min_sample_s"]) for name, run in runs.items()}
        for name, run in runs.items():  # warm-up, thrown away
            run(loops[name])
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(timing["repeats"]):
            for name, run in runs.items():
                samples[name].append(run(loops[name]) / loops[name])
        return samples
    finally:
        gc.enable()


def _loop(call, argument):
    """A ``run(loops)`` calling ``call(argument)`` ``loops`` times (ns)."""

    def run(loops: int) -> int:
        began = time.perf_counter_ns()
        for _ in range(loops):
            call(argument)
        return time.perf_counter_ns() - began

    return run


def measure(name: str, stream_path: str, timing: dict) -> dict[str, Any]:
    """Worker side: every payload through codec ``name``. Returns, per
    payload, the samples (``encode_ns``, ``decode_ns``, ``round_trip_ns``)
    and ``bytes``, ``decode_peak_bytes``, ``decode_blocks``."""
    built = payloads(stream_path)
    codecs = {payload: codec_functions(name, kind) for payload, (_, kind) in built.items()}
    encoded = {}
    for payload, (value, kind) in built.items():  # checked once, before any timing
        encode, decode = codecs[payload]
        encoded[payload] = encode(value)
        _check(name, payload, decode(encoded[payload]), value, kind)
    results: dict[str, dict[str, Any]] = {}
    for payload, (value, _) in built.items():
        encode, decode = codecs[payload]
        data = encoded[payload]
        runs = {
            "encode_ns": _loop(encode, value),
            "decode_ns": _loop(decode, data),
            "round_trip_ns": _loop(lambda v, e=encode, d=decode: d(e(v)), value),
        }
        results[payload] = {**_round_robin(runs, timing), "bytes": len(data)}
    for payload in built:  # tracemalloc after every timing: it slows allocation down
        peak, blocks = decode_allocations(codecs[payload][1], encoded[payload])
        results[payload]["decode_peak_bytes"] = peak
        results[payload]["decode_blocks"] = blocks
    return {"codec": name, "payloads": results, "batch": IPC_BATCH, "pid": os.getpid()}
