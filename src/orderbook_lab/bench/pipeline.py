"""``bench pipeline``: a raw JSONL file to final books, against the script a
user would write instead.

Everything runs in one process per sample: read the file, parse every
line, apply every message, end with one book per asset. The question is
whether this project's pipeline earns its keep against the plain script
anyone could write in twenty lines with a fast book library. Four
contenders (``CONTENDERS``) on the same file, each in fresh worker
processes (see ``_runner``):

``lab-stdlib``
    ``parse_line`` (stdlib ``json``, validated typed messages) then
    ``MessageRouter.apply``, reading the file as the ``replay`` command does
    (``RecordingReader``: bytes, stripped lines);
``lab-msgspec``
    the same with ``parse_line_msgspec`` (msgspec typed structs);
``script-json``
    ``script_json``: ``json.loads`` per line into the ``order-book`` C
    extension's ``OrderBook``, one per asset;
``script-msgspec``
    ``script_msgspec``: the same script with a ``msgspec.json.Decoder`` of
    a few structs a user would declare for the fields they read.

The two scripts are deliberately plain, idiomatic and unhandicapped (see
their docstrings): what they skip is what the lab does on top, namely
validating every field and rejecting bad messages whole, integer ticks,
checking the feed's best prices after every message, counting off-grid
prices, orphans and crossings, and keeping each side sorted at all times
(the C extension sorts lazily, on a read, and the scripts never read).
The ratio each lab path shows against its script is the price of that
work, or its dividend: the issue's goals are ``lab-msgspec`` at least
1.5x ``script-msgspec`` (2x the target) and ``lab-stdlib`` at least
``script-json``'s rate (``GOALS``).

The stream is the seeded one ``orderbook-lab source`` writes (same
generator, same options): initial snapshots in JSON arrays, then mostly
``price_change`` messages in the current wire generation (a
``price_changes`` list, both tokens of a market), about 1 % fresh ``book``
snapshots, 1 % trades and a few ``tick_size_change``.

Figures: ``msgs_per_s`` per contender, from the median of its samples of
ns per message; a sample is one whole pass over the file, from opening it
to the last book, with the garbage collector on (it runs in a real
pipeline, and it is part of what allocating per line costs: the scripts'
dicts are tracked by it, the lab's messages are not). Each worker also
builds the books once more outside the timings and reports a digest of
them (``books_digest`` of every book, prices as ticks of 0.0001, sizes as
floats, best first): ``same_books`` says whether every contender ended
with exactly the books of ``lab-stdlib``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ._runner import Timing, calibrate, median, rotated, run_worker, sample

__all__ = [
    "CONTENDERS",
    "SCRIPT_OF",
    "GOALS",
    "LABELS",
    "PipelineReport",
    "lab_books",
    "script_json",
    "script_msgspec",
    "books_of",
    "write_stream",
    "run_pipeline_bench",
]

CONTENDERS = ("lab-stdlib", "lab-msgspec", "script-json", "script-msgspec")
"""Contender names in table order."""

SCRIPT_OF = {"lab-stdlib": "script-json", "lab-msgspec": "script-msgspec"}
"""Each lab path and the script it is measured against (same JSON decoder)."""

GOALS = {"lab-stdlib": (1.0, 1.0), "lab-msgspec": (1.5, 2.0)}
"""Issue #15's (goal, target) for each lab path's rate over its script's."""

LABELS = {
    "lab-stdlib": "orderbook-lab, stdlib json",
    "lab-msgspec": "orderbook-lab, msgspec",
    "script-json": "script: json.loads + order-book",
    "script-msgspec": "script: msgspec + order-book",
}
"""What each contender is, for tables."""

_SEED = 1
_TICKS_PER_UNIT = 10_000


# ------------------------------------------------------------------ contenders


