"""``orderbook-lab bench book|codec|ipc|pipeline``: run a bench, print its tables.

The measuring lives in ``orderbook_lab.bench``; this module only turns its
reports into rich tables (units in the headers, a ratio column) and JSON.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..bench import book as book_bench
from ..bench import codec as codec_bench
from ..bench import ipc as ipc_bench
from ..bench import pipeline as pipeline_bench
from ..bench import serialization
from . import options as opt
from .app import _write_json, err, out

bench_app = typer.Typer(
    help="Benchmarks with seeded data, fresh worker processes and medians: book, codec, ipc, pipeline.",
    no_args_is_help=True,
)

Quick = Annotated[
    bool,
    typer.Option(
        "--quick", help="Small stream, one worker per contender: shape, not precision (CI runs it)."
    ),
]


_WIDE_TABLE_WIDTH = 110
"""The natural width of the wide tables (book, codec's serialization,
pipeline): printed whole even where the console reports 80 columns (pipes,
CI logs), rather than with truncated headers."""


def _progress(text: str) -> None:
    err.print(f"  {text}", highlight=False)


def _footer(python: str, machine: str, command: str, samples: int) -> str:
    return f"{command}: medians of {samples} samples per contender\n{python} on {machine}"


def _ns(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def book_tables(report: book_bench.BookReport, command: str) -> list[Table]:
    """One table per stream, one row per contender; the ratio column
    divides by ``order-book`` on the same stream."""
    tables = []
    for number, stream in enumerate(report.streams, start=1):
        memory_book = book_bench.describe_memory_book(stream.kind)
        caption = f"memory: one book of {book_bench.MEMORY_LEVELS} levels a side ({memory_book}), tracemalloc"
        if number == len(report.streams):
            samples = report.timing.repeats * report.timing.processes
            caption += "\n" + _footer(report.python, report.machine, command, samples)
        table = Table(
            title=f"bench book, {stream.kind} stream: {stream.describe()}",
            title_justify="left",
            header_style="bold",
            caption=caption,
            caption_justify="left",
        )
        table.add_column("contender", no_wrap=True)
        for column in (
            "update\n(ns)",
            "vs\norder-book",
            "change\n+ read (ns)",
            "snapshot\n(µs)",
            "write\nonly (ns)",
            "best bid\n+ ask (ns)",
            "depth(10)\n(µs)",
            "memory\n(KiB)",
        ):
            table.add_column(column, justify="right", no_wrap=True)
        for r in report.results_for(stream.kind):
            ratio = "-" if r.vs_reference is None else f"{r.vs_reference:.2f}x"
            table.add_row(
                r.name,
                _ns(r.ns_per_update),
                ratio,
                _ns(r.ns_per_change),
                f"{r.us_per_snapshot:.1f}",
                _ns(r.ns_per_write),
                _ns(r.ns_per_best),
                f"{r.us_per_depth10:.2f}",
                f"{r.bytes_per_book / 1024:.2f}",
            )
        tables.append(table)
    return tables


@bench_app.command("book")
def book(json_out: opt.JsonOut = None, quick: Quick = False) -> None:
    """The order book against a naive SortedDict and the order-book C extension, on two streams.

    Streams: "mixed" has markets near the middle of (0, 1) on the 0.01 and
    0.001 ticks; "fine" has markets on the 0.0001 tick, priced near 0 or 1
    (0.0001-0.05, 0.95-0.9999), where neighbouring levels are one tick
    apart. Each contender runs each stream in fresh worker processes.

    update = one feed operation (a level change, or now and then a full
    snapshot), then a read of the best bid and ask (the feed sends them with
    every change); the C extension sorts lazily at that read. "vs
    order-book" divides by the C extension's update on the same stream.
    "change + read" is the same without the snapshots' share; "snapshot" is
    one snapshot. memory = what one book of 50 levels a side keeps (on the
    0.0001 grid for "fine", the 0.001 grid for "mixed": the 0.01 grid has
    only 99 prices), counted by tracemalloc in a fresh worker; the price
    and size objects the caller hands in are not counted, for any contender.
    """
    err.print(f"[bold]bench book[/bold]{' (quick)' if quick else ''}", highlight=False)
    report = book_bench.run_book_bench(quick=quick, progress=_progress)
    for name, reason in report.skipped:
        err.print(f"skipped {name}: {reason}", highlight=False)
    command = "orderbook-lab bench book" + (" --quick" if quick else "")
    # A console of its own: Console.print caps ``width`` at the console's.
    console = Console(width=max(out.width, _WIDE_TABLE_WIDTH))
    for number, table in enumerate(book_tables(report, command)):
        if number:
            console.print()
        console.print(table)
    for kind, same in report.same_books_by_stream.items():
        if not same:
            err.print(
                f"[red]warning:[/red] the contenders ended with different books on the {kind} stream",
                highlight=False,
            )
    _write_json(json_out, report.as_dict())


def codec_tables(report: codec_bench.CodecReport, command: str) -> list[Table]:
    """Rates of both parse paths, then where one phase-1 message's time goes."""
    caption = _footer(report.python, report.machine, command, report.timing.repeats * report.timing.processes)
    rates = Table(
        title=f"bench codec: raw wire line to applied book, {report.messages:,} messages "
        f"({report.changes:,} level changes), seed 1",
        title_justify="left",
        header_style="bold",
    )
    rates.add_column("path", no_wrap=True)
    for column in (
        "parse + apply\n(msg/s)",
        "vs\nstdlib",
        "phase 1 engine\n(msg/s)",
        "level changes\n(per s)",
    ):
        rates.add_column(column, justify="right", no_wrap=True)
    base = report.msgs_per_s["stdlib"]
    per_message = report.changes / report.messages
    for name, label in (("stdlib", "stdlib json"), ("msgspec", "msgspec structs")):
        rate = report.msgs_per_s[name]
        rates.add_row(
            label,
            f"{rate:,.0f}",
            f"{rate / base:.2f}x",
            f"{report.engine_msgs_per_s[name]:,.0f}",
            f"{rate * per_message:,.0f}",
        )
    rates.add_row("pre-parsed changes", "-", "-", "-", f"{report.changes_per_s:,.0f}")
    breakdown = Table(
        title="one phase-1 message (stdlib json, metrics on), each step timed alone",
        title_justify="left",
        header_style="bold",
    )
    breakdown.add_column("step", no_wrap=True)
    breakdown.add_column("µs / msg", justify="right")
    breakdown.add_column("share", justify="right")
    total = report.breakdown_us["total (phase 1 engine)"]
    for step, us in report.breakdown_us.items():
        share = "" if step.startswith("total") else f"{100 * us / total:.0f}%"
        breakdown.add_row(step.replace("_", " + "), f"{us:.2f}", share)
    breakdown.add_row("metrics on vs off (engine)", f"{report.metrics_overhead_pct:+.1f}%", "")
    tables = [rates, breakdown, *serialization_tables(report)]
    tables[-1].caption = caption
    tables[-1].caption_justify = "left"
    return tables


