"""``orderbook-lab bench book|codec|ipc``: run a bench, print its table.

The measuring lives in ``orderbook_lab.bench``; this module only turns its
reports into rich tables (units in the headers, a ratio column) and JSON.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..bench import book as book_bench
from ..bench import codec as codec_bench
from ..bench import ipc as ipc_bench
from . import options as opt
from .app import _write_json, err, out

bench_app = typer.Typer(
    help="Benchmarks with seeded data, fresh worker processes and medians: book, codec, ipc.",
    no_args_is_help=True,
)

Quick = Annotated[
    bool,
    typer.Option(
        "--quick", help="Small stream, one worker per contender: shape, not precision (CI runs it)."
    ),
]


_BOOK_TABLE_WIDTH = 110
"""The book tables' natural width: printed whole even where the console
reports 80 columns (pipes, CI logs), rather than with truncated headers."""


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
    console = Console(width=max(out.width, _BOOK_TABLE_WIDTH))
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
        caption=caption,
        caption_justify="left",
    )
    breakdown.add_column("step", no_wrap=True)
    breakdown.add_column("µs / msg", justify="right")
    breakdown.add_column("share", justify="right")
    total = report.breakdown_us["total (phase 1 engine)"]
    for step, us in report.breakdown_us.items():
        share = "" if step.startswith("total") else f"{100 * us / total:.0f}%"
        breakdown.add_row(step.replace("_", " + "), f"{us:.2f}", share)
    breakdown.add_row("metrics on vs off (engine)", f"{report.metrics_overhead_pct:+.1f}%", "")
    return [rates, breakdown]


@bench_app.command("codec")
def codec(json_out: opt.JsonOut = None, quick: Quick = False) -> None:
    """Parse paths (stdlib json vs msgspec structs), the phase-1 engine, a time breakdown, metrics overhead."""
    err.print(f"[bold]bench codec[/bold]{' (quick)' if quick else ''}", highlight=False)
    report = codec_bench.run_codec_bench(quick=quick, progress=_progress)
    command = "orderbook-lab bench codec" + (" --quick" if quick else "")
    for table in codec_tables(report, command):
        out.print(table)
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