def lab_books(path: str, parse) -> Any:
    """This project's pipeline on a JSONL file: each line through ``parse``
    (``parse_line`` or ``parse_line_msgspec``), each message through
    ``MessageRouter.apply``, rejections skipped. Returns the router.
    O(messages + levels)."""
    from ..core.parser import Rejection
    from ..core.recording import RecordingReader
    from ..core.router import MessageRouter

    router = MessageRouter()
    apply = router.apply
    for line_no, line in enumerate(RecordingReader(path), 1):
        if line:
            for message in parse(line, line_no):
                if type(message) is not Rejection:
                    apply(message)
    return router


def script_json(path: str) -> dict[str, Any]:
    """What a user writes with the standard library and ``order-book``:
    ``json.loads`` each line (the first lines are arrays of snapshots),
    one ``OrderBook`` per asset in a ``defaultdict``.

    A ``book`` replaces both sides with fresh dicts; each entry of a
    ``price_change`` sets a level, and a size of 0 removes it. Prices are
    float keys: every spelling of a price ("0.48", ".48", "0.480") gives
    the same float, and floats hash and compare far faster than
    ``Decimal``. The feed's current generation only (a ``price_changes``
    list with an ``asset_id`` per entry): the older two (``changes`` with
    one top-level ``asset_id``, and the flat single change) are not in the
    stream, so a script written against today's feed has no branch for
    them. Trades and tick size changes move no level: skipped.
    Returns asset id -> ``OrderBook``.
    """
    from order_book import OrderBook

    books = defaultdict(OrderBook)
    with open(path, "rb") as handle:
        for line in handle:
            data = json.loads(line)
            for message in data if isinstance(data, list) else [data]:
                kind = message["event_type"]
                if kind == "price_change":
                    for change in message["price_changes"]:
                        book = books[change["asset_id"]]
                        side = book.bids if change["side"] == "BUY" else book.asks
                        price, size = float(change["price"]), float(change["size"])
                        if size:
                            side[price] = size
                        elif price in side:
                            del side[price]
                elif kind == "book":
                    book = books[message["asset_id"]]
                    book.bids = {float(level["price"]): float(level["size"]) for level in message["bids"]}
                    book.asks = {float(level["price"]): float(level["size"]) for level in message["asks"]}
    return dict(books)


class _Level(msgspec.Struct):
    price: str
    size: str


class _Change(msgspec.Struct):
    asset_id: str
    side: str
    price: str
    size: str


class _Book(msgspec.Struct, tag_field="event_type", tag="book"):
    asset_id: str
    bids: list[_Level]
    asks: list[_Level]


class _PriceChange(msgspec.Struct, tag_field="event_type", tag="price_change"):
    price_changes: list[_Change]


class _Trade(msgspec.Struct, tag_field="event_type", tag="last_trade_price"):
    pass


class _TickSizeChange(msgspec.Struct, tag_field="event_type", tag="tick_size_change"):
    pass


_Event = _Book | _PriceChange | _Trade | _TickSizeChange
_decode_events = msgspec.json.Decoder(_Event | list[_Event]).decode


def script_msgspec(path: str) -> dict[str, Any]:
    """``script_json`` with msgspec, as its documentation teaches: a struct
    per event type with only the fields the script reads (strings, as the
    feed sends them; unknown fields are skipped in C), empty structs for
    the event types it ignores, one ``msgspec.json.Decoder`` built once.
    Everything else is ``script_json``'s loop. (Decoding untyped, to dicts,
    is the other thing a user might write: slower than these structs, so
    they are the harder opponent.)
    Returns asset id -> ``OrderBook``.
    """
    from order_book import OrderBook

    books = defaultdict(OrderBook)
    with open(path, "rb") as handle:
        for line in handle:
            data = _decode_events(line)
            for message in data if isinstance(data, list) else [data]:
                if type(message) is _PriceChange:
                    for change in message.price_changes:
                        book = books[change.asset_id]
                        side = book.bids if change.side == "BUY" else book.asks
                        price, size = float(change.price), float(change.size)
                        if size:
                            side[price] = size
                        elif price in side:
                            del side[price]
                elif type(message) is _Book:
                    book = books[message.asset_id]
                    book.bids = {float(level.price): float(level.size) for level in message.bids}
                    book.asks = {float(level.price): float(level.size) for level in message.asks}
    return dict(books)


