"""Commands: run, compare, replay, replay-log, source, lessons, experiment
(record and bench live in their own modules, registered at the end)."""

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from ..core import eventlog
from ..core.router import books_digest
from ..core.source import MessageSource
from ..engines import PHASES, EngineError, RunConfig, RunStats, create_engine, phase_config, run_engine
from ..experiments import EXPERIMENTS, lesson_files, results, run_experiment
from ..experiments.results import headline_figures, lesson_status, load_results, next_step
from . import options as opt
from .plot import print_plot
from .progress import DelayedProgress
from .render import (
    experiment_tables,
    health_table,
    rejections_table,
    replay_log_table,
    results_table,
    status_table,
)

app = typer.Typer(
    name="orderbook-lab",
    help="Stream prediction-market order books through one engine per concurrency pattern and measure what each costs.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
out = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # one line, however narrow
    return typer.Exit(2)


def _given_by_hand(ctx: typer.Context | None) -> set[str]:
    """The options of the current command given on its command line (or by
    environment): a phase preset must not override them (``--phase 7
    --flow fixed`` is phase 7 with fixed queues)."""
    if ctx is None:
        return set()
    given = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given.add(name)
    return given


def _config(phase, engine, ctx: typer.Context | None = None, **fields) -> RunConfig:
    if phase is not None and engine is not None:
        raise typer.BadParameter("give --phase or --engine, not both", param_hint="'--phase' / '--engine'")
    base = RunConfig(**fields)
    if engine is not None:
        config = replace(base, engine=engine.value)
    else:
        try:
            config = phase_config(phase or 1, base, keep=_given_by_hand(ctx))
        except KeyError as error:
            raise typer.BadParameter(error.args[0], param_hint="'--phase'") from None
    if config.event_log is not None and config.engine == "asyncio":
        raise typer.BadParameter(
            "the asyncio engine (phase 2) writes no event log; phases 1 and 3-8 do",
            param_hint="'--event-log'",
        )
    return config


def _write_json(path: Path | None, document: object) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as error:
        raise _fail(f"cannot write {path}: {error.strerror}") from None
    err.print(f"wrote {path}", highlight=False)


def _started(engine) -> None:
    pids = getattr(engine, "worker_pids", None)
    if pids:  # a readiness line: which processes this run owns
        err.print(
            f"{engine.name}: {len(pids)} workers ready (pids {', '.join(map(str, pids))})", highlight=False
        )


def _execute(config: RunConfig, source: MessageSource, label: str) -> tuple[RunStats, dict]:
    with DelayedProgress(err, label, source.total_messages) as progress:
        try:
            engine = create_engine(config, on_progress=progress)
            samples = getattr(engine, "health_samples", None)
            if samples is not None:  # phase 7: the workers' health, live, on long runs
                progress.details = lambda: health_table(found) if (found := samples()) else None
            stats = run_engine(engine, source, on_started=_started)
        except EngineError as error:
            err.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        return stats, engine.books()


def _report(config: RunConfig, stats: RunStats, books: dict, json_out, books_out, title: str) -> None:
    out.print(results_table([(config, stats)], title))
    if stats.invalid:
        out.print(rejections_table(stats.rejections, stats.invalid))
    if config.slow_asset and stats.actor is not None and stats.actor.slow_asset is None:
        err.print(
            f"note: --slow-asset {config.slow_asset} is not an asset of this stream, so no actor was slowed "
            "(--books-out lists the asset ids)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if stats.shutdown is not None:
        shutdown = stats.shutdown
        err.print(
            f"stopped by {shutdown['stopped_by']}: intake stopped after {shutdown['intake_stopped_ms']:g} ms, "
            f"everything accepted was applied after {shutdown['drained_ms']:g} ms "
            f"(--drain-timeout {shutdown['drain_timeout_s']:g} s); the table covers the run up to then",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    _write_json(json_out, stats.as_result(config))
    _write_json(books_out, books)


def _stream_fields(run_fields: dict) -> dict:
    if run_fields["messages"] is None and run_fields["duration_s"] is None:
        return {**run_fields, "messages": 10_000}
    return run_fields


def _synthetic_source(config: RunConfig) -> MessageSource:
    """The stream ``config`` describes; options it cannot pace by (a ramp
    without a rate) are a usage error, raised before any engine starts."""
    try:
        return config.synthetic_source()
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--rate-ramp'") from None


@app.command()
@opt.with_run_options(generated_stream=True)
def run(
    ctx: typer.Context,
    phase: opt.Phase = None,
    engine: opt.Engine = None,
    json_out: opt.JsonOut = None,
    books_out: opt.BooksOut = None,
    run_fields: dict | None = None,
) -> None:
    """Run one phase (or engine) on a simulated stream and print its result table.

    Example: [bold]orderbook-lab run --phase 1 --messages 20000 --work-ms 5[/bold]
    """
    config = _config(phase, engine, ctx, **_stream_fields(run_fields))
    stats, books = _execute(config, _synthetic_source(config), config.engine)
    _report(config, stats, books, json_out, books_out, f"{config.engine}: {config.describe()}")


@app.command()
@opt.with_run_options(generated_stream=True)
def compare(
    ctx: typer.Context,
    phases: Annotated[
        str, typer.Option("--phases", help="Comma-separated phases to run on the same stream, e.g. 1,2,3.")
    ] = "1,2",
    engines: Annotated[
        list[opt.EngineName] | None,
        typer.Option(
            "--engine",
            "-e",
            help="Also run this engine, after the phases, with the last phase's options (repeatable): "
            "--phases 5,6 --engine ray puts Ray's actors beside phases 5 and 6.",
            show_default=False,
        ),
    ] = None,
    json_out: opt.JsonOut = None,
    run_fields: dict | None = None,
) -> None:
    """Run several phases on the same seeded stream and compare them in one table.

    Example: [bold]orderbook-lab compare --phases 1,2 --io-ms 2 --assets 10[/bold];
    [bold]orderbook-lab compare --phases 5,6 --engine ray --ipc-batch 1000[/bold]
    """
    try:
        numbers = [int(part) for part in phases.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected phase numbers like 1,2,3, got {phases!r}", param_hint="'--phases'"
        ) from None
    if not numbers:
        raise typer.BadParameter("name at least one phase", param_hint="'--phases'")
    if run_fields["event_log"] is not None:  # several runs in one log would make one mixed stream
        raise typer.BadParameter(
            "an event log records one run: use run or replay", param_hint="'--event-log'"
        )
    base = RunConfig(**_stream_fields(run_fields))
    configs = []
    for number in numbers:
        try:
            configs.append(phase_config(number, base, keep=_given_by_hand(ctx)))
        except KeyError as error:
            raise typer.BadParameter(error.args[0], param_hint="'--phases'") from None
    configs += [replace(configs[-1], engine=engine.value) for engine in engines or ()]
    sources = [_synthetic_source(config) for config in configs]  # refused before the first run
    runs = []
    for config, source in zip(configs, sources, strict=True):
        stats, _books = _execute(config, source, f"phase {config.phase} ({config.engine})")
        runs.append((config, stats))
    out.print(results_table(runs, f"compare: {base.describe()}"))
    _write_json(json_out, {"runs": [stats.as_result(config) for config, stats in runs]})


@app.command()
@opt.with_run_options(generated_stream=False)
def replay(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="JSONL file: market-channel messages (or arrays), one a line, or a recording made by `record`.",
        ),
    ],
    ctx: typer.Context,
    phase: opt.Phase = None,
    engine: opt.Engine = None,
    json_out: opt.JsonOut = None,
    books_out: opt.BooksOut = None,
    run_fields: dict | None = None,
) -> None:
    """Replay a recorded (or generated) JSONL file through an engine.

    Bad lines are counted and listed with their line numbers; the run goes on.
    A recording's gap lines (reconnects) are counted apart and listed.
    Example: [bold]orderbook-lab replay live.jsonl --phase 2 --speed 1[/bold]
    """
    config = _config(phase, engine, ctx, messages=None, **run_fields)
    if config.speed > 0 and config.rate > 0:
        raise typer.BadParameter("give --speed or --rate, not both", param_hint="'--speed' / '--rate'")
    try:
        source = MessageSource.from_file(file, rate=config.rate, speed=config.speed)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--speed'") from None
    stats, books = _execute(config, source, f"replay {file.name}")
    _report(config, stats, books, json_out, books_out, f"{config.engine}: replay of {file}")


@app.command("replay-log")
def replay_log(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Event log directory, as written by `run --event-log DIR`."),
    ],
    json_out: opt.JsonOut = None,
    books_out: opt.BooksOut = None,
) -> None:
    """Rebuild the books from an event log and print what was read.

    The log is only read, never changed: a torn last record (a write cut
    short) ends the replay and is reported; the next writer truncates it.
    Damage in the middle of the log stops with the file and byte offset.
    Example: [bold]orderbook-lab replay-log events/ --books-out books.json[/bold]
    """
    if not directory.is_dir():
        raise _fail(f"no event log: {directory} is not a directory")
    try:
        if not eventlog.segment_paths(directory):
            raise _fail(f"no event log: {directory} holds no segment files (NNNNNNNNNNNNNNNNNNNN.log)")
        router, stats = eventlog.replay_log(directory)
    except eventlog.CorruptLog as error:
        err.print(f"error: corrupt event log: {error}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as error:
        err.print(f"error: cannot read {directory}: {error}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    books = router.export()
    digest = books_digest(books)
    out.print(replay_log_table(str(directory), stats, len(books), digest))
    if not stats.complete:
        err.print(
            f"note: {stats.missing_records:,} seqs are not in the log (retention deleted the oldest "
            "segments, or one was removed), so these books are not the live run's",
            highlight=False,
            soft_wrap=True,
        )
    _write_json(json_out, {**stats.as_dict(), "books": {"count": len(books), "digest": digest}})
    _write_json(books_out, books)


@app.command()
def source(
    out_file: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="JSONL file to write.")],
    messages: Annotated[int, typer.Option("--messages", "-n", min=1, help="Messages to generate.")] = 10_000,
    assets: opt.Assets = 10,
    seed: opt.Seed = 1,
    popularity: opt.Popularity = opt.PopularityName.uniform,
) -> None:
    """Write the simulated stream to a JSONL file (the same stream `run` uses)."""
    config = RunConfig(messages=messages, assets=assets, seed=seed, popularity=popularity.value)
    lines = config.synthetic_source().wire_lines()
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        with out_file.open("w", encoding="utf-8") as handle:
            count = 0
            for count, line in enumerate(lines, 1):  # noqa: B007
                handle.write(line)
                handle.write("\n")
    except OSError as error:
        raise _fail(f"cannot write {out_file}: {error.strerror}") from None
    out.print(
        f"wrote {messages:,} messages in {count:,} lines to {out_file} (seed {seed}, {assets} assets)",
        highlight=False,
    )


