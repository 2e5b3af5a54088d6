"""Rich tables for results. The only module that formats numbers for people."""

from collections.abc import Callable, Sequence

from rich.table import Table

from ..core.eventlog import ReplayStats
from ..core.parser import Rejection
from ..engines import PoolStats, RunConfig, RunStats
from ..engines._flow.health import HealthSample
from ..engines._stats import FlowStats


def _int(n: float) -> str:
    return f"{n:,.0f}"


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _label(config: RunConfig) -> str:
    return f"phase {config.phase}\n{config.engine}" if config.phase else config.engine


def results_table(runs: Sequence[tuple[RunConfig, RunStats]], title: str) -> Table:
    """One column per run; with several runs, throughput gets a ratio to
    the first. Rows with nothing to say (no queries, no pacing) are left out."""
    table = Table(title=title, title_justify="left", header_style="bold", min_width=len(title) + 2)
    table.add_column("metric", style="dim")
    for config, _ in runs:
        table.add_column(_label(config), justify="right")
    stats = [s for _, s in runs]
    first = stats[0]

    def row(name: str, values: list[str]) -> None:
        table.add_row(name, *values)

    row("messages processed", [_int(s.processed) for s in stats])
    row("dropped / invalid", [f"{_int(s.dropped_total)} / {_int(s.invalid)}" for s in stats])
    row("throughput (msg/s)", [_int(s.throughput) for s in stats])
    if len(stats) > 1:
        row(
            f"  vs {first.engine}",
            [f"{s.throughput / first.throughput:.2f}x" if first.throughput else "-" for s in stats],
        )
    row("latency p50 (ms)", [_num(s.latency_ms.p50) for s in stats])
    row("latency p99 (ms)", [_num(s.latency_ms.p99) for s in stats])
    row("latency max (ms)", [_num(s.latency_ms.max) for s in stats])
    row("processing p50 (µs)", [_num(s.processing_us.p50) for s in stats])
    row("processing p99 (µs)", [_num(s.processing_us.p99) for s in stats])
    if any(s.queries for s in stats):
        row("queries answered", [_int(s.queries) for s in stats])
        row("query p50 (µs)", [_num(s.query_latency_us.p50) for s in stats])
        row("query p99 (µs)", [_num(s.query_latency_us.p99) for s in stats])
    if any(s.queue_high_water for s in stats):
        row("queue high water", [_int(s.queue_high_water) for s in stats])
    if any(s.littles_law is not None for s in stats):
        row("Little's law L / λW", [_littles_law(s) for s in stats])
    if any(s.schedule_lag_ms.max for s in stats):
        row("schedule lag p99 (ms)", [_num(s.schedule_lag_ms.p99) for s in stats])
        row("schedule lag max (ms)", [_num(s.schedule_lag_ms.max) for s in stats])
    if any(s.router.best_mismatches for s in stats):
        row("best bid/ask mismatches", [_int(s.router.best_mismatches) for s in stats])
    if any(s.router.off_grid for s in stats):  # applied: the exchange is the authority on its grid
        row("prices off the tick grid", [_int(s.router.off_grid) for s in stats])
    if any(s.router.crossed for s in stats):
        row("books left crossed", [_int(s.router.crossed) for s in stats])
    _worker_rows(row, stats)
    _actor_rows(row, stats)
    _ray_rows(row, stats)
    _flow_rows(row, stats)
    if any(s.recovery is not None for s in stats):
        row(
            "worker restarts / checkpoints",
            [f"{s.recovery.restarts} / {_int(s.recovery.checkpoints)}" if s.recovery is not None else "-"
             for s in stats],
        )  # fmt: skip
    if any(s.recording is not None for s in stats):
        row("recording: timed frames / gaps", [_recording(s) for s in stats])
    row("books", [_int(s.books) for s in stats])
    row("books digest", [s.digest[:12] for s in stats])
    if len(stats) > 1:
        row(
            f"  same books as {first.engine}",
            [_same_books(s, first) for s in stats],
        )
    row("startup / run (s)", [f"{s.startup_s:.3f} / {s.run_s:.3f}" for s in stats])
    row("counted in full", ["yes" if s.conserved else "[red]NO[/red]" for s in stats])
    return table