_CODEC_LABELS = {
    "pickle": "pickle (protocol 5)",
    "msgspec-msgpack": "msgspec msgpack (typed)",
    "msgspec-json": "msgspec json (typed)",
    "stdlib-json": "stdlib json (builtins)",
}


def _us(ns: float) -> str:
    us = ns / 1e3
    if us < 10:
        return f"{us:.2f}"
    return f"{us:.1f}" if us < 100 else f"{us:,.0f}"


def serialization_tables(report: codec_bench.CodecReport) -> list[Table]:
    """One table per payload, one row per codec; the ratio column divides
    pickle's round trip by the codec's (how many times faster). The
    frame's table carries the issue's headline in its caption."""
    tables = []
    for payload, by_codec in report.serialization.items():
        table = Table(
            # escaped: the type in the frame's note reads as markup ("[int, bool, Message]")
            title=escape(f"serialization, {payload}: {serialization.PAYLOAD_NOTES[payload]}"),
            title_justify="left",
            header_style="bold",
        )
        table.add_column("codec", no_wrap=True)
        for column in (
            "encode\n(µs)",
            "decode\n(µs)",
            "round trip\n(µs)",
            "round trip\nvs pickle",
            "bytes",
            "decode peak\n(KiB)",
            "decode\nblocks",
        ):
            table.add_column(column, justify="right", no_wrap=True)
        base = by_codec["pickle"]["round_trip_ns"]
        for codec, r in by_codec.items():
            table.add_row(
                _CODEC_LABELS.get(codec, codec),
                _us(r["encode_ns"]),
                _us(r["decode_ns"]),
                _us(r["round_trip_ns"]),
                f"{base / r['round_trip_ns']:.2f}x",
                f"{r['bytes']:,.0f}",
                f"{r['decode_peak_bytes'] / 1024:.1f}",
                f"{r['decode_blocks']:,.0f}",
            )
        if payload == "ipc_batch":
            goal, target = codec_bench.IPC_BATCH_GOAL_X
            table.caption = (
                f"headline: msgspec msgpack round-trips the frame {report.ipc_batch_msgpack_vs_pickle_x:.2f}x "
                f"faster than pickle (issue #15: at least {goal:g}x, target {target:g}x)"
            )
            table.caption_justify = "left"
        tables.append(table)
    return tables


@bench_app.command("codec")
def codec(json_out: opt.JsonOut = None, quick: Quick = False) -> None:
    """Parse paths (stdlib json vs msgspec structs), the phase-1 engine, a time breakdown, metrics
    overhead; then pickle, msgspec msgpack, msgspec json and stdlib json on three payloads.

    Serialization: one price_change message, a phase 3 frame of 100
    messages and a snapshot of 1,000 levels; encode, decode and round trip
    (in process, CPU only) per payload, bytes, and what one decode
    allocates (tracemalloc, in a pass of its own: peak KiB, and the blocks
    still alive after it, the decoded value held). stdlib json returns
    dicts and lists, not typed messages.
    """
    err.print(f"[bold]bench codec[/bold]{' (quick)' if quick else ''}", highlight=False)
    report = codec_bench.run_codec_bench(quick=quick, progress=_progress)
    command = "orderbook-lab bench codec" + (" --quick" if quick else "")
    # A console of its own: the serialization tables are wider than 80 columns.
    console = Console(width=max(out.width, _WIDE_TABLE_WIDTH))
    for table in codec_tables(report, command):
        console.print(table)
    _write_json(json_out, report.as_dict())