def _lesson_title(path: Path | None, number: int) -> str:
    if path is None:
        return f"Lesson {number}"
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].lstrip("# ").strip() if lines else f"Lesson {number}"


def _experiments_of(number: int) -> list[tuple[str, str]]:
    return [(e.id, e.title) for e in EXPERIMENTS.values() if e.id.split(".")[0] == str(number)]


def _status_of(number: int, files: dict[int, Path], saved: dict) -> Table:
    path = files.get(number)
    figures = headline_figures(path.read_text(encoding="utf-8")) if path is not None else []
    statuses = lesson_status(_experiments_of(number), figures, saved)
    return status_table(number, _lesson_title(path, number), statuses)


def _lessons_status(files: dict[int, Path], directory: Path) -> None:
    saved = load_results(directory, EXPERIMENTS)
    numbers = sorted(set(files) | {int(e.split(".")[0]) for e in EXPERIMENTS})
    for number in numbers:
        if _experiments_of(number):
            out.print(_status_of(number, files, saved))
    out.print(f"{len(saved)} of {len(EXPERIMENTS)} experiments run; results in {directory}", highlight=False)
    _print_next(next_step(EXPERIMENTS, saved))


def _print_next(step) -> None:
    if step.kind == "run":
        spec = EXPERIMENTS[step.experiment_id]
        out.print(f"Next: {spec.id} {spec.title} ({spec.question})", highlight=False)
        out.print(f"  [bold]{step.command}[/bold]", highlight=False)
    elif step.kind == "full":
        out.print(
            f"Every experiment has run; {', '.join(step.quick_only)} only with --quick. A full run of the first:",
            highlight=False,
        )
        out.print(f"  [bold]{step.command}[/bold]", highlight=False)
    else:
        out.print(
            "Every experiment has run in full. Rerun any to compare: orderbook-lab experiment ID",
            highlight=False,
        )