def _littles_law(s: RunStats) -> str:
    """Mean queue depth observed / predicted from λ·W, and how far apart."""
    law = s.littles_law
    if law is None:
        return "-"
    return f"{_num(law.mean_depth)} / {_num(law.predicted_depth)} ({100 * law.relative_error:.1f}%)"


def _same_books(s: RunStats, first: RunStats) -> str:
    """A run that dropped messages by policy cannot end with the same books,
    and says why; any other difference is an error."""
    if s.digest == first.digest:
        return "yes"
    if s.dropped_total != first.dropped_total:
        return f"[yellow]no: {_int(s.dropped_total)} dropped[/yellow]"
    return "[red]NO[/red]"


def _recording(s: RunStats) -> str:
    """Frames with a receive time, and the gap lines (reconnects) by number."""
    if s.recording is None:
        return "-"
    text = f"{_int(s.recording.frames_timed)} / {_int(s.recording.gaps)}"
    lines = s.recording.gap_lines
    if lines:
        shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
        text += f" (line{'s' if len(lines) > 1 else ''} {shown})"
    return text


def _worker_rows(row, stats: Sequence[RunStats]) -> None:
    """Rows for engines with workers (processes, threads): load balance,
    IPC volume and cost, and where a query's time went."""
    if not any(s.pool is not None for s in stats):
        return

    def each(pick) -> list[str]:
        return [pick(s.pool) if s.pool is not None else "-" for s in stats]

    def spread(pool: PoolStats) -> str:
        counts = [w.processed for w in pool.workers]
        return f"{len(counts)}: {_int(min(counts))} / {_int(max(counts))}"

    row("workers: msgs min / max", each(spread))

    def busy(pool: PoolStats) -> str:
        busy = 100 * sum(w.busy_share for w in pool.workers) / len(pool.workers)
        cpu = 100 * sum(w.cpu_share for w in pool.workers) / len(pool.workers)
        return f"{busy:.0f} / {cpu:.0f}"

    row("workers: busy / got CPU (%)", each(busy))
    row("IPC sent (MB)", each(lambda pool: _num(pool.ipc.bytes_sent / 1e6)))
    row(
        "IPC encode / decode (ms)",
        each(lambda pool: f"{pool.ipc.codec}: {_num(pool.ipc.encode_ms)} / {_num(pool.ipc.decode_ms)}"),
    )

    def sends(s: RunStats) -> bool:
        return s.pool is not None and "send" in s.pool.query_breakdown_us

    if any(s.queries and sends(s) for s in stats):
        names = ("send", "queue", "worker", "reply")
        row(
            "query send/queue/work/reply (µs)",  # means: they add up to the mean latency
            [
                " / ".join(_num(s.pool.query_breakdown_us[n].mean) for n in names) if sends(s) else "-"
                for s in stats
            ],
        )
    _shared_memory_rows(row, stats)


def _actor_rows(row, stats: Sequence[RunStats]) -> None:
    """Rows for the actor engine: how many updates, how they travelled,
    how late, and whether causal order and the counts held."""
    if not any(s.actor is not None for s in stats):
        return

    def each(pick) -> list[str]:
        return [pick(s.actor) if s.actor is not None else "-" for s in stats]

    row("actors / placement", each(lambda a: f"{_int(a.actors)} / {a.placement}"))
    row(
        "updates sent / via coordinator",
        each(lambda a: f"{_int(a.updates_sent)} / {_int(a.updates_via_coordinator)}"),
    )
    row("updates applied / dropped", each(lambda a: f"{_int(a.updates_applied)} / {_int(a.updates_dropped)}"))
    row(
        "update latency p50 / p99 (ms)",
        each(lambda a: f"{_num(a.update_latency_ms.p50)} / {_num(a.update_latency_ms.p99)}"),
    )
    row("held for causal order", each(lambda a: _int(a.updates_buffered)))
    row("causal violations", each(lambda a: _int(a.causal_violations)))
    if any(s.actor is not None and s.actor.cycles_stopped for s in stats):
        row("chains stopped at max hops", each(lambda a: _int(a.cycles_stopped)))
    row("opportunities reported", each(lambda a: _int(a.opportunities)))
    row("updates counted in full", each(lambda a: "yes" if a.conserved else "[red]NO[/red]"))