def books_of(result: Any) -> dict[str, list[list[list]]]:
    """Any contender's books in one form: asset id -> ``[bids, asks]``, each
    side best first as ``[ticks, size]`` pairs. O(levels).

    >>> from order_book import OrderBook
    >>> book = OrderBook()
    >>> book.bids = {0.48: 3.0, 0.5: 1.0}
    >>> books_of({"a": book})
    {'a': [[[5000, 1.0], [4800, 3.0]], []]}
    """
    if isinstance(result, dict):  # order-book books: float prices
        return {
            asset: [
                [[round(price * _TICKS_PER_UNIT), size] for price, size in side.to_list()]
                for side in (book.bids, book.asks)
            ]
            for asset, book in result.items()
        }
    books = {}
    for asset in result.assets():  # a MessageRouter
        bid_prices, bid_sizes, ask_prices, ask_sizes = result.get(asset).columns()
        books[asset] = [
            [list(level) for level in zip(bid_prices, bid_sizes, strict=True)],
            [list(level) for level in zip(ask_prices, ask_sizes, strict=True)],
        ]
    return books


def _digest(books: dict[str, list[list[list]]]) -> str:
    text = json.dumps(books, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _runner_of(contender: str):
    """The function that builds ``contender``'s books from a path."""
    if contender == "lab-stdlib":
        from ..core.parser import parse_line

        return lambda path: lab_books(path, parse_line)
    if contender == "lab-msgspec":
        from ..core.parser import parse_line_msgspec

        return lambda path: lab_books(path, parse_line_msgspec)
    if contender == "script-json":
        return script_json
    if contender == "script-msgspec":
        return script_msgspec
    raise ValueError(f"unknown pipeline contender {contender!r}")


def _count_messages(path: str) -> tuple[int, int]:
    """(messages, lines) of a stream file: an array line counts each item."""
    messages = lines = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                lines += 1
                data = msgspec.json.decode(line)
                messages += len(data) if isinstance(data, list) else 1
    return messages, lines


def measure(contender: str, stream_path: str, timing: dict) -> dict[str, Any]:
    """Worker side: whole passes of one contender over the file, ns per
    message, and the digest of the books it ends with."""
    build = _runner_of(contender)
    messages, lines = _count_messages(stream_path)
    books = books_of(build(stream_path))  # also the first use of every code path

    def run(loops: int) -> int:
        elapsed = 0
        for _ in range(loops):
            gc.collect()  # each pass starts with no garbage from the last
            began = time.perf_counter_ns()
            build(stream_path)
            elapsed += time.perf_counter_ns() - began
        return elapsed

    loops = calibrate(run, timing["min_sample_s"])
    samples = [ns / (loops * messages) for ns in sample(run, loops, timing["repeats"])]
    return {
        "contender": contender,
        "messages": messages,
        "lines": lines,
        "ns_per_msg": samples,
        "books": len(books),
        "levels": sum(len(side) for sides in books.values() for side in sides),
        "books_digest": _digest(books),
        "pid": os.getpid(),
    }


# ------------------------------------------------------------------ the parent


@dataclass
class PipelineReport:
    messages: int
    lines: int
    assets: int
    timing: Timing
    python: str
    machine: str
    msgs_per_s: dict[str, float] = field(default_factory=dict)
    """Contender -> msg/s (median), in ``CONTENDERS`` order, those that ran."""
    samples: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    books: int = 0
    levels: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def same_books_as_lab(self, name: str) -> bool:
        """Whether ``name`` ended with exactly ``lab-stdlib``'s books."""
        return self.digests.get(name) == self.digests.get("lab-stdlib")

    @property
    def same_books(self) -> bool:
        """Every contender that ran ended with the same books."""
        return len(set(self.digests.values())) == 1

    def vs_script(self, name: str) -> float | None:
        """A lab path's rate over its script's, ``None`` if either did not run."""
        script = SCRIPT_OF.get(name)
        if name not in self.msgs_per_s or script not in self.msgs_per_s:
            return None
        return self.msgs_per_s[name] / self.msgs_per_s[script]

    def as_dict(self) -> dict[str, Any]:
        def rounded(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "bench": "pipeline",
            "python": self.python,
            "machine": self.machine,
            "stream": {
                "messages": self.messages,
                "lines": self.lines,
                "assets": self.assets,
                "seed": _SEED,
                "books": self.books,
                "levels": self.levels,
            },
            "results": [
                {
                    "name": name,
                    "label": LABELS[name],
                    "msgs_per_s": round(rate, 1),
                    "vs_script": rounded(self.vs_script(name)),
                    "script": SCRIPT_OF.get(name),
                    "same_books": self.same_books_as_lab(name),
                    "books_digest": self.digests[name],
                    "samples": self.samples[name],
                }
                for name, rate in self.msgs_per_s.items()
            ],
            "lab_msgspec_vs_script_msgspec_x": rounded(self.vs_script("lab-msgspec")),
            "lab_stdlib_vs_script_json_x": rounded(self.vs_script("lab-stdlib")),
            "goals": {
                name: {"vs": SCRIPT_OF[name], "at_least_x": goal, "target_x": target}
                for name, (goal, target) in GOALS.items()
            },
            "same_books": self.same_books,
            "skipped": [{"name": n, "reason": why} for n, why in self.skipped],
            "method": {
                "processes_per_contender": self.timing.processes,
                "repeats_per_process": self.timing.repeats,
                "min_sample_s": self.timing.min_sample_s,
                "statistic": "median",
                "sample": "one whole pass over the file, garbage collector on",
            },
        }


def write_stream(path: str, messages: int, assets: int, seed: int = _SEED) -> None:
    """Write the seeded stream as ``orderbook-lab source`` does: one wire
    line per line."""
    from ..engines import RunConfig

    config = RunConfig(messages=messages, assets=assets, seed=seed)
    with open(path, "w", encoding="utf-8") as handle:
        for line in config.synthetic_source().wire_lines():
            handle.write(line)
            handle.write("\n")


def run_pipeline_bench(
    *,
    quick: bool = False,
    messages: int | None = None,
    assets: int = 20,
    contenders: tuple[str, ...] = CONTENDERS,
    timing: Timing | None = None,
    progress=None,
) -> PipelineReport:
    """Write the stream once, then time every contender on it in fresh
    workers, rounds interleaved (the first turn changes each round). The
    scripts are skipped, with the reason, where ``order-book`` is missing."""
    from ._runner import machine, python_version
    from .book import missing_reason

    messages = messages or (5_000 if quick else 20_000)
    timing = timing or (Timing.quick() if quick else Timing())
    runnable, skipped = [], []
    reason = missing_reason("order-book")
    for name in contenders:
        if name.startswith("script-") and reason is not None:
            skipped.append((name, reason))
        else:
            runnable.append(name)
    samples: dict[str, list[float]] = {name: [] for name in runnable}
    answers: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-bench-") as tmp:
        path = os.path.join(tmp, "stream.jsonl")
        write_stream(path, messages, assets)
        for round_no in range(timing.processes):
            for name in rotated(runnable, round_no):
                if progress is not None:
                    progress(f"{name}: worker {round_no + 1}/{timing.processes}")
                answer = run_worker(
                    {
                        "bench": "pipeline",
                        "contender": name,
                        "stream": path,
                        "timing": {"repeats": timing.repeats, "min_sample_s": timing.min_sample_s},
                    }
                )
                samples[name].extend(answer["ns_per_msg"])
                answers[name] = answer
    first = answers[runnable[0]] if runnable else {"messages": messages, "lines": 0}
    report = PipelineReport(
        first["messages"], first["lines"], assets, timing, python_version(), machine(), skipped=skipped
    )
    for name in runnable:
        report.msgs_per_s[name] = 1e9 / median(samples[name])
        report.samples[name] = len(samples[name])
        report.digests[name] = answers[name]["books_digest"]
    reference = answers.get("lab-stdlib", first)
    report.books, report.levels = reference.get("books", 0), reference.get("levels", 0)
    return report