def _lessons_list(files: dict[int, Path]) -> None:
    table = Table(title="Lessons", title_justify="left", header_style="bold")
    table.add_column("N", justify="right")
    table.add_column("lesson")
    table.add_column("experiments")
    for n, path in sorted(files.items()):
        ids = ", ".join(e for e in EXPERIMENTS if e.split(".")[0] == str(n))
        table.add_row(str(n), _lesson_title(path, n), ids)
    out.print(table)
    out.print(
        "Show one with [bold]orderbook-lab lessons N[/bold]; run an experiment with "
        "[bold]orderbook-lab experiment ID[/bold]; see what you have run with "
        "[bold]orderbook-lab lessons status[/bold] and what to run with [bold]orderbook-lab lessons next[/bold]."
    )


@app.command()
def lessons(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="N|status|next",
            help="A lesson number to show it; status: what you ran beside each lesson's figures; "
            "next: the experiment to run next. Omit to list the lessons.",
            show_default=False,
        ),
    ] = None,
    results_dir: opt.ResultsDir = None,
) -> None:
    """List the lessons, show lesson N, or where you are: status and next."""
    directory = results.results_dir(results_dir)
    word = (target or "").strip().lower()
    if word == "next":
        _print_next(next_step(EXPERIMENTS, load_results(directory, EXPERIMENTS)))
        return
    if target is not None and word != "status" and not word.isdigit():
        raise _fail(f"expected a lesson number, status or next; got {target!r}")
    files = lesson_files()
    if word == "status":
        _lessons_status(files, directory)
        return
    if not files:
        raise _fail("no lessons found: lessons/ lives in the repository; run from a clone of it")
    if target is None:
        _lessons_list(files)
        return
    number = int(word)
    if number not in files:
        raise _fail(f"no lesson {number}; lessons available: {', '.join(map(str, sorted(files)))}")
    out.print(Markdown(files[number].read_text(encoding="utf-8")))
    if _experiments_of(number):
        out.print(_status_of(number, files, load_results(directory, EXPERIMENTS)))