def _ray_rows(row, stats: Sequence[RunStats]) -> None:
    """Rows for ``--engine ray``: the cluster, what one call costs, how the
    frames went and what each actor weighs; start-up is apart from the run."""
    if not any(s.ray is not None for s in stats):
        return

    def each(pick) -> list[str]:
        return [pick(s.ray) if s.ray is not None else "-" for s in stats]

    row("ray cluster", each(lambda r: r.address))
    row("ray actors / in-flight cap", each(lambda r: f"{r.actors} / {r.in_flight_cap}"))
    row("ray batches (msgs each)", each(lambda r: f"{_int(r.frames_sent)} ({_int(r.batch)})"))
    row(
        "actor call p50 / p99 (ms)",
        each(lambda r: f"{_num(r.call_round_trip_ms.p50)} / {_num(r.call_round_trip_ms.p99)}"),
    )
    row(
        "actor memory (MiB each)",
        each(lambda r: ", ".join(f"{m:.0f}" for m in r.actor_rss_mib) or "-"),
    )
    row("cluster / actors start (s)", each(lambda r: f"{r.cluster_start_s:.2f} / {r.actors_start_s:.2f}"))


def _flow_rows(row, stats: Sequence[RunStats]) -> None:
    """Rows for adaptive flow control (phase 7): where each worker's queue
    bound settled, what was shed and why, what the breakers did."""
    if not any(s.flow is not None for s in stats):
        return

    def each(pick) -> list[str]:
        return [pick(s.flow) if s.flow is not None else "-" for s in stats]

    def workers(pick) -> Callable[[FlowStats], str]:
        return lambda flow: ", ".join(pick(w) for w in flow.workers)

    row(
        "flow: target wait (ms)",
        each(lambda f: _num(f.target_wait_ms) + ("" if f.paced else " (unpaced: waits)")),
    )
    row("flow: capacity, each worker", each(workers(lambda w: _int(w.capacity))))
    row("flow: wait EWMA (ms)", each(workers(lambda w: _num(w.wait_ewma_ms))))
    priorities = ("snapshot", "change", "trade")
    row(
        "shed: snapshot / change / trade",
        each(lambda f: " / ".join(_int(f.dropped_by_priority.get(p, 0)) for p in priorities)),
    )
    row("shed from assets", each(lambda f: _int(f.assets_dropped_from)))
    row("breakers opened (now)", each(workers(lambda w: f"{w.breaker_opened} ({w.breaker})")))
    if any(s.flow is not None and (s.flow.worker_faults or s.flow.slow_messages) for s in stats):
        row("worker faults / slow msgs", each(lambda f: f"{_int(f.worker_faults)} / {_int(f.slow_messages)}"))


def health_table(samples: Sequence[HealthSample]) -> Table:
    """The workers' latest health, for the live display of a phase 7 run."""
    table = Table(title="worker health (last report)", title_justify="left", header_style="bold")
    for name in (
        "worker",
        "msg/s",
        "errors",
        "busy",
        "CPU",
        "RSS (MB)",
        "depth / cap",
        "wait (ms)",
        "breaker",
    ):
        table.add_column(name, justify="right")
    for s in sorted(samples, key=lambda s: s.worker):
        breaker = s.breaker if s.breaker == "closed" else f"[red]{s.breaker}[/red]"
        table.add_row(
            str(s.worker),
            _int(s.msgs_per_s),
            f"{100 * s.error_rate:.1f}%",
            f"{100 * s.busy:.0f}%",
            f"{100 * s.cpu:.0f}%",
            _num(s.rss_mb),
            f"{_int(s.depth)} / {_int(s.capacity)}",
            _num(s.wait_ms),
            breaker,
        )
    return table


def _shared_memory_rows(row, stats: Sequence[RunStats]) -> None:
    """Rows for the shared-memory engine: where a query's time went, how
    old its answers were, and what publishing cost."""
    if not any(s.shm is not None for s in stats):
        return

    def each(pick) -> list[str]:
        return [pick(s) if s.shm is not None else "-" for s in stats]

    if any(s.queries and s.shm is not None for s in stats):
        row(
            "query wait/read (µs)",  # means: they add up to the mean latency
            each(lambda s: " / ".join(_num(s.pool.query_breakdown_us[n].mean) for n in ("wait", "read"))),
        )
        row(
            "staleness p50 / p99 (ms)",
            each(lambda s: f"{_num(s.shm.staleness_ms.p50)} / {_num(s.shm.staleness_ms.p99)}"),
        )
    row("shm publishes / moves", each(lambda s: f"{_int(s.shm.publishes)} / {_int(s.shm.moves)}"))
    row(
        "shm used / mapped (KB)",
        each(lambda s: f"{_num(s.shm.used_bytes / 1e3)} / {_num(s.shm.mapped_bytes / 1e3)}"),
    )