def ipc_table(report: ipc_bench.IpcReport, command: str) -> Table:
    """One row per codec; the ratio column divides round trips by pickle's."""
    table = Table(
        title=f"bench ipc: {report.messages:,} messages in batches of {report.batch}, through a pipe and back",
        title_justify="left",
        header_style="bold",
        caption_justify="left",
        caption=_footer(
            report.python, report.machine, command, report.timing.repeats * report.timing.processes
        ),
    )
    table.add_column("codec", no_wrap=True)
    for column in (
        "encode\n(µs/msg)",
        "decode\n(µs/msg)",
        "round trip\n(µs/msg)",
        "vs\npickle",
        "msg/s",
        "bytes\n/ msg",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    base = report.results["pickle"]["round_trip_us"]
    for name, r in report.results.items():
        table.add_row(
            name,
            f"{r['encode_us']:.2f}",
            f"{r['decode_us']:.2f}",
            f"{r['round_trip_us']:.2f}",
            f"{r['round_trip_us'] / base:.2f}x",
            f"{r['msgs_per_s']:,.0f}",
            f"{r['bytes_per_msg']:.0f}",
        )
    return table


@bench_app.command("ipc")
def ipc(json_out: opt.JsonOut = None, quick: Quick = False) -> None:
    """Messages between processes: pickle vs msgspec, encode, decode and a pipe round trip."""
    err.print(f"[bold]bench ipc[/bold]{' (quick)' if quick else ''}", highlight=False)
    report = ipc_bench.run_ipc_bench(quick=quick, progress=_progress)
    out.print(ipc_table(report, "orderbook-lab bench ipc" + (" --quick" if quick else "")))
    _write_json(json_out, report.as_dict())


def pipeline_table(report: pipeline_bench.PipelineReport, command: str) -> Table:
    """One row per contender; each lab path's ratio divides its rate by
    its script's, beside the issue's goal for it."""
    table = Table(
        title=f"bench pipeline: raw JSONL file to final books, {report.messages:,} messages "
        f"({report.lines:,} lines), {report.assets} assets, seed 1, one process",
        title_justify="left",
        header_style="bold",
        caption_justify="left",
        caption=_footer(
            report.python, report.machine, command, report.timing.repeats * report.timing.processes
        ),
    )
    table.add_column("contender", no_wrap=True)
    for column in ("msg/s", "vs its\nscript", "issue #15\ngoal", "goal\nmet", "same\nbooks"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, rate in report.msgs_per_s.items():
        ratio = report.vs_script(name)
        goal = met = "-"
        if name in pipeline_bench.GOALS:
            at_least, target = pipeline_bench.GOALS[name]
            goal = f"≥ {at_least:g}x" + ("" if target == at_least else f", target {target:g}x")
            if ratio is not None:
                met = "yes" if ratio >= at_least else "no"
        table.add_row(
            pipeline_bench.LABELS[name],
            f"{rate:,.0f}",
            "-" if ratio is None else f"{ratio:.2f}x",
            goal,
            met,
            "yes" if report.same_books_as_lab(name) else "no",
        )
    return table


@bench_app.command("pipeline")
def pipeline(json_out: opt.JsonOut = None, quick: Quick = False) -> None:
    """Raw JSONL file to final books: orderbook-lab (stdlib json and msgspec) against the script a user
    would write with json.loads or msgspec and the order-book C extension.

    Each pass reads, parses and applies the whole file in one process; all
    four run on the same seeded file (20,000 messages, 20 assets; --quick:
    5,000), each in fresh worker processes. orderbook-lab is parse_line or
    parse_line_msgspec, then MessageRouter.apply; the scripts decode each
    line with json.loads or msgspec structs and set levels in one
    order-book OrderBook per asset. "vs its script" divides each
    orderbook-lab path's msg/s by the script with the same JSON decoder;
    "same books" says whether a contender ended with exactly the books of
    orderbook-lab's stdlib path (every level of every asset).
    """
    err.print(f"[bold]bench pipeline[/bold]{' (quick)' if quick else ''}", highlight=False)
    report = pipeline_bench.run_pipeline_bench(quick=quick, progress=_progress)
    for name, reason in report.skipped:
        err.print(f"skipped {name}: {reason}", highlight=False)
    command = "orderbook-lab bench pipeline" + (" --quick" if quick else "")
    console = Console(width=max(out.width, _WIDE_TABLE_WIDTH))
    console.print(pipeline_table(report, command))
    if not report.same_books:
        err.print("[red]warning:[/red] the contenders ended with different books", highlight=False)
    _write_json(json_out, report.as_dict())