@app.command()
def experiment(
    experiment_id: Annotated[
        str, typer.Argument(metavar="ID", help="Experiment id, e.g. 1.2 (phase 1, experiment 2).")
    ],
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast version (what CI runs).")] = False,
    json_out: opt.JsonOut = None,
    results_dir: opt.ResultsDir = None,
) -> None:
    """Run one experiment of a lesson, print its tables and plots, and save the result.

    The latest result of each experiment is kept in the results folder, for
    [bold]orderbook-lab lessons status[/bold].
    """
    if experiment_id not in EXPERIMENTS:
        raise typer.BadParameter(
            f"no experiment {experiment_id!r}; available: {', '.join(EXPERIMENTS)}", param_hint="'ID'"
        )
    spec = EXPERIMENTS[experiment_id]
    err.print(f"[bold]{spec.id}[/bold] {spec.title}{' (quick)' if quick else ''}", highlight=False)
    started = time.perf_counter()
    report = run_experiment(spec, quick=quick, progress=lambda text: err.print(f"  {text}", highlight=False))
    wall_s = time.perf_counter() - started
    for table in experiment_tables(report):
        out.print(table)
    for plot in report.plots:
        print_plot(plot, out)
    for finding in report.findings:
        out.print(f"- {finding}", highlight=False)
    _write_json(json_out, report.as_dict())
    directory = results.results_dir(results_dir)
    try:
        path = results.save_result(report, directory, wall_s=wall_s)
    except OSError as error:  # the run is done and printed: say so, do not fail it
        err.print(
            f"warning: result not saved in {directory}: {error.strerror}", highlight=False, soft_wrap=True
        )
    else:
        err.print(f"saved {path}", highlight=False)


@app.callback()
def _root() -> None:
    """orderbook-lab: one stream, many engines, honest numbers.

    Start with [bold]orderbook-lab run --phase 1[/bold], then [bold]orderbook-lab lessons[/bold].
    """


__all__ = ["app", "PHASES"]


# Registered last: the bench, record and serve commands reuse this module's consoles.
from .bench import bench_app  # noqa: E402
from .record import record  # noqa: E402
from .serve import serve  # noqa: E402

app.command()(record)
app.command()(serve)
app.add_typer(bench_app, name="bench")