def replay_log_table(directory: str, stats: ReplayStats, books: int, digest: str) -> Table:
    """What ``replay-log`` read and rebuilt. The torn tail is only reported:
    replay-log never modifies the log (the writer's recovery cuts it)."""
    title = f"replay-log {directory}"
    table = Table(title=title, title_justify="left", header_style="bold", min_width=len(title) + 2)
    table.add_column("metric", style="dim")
    table.add_column("value", justify="right")
    read = stats.read
    table.add_row("records", _int(read.records))
    table.add_row("segments", _int(read.segments))
    table.add_row("bytes", _int(read.bytes))
    table.add_row("first / last seq", f"{read.first_seq} / {read.last_seq}" if read.records else "-")
    torn = read.torn_tail
    if torn is None:
        table.add_row("torn tail", "none")
    else:
        table.add_row(
            "torn tail (not truncated)",
            f"[yellow]{_int(torn.bytes)} bytes[/yellow] at {torn.path.name}:{torn.offset}",
        )
    if stats.complete:
        table.add_row("missing seqs", "none")
    else:
        spans = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in stats.missing[:3])
        more = ", ..." if len(stats.missing) > 3 else ""
        table.add_row(
            "missing seqs", f"[red]{_int(stats.missing_records)}[/red] ({spans}{more}): books incomplete"
        )
    table.add_row("books", _int(books))
    table.add_row("books digest", digest[:12])
    return table


def rejections_table(rejections: Sequence[Rejection], invalid: int) -> Table:
    """Every kept rejection with its line number and reason."""
    shown = len(rejections)
    more = f" (first {shown} shown)" if invalid > shown else ""
    table = Table(title=f"{invalid} invalid message(s){more}", title_justify="left", header_style="bold")
    table.add_column("line", justify="right")
    table.add_column("reason")
    for rejection in rejections:
        where = str(rejection.line) if rejection.element is None else f"{rejection.line}[{rejection.element}]"
        table.add_row(where, rejection.reason)
    return table


def experiment_tables(report) -> list[Table]:
    """An experiment's tables as rich tables (numbers as measured)."""
    tables = []
    for source in report.tables:
        table = Table(title=f"{report.id} {source.title}", title_justify="left", header_style="bold")
        for column in source.columns:
            table.add_column(column, justify="right")
        for row in source.rows:
            table.add_row(*[_cell(value) for value in row])
        tables.append(table)
    return tables


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _when(saved) -> str:
    """When a saved result ran (local time) and how: quick or full."""
    if saved is None:
        return "[dim]not run[/dim]"
    local = saved.ran_at.astimezone()
    return f"{local:%Y-%m-%d %H:%M} {'quick' if saved.quick else 'full'}"


def _figure(value: float | None, text: str = "") -> str:
    if value is None:
        return text if text and text not in {"—", "-"} else "—"
    return _num(value)


def status_table(number: int, title: str, statuses) -> Table:
    """One lesson's experiments: run or not (when, quick or full), and each
    headline figure, yours beside the lesson's."""
    heading = title if title.lower().startswith("lesson") else f"Lesson {number}: {title}"
    table = Table(title=heading, title_justify="left", header_style="bold")
    table.add_column("experiment")  # titles wrap; figure names fold, never "…"
    table.add_column("ran")
    table.add_column("figure", style="dim", overflow="fold")
    table.add_column("yours", justify="right", no_wrap=True)
    table.add_column("lesson's", justify="right", no_wrap=True)
    for status in statuses:
        label = f"{status.id} {status.title}"
        ran = _when(status.saved)
        if not status.figures:
            table.add_row(label, ran, "", "", "")
            continue
        for index, row in enumerate(status.figures):
            yours = _figure(row.yours) if status.saved is not None else ""
            table.add_row(
                label if index == 0 else "",
                ran if index == 0 else "",
                row.figure,
                yours,
                _figure(row.lessons, row.lessons_text),
            )
    return table
