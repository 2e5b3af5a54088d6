"""Lesson 8's experiments: what a pipeline that runs for weeks needs beyond speed.

Every run is the actor engine on the default stream shape of lesson 7 (20
assets, seed 1, two workers, ``--work-ms 1`` unless a table says
otherwise): phase 7 (``--flow adaptive``) as the baseline and phase 8
(phase 7 + ``--recovery --drain-timeout 10``) with its event log,
checkpoints, metrics and logs. Experiments that need a handle on the
running engine (a metrics scraper, a stop from a timer, a readiness poller)
start their threads in ``run_engine``'s ``on_started`` and join them after
the engine has stopped. Findings come from pure ``*_findings(figures)``
functions with named thresholds; the tests feed them contrasting figures.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from statistics import median
from typing import Any

import msgspec

from ..core.eventlog import EventLogWriter, read_log, replay_log, segment_paths
from ..core.messages import Line
from ..core.parser import Rejection, parse_line_msgspec
from ..core.router import MessageRouter, RouterCheckpoint, books_digest
from ..engines import Engine, RunConfig, RunStats, create_engine, phase_config, run_engine
from ..service.health import readiness
from ..service.watch import POLL_EVERY_S, StatusWatcher
from .base import Experiment, Progress, Report, Table, measure

_SEED = 1
_ASSETS = 20
_CORES = os.cpu_count() or 1
_PROCESSES = max(2, min(_CORES, 4))
_WORK_MS = 1.0

_OVERHEAD_LIMIT = 0.05
"""8.1: the issue's bound: all of phase 8's observability costs at most
this share of phase 7's flat-out throughput ..."""
_OVERHEAD_GOAL = 0.03
"""8.1: ... and this share is the goal."""
_SCRAPE_EVERY_S = 0.1
"""8.1: a metrics scrape (``generate_latest``) this often during the run."""
_POLL_EVERY_S = 0.1
"""8.1: the log thread's (and 8.5's readiness poller's) period."""

_STOP_PROMPT_MS = 100.0
"""8.3: intake that stops within this after the request stopped promptly."""

_DETECTED_FAST_MS = 100.0
"""8.4: a death the main loop acts on within this was noticed at once."""

_DETECT_WITHIN_S = 2.0
"""8.5: a fault reported degraded within this (lesson 7's target for a
breaker to open) was detected in time."""
_REPORT_LAG_S = 1.0
"""8.5: health reports arrive about once a second, so a verdict up to this
long after a fault's end still counts as detecting it."""
_FULL_AT = 0.9
"""8.5: a worker whose queue holds this share of its bound is "full"."""


def _config(phase: int, **fields: Any) -> RunConfig:
    fields.setdefault("seed", _SEED)
    fields.setdefault("assets", _ASSETS)
    fields.setdefault("processes", _PROCESSES)
    fields.setdefault("work_ms", _WORK_MS)
    return phase_config(phase, RunConfig(**fields))


def _run(
    config: RunConfig,
    progress: Progress,
    on_started: Callable[[Engine], None] | None = None,
    label: str = "",
) -> RunStats:
    """One run of ``config`` on its synthetic stream, with ``on_started``
    called between the engine's start-up and its run (threads beside it)."""
    progress(f"{label or config.engine}: {config.describe()}")
    return run_engine(create_engine(config), config.synthetic_source(), on_started=on_started)


def _digest(router: MessageRouter) -> str:
    return books_digest(router.export())


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


# --------------------------------------------------------------------- 8.1


def _generate_latest(registry: Any) -> bytes:
    """One scrape, as Prometheus takes it (prometheus_client loaded only here:
    every command imports this registry of experiments)."""
    from prometheus_client import generate_latest

    return generate_latest(registry)


class _Observers:
    """Threads that watch a run the way a production service does: a
    Prometheus scrape every ``_SCRAPE_EVERY_S``, and a structured log fed
    by one event per ``live_status`` poll plus the service's own
    ``StatusWatcher``. ``start`` is ``on_started``; ``stop`` joins them all
    and flushes the log (safe if ``start`` never ran)."""

    def __init__(self, *, scrape: bool, logs: bool, log_path: Path | None) -> None:
        self.scrape = scrape
        self.logs = logs
        self.log_path = log_path
        self.scrapes = 0
        self.scrape_bytes = 0
        self.scrape_cpu_s = 0.0
        """CPU the scraper thread spent (its own thread time: contention
        stretches its wall time, not this)."""
        self.logged = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sink = None
        self._watcher: StatusWatcher | None = None

    def start(self, engine: Any) -> None:
        if self.scrape:
            from ..service.metrics import metrics_registry  # prometheus_client: only when measured

            registry = metrics_registry(engine.live_status)
            self._spawn("scraper", lambda: self._scrape(registry))
        if self.logs:
            assert self.log_path is not None
            from ..service.logs import open_log  # structlog: only when measured

            self._sink = open_log(self.log_path)
            log = self._sink.logger(component="experiment")
            self._watcher = StatusWatcher(
                engine.live_status, lambda: True, self._sink.logger(component="flow")
            )
            self._watcher.start()
            self._spawn("status-log", lambda: self._log_status(engine, log))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"experiment-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _scrape(self, registry: Any) -> None:
        while not self._stopping.wait(_SCRAPE_EVERY_S):
            began = time.thread_time()
            self.scrape_bytes += len(_generate_latest(registry))
            self.scrape_cpu_s += time.thread_time() - began
            self.scrapes += 1

    def _log_status(self, engine: Any, log: Any) -> None:
        while not self._stopping.wait(_POLL_EVERY_S):
            status = engine.live_status()
            log.info("status", generated=status.generated, processed=status.processed,
                     dropped=sum(status.dropped.values()), restarts=status.restarts)  # fmt: skip
            self.logged += 1

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        if self._watcher is not None:
            self._watcher.stop()
        if self._sink is not None:
            self._sink.close()


_LAYERS = ("phase 7 (baseline)", "+ event log", "+ checkpoints", "+ metrics scraped", "+ structured logs")


def _layer_run(layer: int, work_ms: float, messages: int, progress: Progress) -> dict[str, Any]:
    """Phase 7 with the first ``layer`` layers of ``_LAYERS`` added: its
    stats, its observers and the CPU it took per message processed (µs),
    in the parent (every thread: dispatcher, readers, scraper, logger) and
    in the workers. CPU is what the layers add; on a shared machine it
    moves far less from run to run than wall-clock throughput does."""
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-8.1-") as scratch:
        fields: dict[str, Any] = {"messages": messages, "work_ms": work_ms}
        if layer >= 1:
            fields["event_log"] = str(Path(scratch) / "events")
        config = _config(8 if layer >= 2 else 7, **fields)
        observers = _Observers(scrape=layer >= 3, logs=layer >= 4, log_path=Path(scratch) / "run.jsonl")
        progress(f"{_LAYERS[layer]}, --work-ms {work_ms:g}: {config.describe()}")
        engine = create_engine(config)
        try:
            engine.start()
            observers.start(engine)
            began = time.process_time()
            engine.run(config.synthetic_source())
            parent_s = time.process_time() - began
        finally:
            try:
                engine.stop()
            finally:
                observers.stop()
        stats = engine.stats()
        if observers.logs and observers.log_path is not None and observers.log_path.exists():
            with observers.log_path.open(encoding="utf-8") as file:
                observers.logged = sum(1 for _ in file)
    workers_s = sum(w.cpu_s for w in stats.pool.workers) if stats.pool is not None else 0.0
    processed = max(stats.processed, 1)
    return {"stats": stats, "observers": observers, "throughput": stats.throughput,
            "parent_us": 1e6 * parent_s / processed, "workers_us": 1e6 * workers_s / processed}  # fmt: skip


def _unit_costs(messages: int) -> dict[str, float]:
    """What one unit of each layer costs in CPU, timed in this process on
    the lesson's stream (the minimum of a few passes: the least disturbed):
    ``append_us`` per event-log record (``Line``, as phase 8 logs them,
    flushed), ``checkpoint_ms`` for the whole state of every book
    (taken, encoded and decoded: all workers' checkpoints together), and
    ``log_event_us`` per structured log event, written through the queue
    and its writer thread to a file (CPU of the whole process)."""
    source = _config(1, messages=messages, work_ms=0.0).synthetic_source()
    lines = [Line(f.line_no, f.text if type(f.text) is bytes else f.text.encode()) for f in source]
    router = MessageRouter()
    for line in lines:
        for parsed in parse_line_msgspec(line.text, line.line_no):
            if type(parsed) is not Rejection:
                router.apply(parsed)
    appends, checkpoints, logs = [], [], []
    decode = msgspec.msgpack.Decoder(RouterCheckpoint).decode
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="orderbook-lab-8.1-unit-") as scratch:
            with EventLogWriter(Path(scratch) / "events") as writer:
                began = time.process_time()
                for line in lines:
                    writer.append(line, 0)
                writer.flush()
                appends.append((time.process_time() - began) / len(lines))
            from ..service.logs import open_log

            sink = open_log(Path(scratch) / "log.jsonl")
            log = sink.logger(component="experiment")
            began = time.process_time()
            for index in range(2000):
                log.info("status", generated=index, processed=index, dropped=0, restarts=0)
            sink.close()
            logs.append((time.process_time() - began) / 2000)
        for _ in range(5):
            began = time.process_time()
            decode(msgspec.msgpack.encode(router.checkpoint()))
            checkpoints.append(time.process_time() - began)
    return {"append_us": 1e6 * min(appends), "checkpoint_ms": 1e3 * min(checkpoints),
            "log_event_us": 1e6 * min(logs)}  # fmt: skip


def layers(quick: bool, progress: Progress) -> Report:
    """8.1: flat-out throughput and CPU per message as phase 8's layers are
    added one at a time."""
    repeats = 1 if quick else 3
    checkpoint_s = 1.0
    sizes = {0.0: 5000 if quick else 30_000, 1.0: 800 if quick else 4000}
    table = Table(
        f"Flat-out (unpaced) runs, {_ASSETS} assets, {_PROCESSES} workers; each layer adds to the ones above; "
        f"median of {repeats} interleaved run(s) per row; metrics scraped every {1000 * _SCRAPE_EVERY_S:g} ms, "
        f"a log event every {1000 * _POLL_EVERY_S:g} ms; CPU per message processed, parent (all its threads) "
        "and workers",
        ["--work-ms", "messages", "layer", "msg/s", "runs (msg/s)", "spread (%)", "vs baseline (x)",
         "overhead vs baseline (%)", "layer overhead (%)", "parent CPU (µs/msg)", "worker CPU (µs/msg)",
         "CPU overhead vs baseline (%)", "CPU layer overhead (%)", "scrapes", "log lines", "checkpoints",
         "conserved"],
    )  # fmt: skip
    report = Report("8.1", "The overhead of each layer, step by step", [table], quick=quick)
    runs: dict[tuple[float, int], list[dict[str, Any]]] = {}
    steps = [0, 1, len(_LAYERS) - 1] if quick else list(range(len(_LAYERS)))
    for _ in range(repeats):  # interleaved: each round runs every step once
        for layer in steps:
            for work_ms, messages in sizes.items():
                runs.setdefault((work_ms, layer), []).append(_layer_run(layer, work_ms, messages, progress))
    figures: dict = {"limit": _OVERHEAD_LIMIT, "goal": _OVERHEAD_GOAL, "rows": []}
    for work_ms, messages in sizes.items():
        base = runs[work_ms, 0]
        baseline = median(r["throughput"] for r in base)
        base_cpu = median(r["parent_us"] + r["workers_us"] for r in base)
        previous, previous_cpu = baseline, base_cpu
        for layer in steps:
            name = _LAYERS[layer]
            done = sorted(runs[work_ms, layer], key=lambda r: r["throughput"])
            middle = done[len(done) // 2]
            stats, observers = middle["stats"], middle["observers"]
            throughput = median(r["throughput"] for r in done)
            spread = (done[-1]["throughput"] - done[0]["throughput"]) / throughput if throughput else 0.0
            parent_us = median(r["parent_us"] for r in done)
            workers_us = median(r["workers_us"] for r in done)
            cpu = median(r["parent_us"] + r["workers_us"] for r in done)
            row = {"work_ms": work_ms, "layer": name, "throughput": throughput, "spread": spread, "runs": len(done),
                   "overhead": 1 - throughput / baseline if baseline else 0.0,
                   "step": 1 - throughput / previous if previous else 0.0,
                   "cpu_us": cpu, "workers_us": workers_us,
                   "cpu_overhead": cpu / base_cpu - 1 if base_cpu else 0.0,
                   "cpu_step": cpu / previous_cpu - 1 if previous_cpu else 0.0,
                   "conserved": all(r["stats"].conserved for r in done)}  # fmt: skip
            table.add(work_ms, messages, name, round(throughput, 1), "/".join(f"{r['throughput']:.0f}" for r in done),
                      round(100 * spread, 1), round(throughput / baseline, 3), round(100 * row["overhead"], 1),
                      round(100 * row["step"], 1), round(parent_us, 1), round(workers_us, 1),
                      round(100 * row["cpu_overhead"], 1), round(100 * row["cpu_step"], 1), observers.scrapes,
                      observers.logged, stats.recovery.checkpoints if stats.recovery is not None else 0,
                      _yes(row["conserved"]))  # fmt: skip
            figures["rows"].append(row)
            previous, previous_cpu = throughput, cpu
    units = _unit_costs(2000 if quick else 10_000)
    scrapes = [r["observers"] for rs in runs.values() for r in rs if r["observers"].scrapes]
    scrape_ms = 1e3 * sum(o.scrape_cpu_s for o in scrapes) / max(sum(o.scrapes for o in scrapes), 1)
    per_s = {
        "+ event log": lambda rate: units["append_us"] * rate / 1e3,
        "+ checkpoints": lambda _rate: units["checkpoint_ms"] / checkpoint_s,
        "+ metrics scraped": lambda _rate: scrape_ms / _SCRAPE_EVERY_S,
        "+ structured logs": lambda _rate: (
            units["log_event_us"] * (1 / _POLL_EVERY_S + 1 / POLL_EVERY_S) / 1e3
        ),
    }
    unit_text = {
        "+ event log": f"{units['append_us']:.2f} µs per record",
        "+ checkpoints": f"{units['checkpoint_ms']:.2f} ms per checkpoint of every book, each {checkpoint_s:g} s",
        "+ metrics scraped": f"{scrape_ms:.2f} ms per scrape, {1 / _SCRAPE_EVERY_S:g} a second",
        "+ structured logs": f"{units['log_event_us']:.1f} µs per event, {1 / _POLL_EVERY_S + 1 / POLL_EVERY_S:g} a second",
    }  # fmt: skip
    bottom = Table(
        f"Bottom-up: the CPU each layer adds, per second of a flat-out run at phase 7's rate, as a share of the "
        f"machine's {_CORES} cores (unit costs timed in this process, the scrape's in its own thread)",
        ["--work-ms", "layer", "unit cost", "at (msg/s)", "CPU (ms per s)", f"share of {_CORES} cores (%)"],
    )
    figures["bottom_up"] = []
    for work_ms in sizes:
        rate = next(r["throughput"] for r in figures["rows"] if r["work_ms"] == work_ms)
        for layer in _LAYERS[1:]:
            cpu_ms = per_s[layer](rate)
            share = cpu_ms / (1000 * _CORES)
            bottom.add(
                work_ms, layer, unit_text[layer], round(rate, 1), round(cpu_ms, 2), round(100 * share, 2)
            )
            figures["bottom_up"].append(
                {"work_ms": work_ms, "layer": layer, "cpu_ms": cpu_ms, "share": share}
            )
    figures["dispatcher_us"] = {
        work_ms: median(r["parent_us"] for r in runs[work_ms, 0]) for work_ms in sizes
    }
    figures["append_us"] = units["append_us"]
    report.tables.append(bottom)
    report.findings += layers_findings(figures)
    full = {r["work_ms"]: r for r in figures["rows"] if r["layer"] == _LAYERS[-1]}
    log = {r["work_ms"]: r for r in figures["rows"] if r["layer"] == _LAYERS[1]}
    report.headline = {
        "overhead_pct_full_work1ms": round(100 * full[1.0]["overhead"], 1),
        "overhead_pct_full_work0ms": round(100 * full[0.0]["overhead"], 1),
        "cpu_overhead_pct_full_work1ms": round(100 * full[1.0]["cpu_overhead"], 1),
        "cpu_overhead_pct_full_work0ms": round(100 * full[0.0]["cpu_overhead"], 1),
        "cpu_overhead_pct_event_log_work0ms": round(100 * log[0.0]["cpu_overhead"], 1),
        "baseline_spread_pct_work1ms": round(100 * next(r for r in figures["rows"] if r["work_ms"] == 1.0)["spread"], 1),
        "bottom_up_pct_work1ms": round(100 * sum(b["share"] for b in figures["bottom_up"] if b["work_ms"] == 1.0), 2),
        "bottom_up_pct_work0ms": round(100 * sum(b["share"] for b in figures["bottom_up"] if b["work_ms"] == 0.0), 2),
    }  # fmt: skip
    return report


def _against(cost: float, goal: float, limit: float) -> str:
    if cost <= goal:
        return f"within the {100 * goal:g}% goal (and the {100 * limit:g}% bound)"
    if cost <= limit:
        return f"within the {100 * limit:g}% bound but over the {100 * goal:g}% goal"
    return f"OVER the {100 * limit:g}% bound"


def layers_findings(figures: dict) -> list[str]:
    """8.1's conclusions. ``figures``: ``limit`` and ``goal`` (shares);
    ``rows`` of ``work_ms``, ``layer`` (``_LAYERS``' names, baseline
    first), ``throughput``, ``spread`` (max - min of the step's runs over
    their median), ``overhead`` (share of the baseline's throughput lost,
    cumulative), ``step`` (lost to this layer alone), ``cpu_us`` (CPU per
    message, parent and workers), ``cpu_overhead``, ``cpu_step``,
    ``conserved``; ``bottom_up`` of ``work_ms``, ``layer``, ``cpu_ms`` (per
    second) and ``share`` (of the machine's cores); ``dispatcher_us``
    (work_ms -> the baseline parent's CPU per message) and ``append_us``.

    Throughput answers the issue's question directly, but only when the
    baseline's own runs agree more closely than the bound; otherwise the
    bottom-up estimate (what each layer's units cost, times how often they
    happen) is the answer, and is named as an estimate."""
    limit, goal = figures["limit"], figures["goal"]
    findings = []
    verdicts = {}
    for work_ms in sorted({r["work_ms"] for r in figures["rows"]}, reverse=True):
        rows = [r for r in figures["rows"] if r["work_ms"] == work_ms]
        base, full = rows[0], rows[-1]
        cost = full["overhead"]
        resolved = base["spread"] <= limit and base.get("runs", 2) > 1
        findings.append(
            f"--work-ms {work_ms:g}, measured end to end: phase 7 served {base['throughput']:,.0f} msg/s flat out, full "
            f"phase 8 observability {full['throughput']:,.0f} ({-100 * cost:+.1f}%), and CPU per message went from "
            f"{base['cpu_us']:,.1f} to {full['cpu_us']:,.1f} µs ({100 * full['cpu_overhead']:+.1f}%). "
            + (
                "One run per step cannot tell a layer's cost from this machine's noise."
                if base.get("runs", 2) < 2
                else f"The baseline's own runs spread {100 * base['spread']:.0f}%, more than the {100 * limit:g}% being "
                "measured: on this machine, now, end-to-end figures cannot resolve it."
                if base["spread"] > limit
                else f"The baseline's runs agreed within {100 * base['spread']:.1f}%, so that is {_against(cost, goal, limit)}."
            )
        )  # fmt: skip
        quiet = [r for r in rows if r["layer"] == "+ checkpoints"]
        if quiet and "workers_us" in full and quiet[0].get("workers_us"):
            drift = full["workers_us"] / quiet[0]["workers_us"] - 1
            if abs(drift) > limit:
                findings.append(
                    f"--work-ms {work_ms:g}: the workers' CPU per message moved {100 * drift:+.1f}% between "
                    f"'+ checkpoints' and the last step, though nothing added after checkpoints runs in a worker: "
                    "that is this figure's noise on this machine, so CPU per message cannot resolve 5% either."
                )
        parts = [b for b in figures.get("bottom_up", []) if b["work_ms"] == work_ms]
        if parts:
            total = sum(b["share"] for b in parts)
            biggest = max(parts, key=lambda b: b["share"])
            listed = ", ".join(f"{b['layer'][2:]} {100 * b['share']:.2f}%" for b in parts)
            sentence = (
                f"--work-ms {work_ms:g}, bottom up: at {base['throughput']:,.0f} msg/s the layers take {100 * total:.2f}% "
                f"of the machine's CPU ({listed}), {_against(total, goal, limit)}; the biggest is {biggest['layer'][2:]}."
            )  # fmt: skip
            dispatcher = figures.get("dispatcher_us", {}).get(work_ms)
            if dispatcher and "append_us" in figures:
                on_dispatcher = figures["append_us"] / dispatcher
                sentence += (
                    f" The event log's {figures['append_us']:.1f} µs per record all lands on the dispatcher thread, "
                    f"which spent {dispatcher:.1f} µs per message: {100 * on_dispatcher:.1f}% more work for it"
                    + (
                        ", and when the dispatcher is what limits the rate that share comes off throughput whole."
                        if on_dispatcher > limit
                        else "."
                    )
                )
            findings.append(sentence)
            estimate = total
        else:
            estimate = None
        if resolved:
            verdicts[work_ms] = (cost, "throughput measured end to end")
        elif estimate is not None:
            verdicts[work_ms] = (
                estimate,
                "the bottom-up estimate (end-to-end figures were too noisy; it counts CPU, not time spent "
                "waiting for the GIL or the engine's lock, so it is a lower bound)",
            )
        if not all(r["conserved"] for r in rows):
            findings.append(f"--work-ms {work_ms:g}: some runs did NOT count every message.")
    if 1.0 in verdicts:
        cost, measure = verdicts[1.0]
        findings.append(
            f"The issue's check (the lesson's stream, --work-ms 1), judged by {measure}: {100 * cost:.1f}%, "
            + (
                f"so the {100 * goal:g}% goal is met, and the {100 * limit:g}% bound with it."
                if cost <= goal
                else f"so the {100 * limit:g}% bound is met but the {100 * goal:g}% goal is not."
                if cost <= limit
                else f"so the {100 * limit:g}% bound is MISSED."
            )
        )  # fmt: skip
    return findings


# --------------------------------------------------------------------- 8.2


_HEADER = struct.Struct("<II")


def _last_record_offset(path: Path) -> tuple[int, int]:
    """``(offset, payload length)`` of the last record in one segment file."""
    data = path.read_bytes()
    offset, last = 0, (0, 0)
    while offset + _HEADER.size <= len(data):
        length, _crc = _HEADER.unpack_from(data, offset)
        last = (offset, length)
        offset += _HEADER.size + length
    return last


def _replay_records(directory: Path, count: int) -> MessageRouter:
    """The first ``count`` records of a log applied to a fresh router: what
    a replay that stops before the torn record must give (the check is
    independent of ``replay_log``'s own reading)."""
    router = MessageRouter()
    for index, record in enumerate(read_log(directory)):
        if index >= count:
            break
        message = record.message
        if type(message) is Line:
            for parsed in parse_line_msgspec(message.text, message.line_no):
                if type(parsed) is not Rejection:
                    router.apply(parsed)
        else:
            router.apply(message)
    return router


def replay(quick: bool, progress: Progress) -> Report:
    """8.2: the event log replayed into a fresh router, whole and torn."""
    messages = 1500 if quick else 10_000
    table = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, --work-ms {_WORK_MS:g}; phase 8 with "
        "--event-log, then replay_log into a fresh router",
        ["run", "generated", "processed", "records in log", "restarts", "live digest", "replay digest",
         "phase 1 digest (--work-ms 0)", "replay = live", "replay = phase 1", "conserved"],
    )  # fmt: skip
    torn_table = Table(
        "The killed run's log with its last segment cut in the middle of its last record, replayed",
        ["segment", "cut at byte", "records before", "records read", "torn tail reason", "torn tail bytes",
         "missing seqs", "digest = first N-1 records", "digest = intact log"],
    )  # fmt: skip
    report = Report("8.2", "Replay correctness", [table, torn_table], quick=quick)
    reference = measure(_config(1, messages=messages, work_ms=0.0), progress)  # work changes no book
    figures: dict = {"phase1_digest": reference.digest, "runs": []}
    with tempfile.TemporaryDirectory(prefix="orderbook-lab-8.2-") as scratch:
        for label, kill_at in (("phase 8", None), ("phase 8, worker 0 killed", messages // 2)):
            directory = Path(scratch) / label.replace(" ", "_").replace(",", "")
            config = _config(8, messages=messages, event_log=str(directory), kill_worker_at=kill_at)
            stats = _run(config, progress, label=label)
            router, replayed = replay_log(directory)
            digest = _digest(router)
            run = {"label": label, "generated": stats.generated, "processed": stats.processed,
                   "records": replayed.read.records, "complete": replayed.complete,
                   "restarts": stats.recovery.restarts if stats.recovery is not None else 0,
                   "live": stats.digest, "replay": digest, "conserved": stats.conserved}  # fmt: skip
            figures["runs"].append(run)
            table.add(label, stats.generated, stats.processed, replayed.read.records, run["restarts"],
                      stats.digest[:12], digest[:12], reference.digest[:12], _yes(digest == stats.digest),
                      _yes(digest == reference.digest), _yes(stats.conserved))  # fmt: skip
        # The torn tail: the killed run's log (the last one written), cut.
        segment = segment_paths(directory)[-1][1]
        intact = Path(scratch) / "intact"
        shutil.copytree(directory, intact)
        offset, length = _last_record_offset(segment)
        cut = offset + _HEADER.size + length // 2
        with open(segment, "r+b") as file:
            file.truncate(cut)
        before = figures["runs"][-1]["records"]
        router, torn = replay_log(directory)
        tail = torn.read.torn_tail
        expected = _digest(_replay_records(intact, before - 1))
        figures["torn"] = {"records_before": before, "records_read": torn.read.records,
                           "reason": tail.reason if tail is not None else None,
                           "bytes": tail.bytes if tail is not None else 0, "missing": torn.missing_records,
                           "equal_prefix": _digest(router) == expected,
                           "equal_intact": _digest(router) == figures["runs"][-1]["replay"]}  # fmt: skip
        torn_table.add(segment.name, cut, before, torn.read.records, tail.reason if tail else "none",
                       tail.bytes if tail else 0, torn.missing_records, _yes(figures["torn"]["equal_prefix"]),
                       "yes" if figures["torn"]["equal_intact"] else "no")  # fmt: skip
    report.findings += replay_findings(figures)
    report.headline = {
        "replays_equal_phase1": sum(r["replay"] == reference.digest for r in figures["runs"]),
        "records_replayed_killed_run": figures["runs"][-1]["records"],
        "torn_tail_bytes": figures["torn"]["bytes"],
    }
    return report


def replay_findings(figures: dict) -> list[str]:
    """8.2's conclusions. ``figures``: ``phase1_digest``, ``runs`` of
    ``label``, ``generated``, ``processed``, ``records``, ``complete``,
    ``restarts``, ``live``, ``replay`` (digests), ``conserved``; ``torn``:
    ``records_before``, ``records_read``, ``reason``, ``bytes``,
    ``missing``, ``equal_prefix``, ``equal_intact``."""
    findings = []
    for run in figures["runs"]:
        live, phase1 = run["replay"] == run["live"], run["replay"] == figures["phase1_digest"]
        killed = f" ({run['restarts']} restart)" if run["restarts"] else ""
        if live and phase1:
            findings.append(
                f"{run['label'].capitalize()}{killed}: replaying {run['records']:,} records gave the live run's "
                f"books and phase 1's (digest {run['replay'][:12]})."
            )
        else:
            findings.append(
                f"{run['label'].capitalize()}{killed}: the replay of {run['records']:,} records did NOT match "
                f"({'live' if not live else ''}{' and ' if not live and not phase1 else ''}"
                f"{'phase 1' if not phase1 else ''} differ: {run['replay'][:12]} against live {run['live'][:12]}, "
                f"phase 1 {figures['phase1_digest'][:12]})."
            )
        if run["records"] != run["generated"]:
            findings.append(
                f"{run['label'].capitalize()}: the log holds {run['records']:,} records for {run['generated']:,} "
                "messages generated: " + ("a resent tail was logged twice." if run["records"] > run["generated"]
                                          else "some messages never reached the log.")
            )  # fmt: skip
    torn = figures["torn"]
    if torn["reason"] is not None and torn["records_read"] == torn["records_before"] - 1:
        findings.append(
            f"Cut in the middle of its last record, the log replayed {torn['records_read']:,} of "
            f"{torn['records_before']:,} records and reported a torn tail ({torn['reason']}, {torn['bytes']} bytes) "
            "instead of reading it as data"
            + (
                "; the books equal those of the first N-1 records."
                if torn["equal_prefix"]
                else "; but the books do NOT equal those of the first N-1 records."
            )
            + (
                " They even equal the intact log's: that last message changed no level."
                if torn["equal_intact"]
                else " They differ from the intact log's by that one message, as they should."
            )
        )
    else:
        findings.append(
            f"The torn log read {torn['records_read']:,} of {torn['records_before']:,} records and "
            + (
                "reported no torn tail."
                if torn["reason"] is None
                else f"reported a torn tail ({torn['reason']})."
            )
        )
    return findings


# --------------------------------------------------------------------- 8.3


def _capacity(progress: Progress, quick: bool, phase: int = 8) -> float:
    """Flat-out throughput (msg/s) of ``phase`` on this stream."""
    stats = measure(_config(phase, messages=800 if quick else 4000), progress)
    return stats.throughput


def shutdown(quick: bool, progress: Progress) -> Report:
    """8.3: a graceful stop of phase 8 at 80% load, at a few points."""
    load = 0.8
    duration = 4.0 if quick else 12.0
    stops = [1.0, 2.5] if quick else [1.0, 4.0, 8.0]
    capacity = _capacity(progress, quick)
    rate = round(load * capacity, 1)
    table = Table(
        f"Phase 8 paced at {load:g}x its flat-out {capacity:,.0f} msg/s ({rate:,.0f} msg/s, {duration:g} s stream), "
        "stopped by engine.request_stop from a timer; --drain-timeout 10",
        ["stop at (s)", "intake stopped (ms)", "drained (ms)", "engine stop (ms)", "total (ms)",
         "drain timeout (s)", "accepted", "processed", "dropped (shed)", "lost", "latency p99 (ms)"],
    )  # fmt: skip
    report = Report("8.3", "Shutdown at 80% load", [table], quick=quick)
    figures: dict = {"rows": []}
    for stop_at in stops:
        config = _config(8, messages=None, duration_s=duration, rate=rate)
        timers: list[threading.Timer] = []

        def arm(engine: Any, at: float = stop_at, armed: list[threading.Timer] = timers) -> None:
            timer = threading.Timer(at, engine.request_stop, args=("experiment",))
            timer.daemon = True
            armed.append(timer)
            timer.start()

        try:
            stats = _run(config, progress, arm, label=f"stop at {stop_at:g} s")
        finally:
            for timer in timers:
                timer.cancel()
        shut = stats.shutdown or {}
        lost = stats.generated - stats.processed - stats.dropped_total - stats.invalid
        total = shut.get("drained_ms", 0.0) + 1000 * stats.shutdown_s
        row = {"stop_at_s": stop_at, "stopped": bool(shut), "intake_ms": shut.get("intake_stopped_ms", 0.0),
               "drained_ms": shut.get("drained_ms", 0.0), "stop_ms": 1000 * stats.shutdown_s, "total_ms": total,
               "timeout_s": shut.get("drain_timeout_s") or config.drain_timeout_s or 0.0,
               "accepted": stats.generated, "processed": stats.processed, "dropped": stats.dropped_total,
               "lost": lost}  # fmt: skip
        figures["rows"].append(row)
        table.add(stop_at, round(row["intake_ms"], 2), round(row["drained_ms"], 1), round(row["stop_ms"], 1),
                  round(total, 1), row["timeout_s"], stats.generated, stats.processed, stats.dropped_total, lost,
                  round(stats.latency_ms.p99, 1))  # fmt: skip
    report.findings += shutdown_findings(figures)
    rows = figures["rows"]
    report.headline = {
        "drained_ms_max": round(max(r["drained_ms"] for r in rows), 1),
        "total_stop_ms_max": round(max(r["total_ms"] for r in rows), 1),
        "lost_messages": sum(r["lost"] for r in rows),
    }
    return report


def shutdown_findings(figures: dict) -> list[str]:
    """8.3's conclusions. ``figures["rows"]``: ``stop_at_s``, ``stopped``,
    ``intake_ms``, ``drained_ms``, ``stop_ms``, ``total_ms``, ``timeout_s``,
    ``accepted``, ``processed``, ``dropped``, ``lost``."""
    rows = figures["rows"]
    findings = []
    never = [r for r in rows if not r["stopped"]]
    if never:
        findings.append(
            f"{len(never)} run(s) were never stopped (the stream ended first, at "
            + ", ".join(f"{r['stop_at_s']:g} s" for r in never)
            + "): no shutdown figures for them."
        )
    stopped = [r for r in rows if r["stopped"]]
    if not stopped:
        return findings
    slowest = max(stopped, key=lambda r: r["total_ms"])
    prompt = all(r["intake_ms"] <= _STOP_PROMPT_MS for r in stopped)
    findings.append(
        f"Intake stopped {max(r['intake_ms'] for r in stopped):.1f} ms at most after the request "
        + (f"(within {_STOP_PROMPT_MS:g} ms: before the next frame)" if prompt else f"(NOT within {_STOP_PROMPT_MS:g} ms)")
        + f"; draining what was accepted took {min(r['drained_ms'] for r in stopped):,.0f} to "
        f"{max(r['drained_ms'] for r in stopped):,.0f} ms, and stopping the workers another "
        f"{max(r['stop_ms'] for r in stopped):,.0f} ms at most."
    )  # fmt: skip
    within = slowest["total_ms"] <= 1000 * slowest["timeout_s"]
    findings.append(
        f"The slowest stop (asked at {slowest['stop_at_s']:g} s) took {slowest['total_ms']:,.0f} ms in all, "
        + (
            f"{slowest['total_ms'] / (10 * slowest['timeout_s']):.1f}% of the {slowest['timeout_s']:g} s drain timeout."
            if within
            else f"OVER the {slowest['timeout_s']:g} s drain timeout."
        )
    )
    lost = sum(r["lost"] for r in stopped)
    accepted = sum(r["accepted"] for r in stopped)
    shed = sum(r["dropped"] for r in stopped)
    if lost == 0:
        findings.append(
            f"Of {accepted:,} messages accepted across the stopped runs, every one was processed or counted "
            f"as dropped ({shed:,} shed while running at 80% load): lost 0."
        )
    else:
        findings.append(
            f"{lost:,} of {accepted:,} accepted messages were LOST: neither processed nor counted."
        )
    return findings


# --------------------------------------------------------------------- 8.4


class _Killer:
    """SIGKILLs one worker once the run is ``at_s`` seconds old (by
    ``live_status().uptime_s``, the clock ``died_at_s`` is read on), the
    way ``--kill-worker-at`` does by message count. A time, not a count,
    because the checkpoints are timed: on a shared machine the count
    reached by a given second swings by half from run to run."""

    def __init__(self, at_s: float, worker: int = 0) -> None:
        self.at_s = at_s
        self.worker = worker
        self.generated: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, engine: Any) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(engine,), name="experiment-kill", daemon=True
        )
        self._thread.start()

    def _loop(self, engine: Any) -> None:
        while not self._stopping.wait(0.002):
            status = engine.live_status()
            if status.running and status.uptime_s >= self.at_s:
                pids = engine.worker_pids
                if self.worker < len(pids):
                    self.generated = status.generated
                    os.kill(pids[self.worker], signal.SIGKILL)
                return

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()


def recovery(quick: bool, progress: Progress) -> Report:
    """8.4: a worker killed before the first checkpoint, right after one,
    and late; the books against phase 1's and the throughput against a run
    without the kill."""
    messages = 2000 if quick else 8000
    repeats = 1 if quick else 3
    checkpoint_s = 1.0
    points: list[tuple[str, float | None]] = [
        ("none", None),
        ("before the first checkpoint", 0.5 * checkpoint_s),
        ("right after a checkpoint", 1.15 * checkpoint_s),
        ("late, just before a checkpoint", 3.9 * checkpoint_s),
    ]
    if quick:
        points = points[:3]
    reference = measure(_config(1, messages=messages, work_ms=0.0), progress)  # work changes no book
    table = Table(
        f"Phase 8 flat out, {messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, --work-ms {_WORK_MS:g}, "
        f"checkpoints every {checkpoint_s:g} s; worker 0 SIGKILLed once the run is so many seconds old; "
        f"median-throughput run of {repeats} interleaved",
        ["kill", "kill at (s)", "generated at kill", "died at (s)", "detected (ms)", "restart (ms)",
         "checkpoint age (ms)", "entries replayed", "frames lost in flight", "restarts", "msg/s", "runs (msg/s)",
         "vs no kill (x)", "digest = phase 1 (--work-ms 0)", "conserved"],
    )  # fmt: skip
    report = Report("8.4", "Crash recovery", [table], quick=quick)
    results: dict[str, list[tuple[RunStats, int | None]]] = {}
    for _ in range(repeats):  # interleaved: each round runs every point once
        for name, at_s in points:
            killer = _Killer(at_s) if at_s is not None else None
            try:
                stats = _run(_config(8, messages=messages), progress, killer.start if killer else None,
                             label=f"kill {name}" if killer else "no kill")  # fmt: skip
            finally:
                if killer is not None:
                    killer.stop()
            results.setdefault(name, []).append((stats, killer.generated if killer else None))
    figures: dict = {"phase1_digest": reference.digest, "rows": []}
    nones = sorted(s.throughput for s, _ in results["none"])
    baseline = median(nones)
    figures["spread"] = (nones[-1] - nones[0]) / baseline if baseline else 0.0
    for name, at_s in points:
        done = sorted(results[name], key=lambda r: r[0].throughput)
        stats, generated = done[len(done) // 2]
        throughput = median(s.throughput for s, _ in done)
        events = stats.recovery.events if stats.recovery is not None else ()
        event = events[0] if events else {}
        row = {"kill": name, "at": at_s, "throughput": throughput, "vs_none": throughput / baseline,
               "restarts": stats.recovery.restarts if stats.recovery is not None else 0,
               "died_at_s": event.get("died_at_s"), "detected_ms": event.get("detected_ms"),
               "restart_ms": event.get("restart_ms"), "age_ms": event.get("checkpoint_age_ms"),
               "replayed": event.get("replayed"), "lost_frames": event.get("frames_lost_in_flight"),
               "run_s": stats.run_s,
               "digest_ok": all(s.digest == reference.digest for s, _ in done),
               "runs": len(done), "runs_ok": sum(s.digest == reference.digest and s.conserved for s, _ in done),
               "conserved": all(s.conserved for s, _ in done)}  # fmt: skip
        figures["rows"].append(row)

        def cell(value: Any, digits: int = 1) -> Any:
            return "-" if value is None else round(value, digits) if isinstance(value, float) else value

        table.add(name, cell(at_s, 2), cell(generated), cell(row["died_at_s"], 2), cell(row["detected_ms"]),
                  cell(row["restart_ms"]), "none taken" if event and row["age_ms"] is None else cell(row["age_ms"]),
                  cell(row["replayed"]), cell(row["lost_frames"]), row["restarts"], round(throughput, 1),
                  "/".join(f"{s.throughput:.0f}" for s, _ in done), round(row["vs_none"], 3),
                  _yes(row["digest_ok"]), _yes(row["conserved"]))  # fmt: skip
    report.findings += recovery_findings(figures)
    killed = [r for r in figures["rows"] if r["at"] is not None and r["restart_ms"] is not None]
    report.headline = {
        "restart_ms_median": round(median(r["restart_ms"] for r in killed), 1) if killed else 0.0,
        "replayed_entries_max": max((r["replayed"] for r in killed), default=0),
        "throughput_with_kill_min_x": round(min((r["vs_none"] for r in killed), default=0.0), 3),
        "runs_books_equal_phase1": sum(r["runs_ok"] for r in figures["rows"]),
        "runs": sum(r["runs"] for r in figures["rows"]),
    }
    return report


def _tail_covers_s(row: dict) -> float:
    """Seconds of stream a restarted worker's tail covers: since its last
    checkpoint, or since the start when it had none."""
    return row["age_ms"] / 1000 if row["age_ms"] is not None else row["died_at_s"]


def recovery_findings(figures: dict) -> list[str]:
    """8.4's conclusions. ``figures``: ``phase1_digest``, ``spread`` (max -
    min of the runs without a kill, over their median) and ``rows`` of
    ``kill`` ("none" first), ``at`` (s into the run), ``throughput``, ``vs_none``,
    ``restarts``, ``died_at_s``, ``detected_ms``, ``restart_ms``,
    ``age_ms`` (None: no checkpoint yet), ``replayed``, ``lost_frames``,
    ``run_s``, ``digest_ok``, ``conserved``."""
    findings = []
    killed = [r for r in figures["rows"] if r["at"] is not None]
    for row in killed:
        if not row["restarts"]:
            findings.append(
                f"Kill {row['kill']} (at {row['at']:g} s): no restart happened (the run had ended)."
            )
            continue
        age = (
            "no checkpoint had been taken, so the whole of its stream so far was replayed"
            if row["age_ms"] is None
            else f"its checkpoint was {row['age_ms']:,.0f} ms old"
        )
        state = (
            "books equal to phase 1's: no state lost"
            if row["digest_ok"] and row["conserved"]
            else "books NOT equal to phase 1's, or messages not all counted: state LOST"
        )
        detected = "at once" if row["detected_ms"] <= _DETECTED_FAST_MS else "late"
        findings.append(
            f"Killed {row['kill']} ({row['died_at_s']:.2f} s in): noticed {detected} ({row['detected_ms']:.1f} ms), "
            f"a new process up in {row['restart_ms']:,.0f} ms; {age}, and {row['replayed']:,} entries were sent "
            f"again; {state}."
        )
    aged = sorted((r for r in killed if r["restarts"] and r["replayed"] is not None), key=_tail_covers_s)
    if len(aged) >= 2:
        grows = all(a["replayed"] <= b["replayed"] for a, b in pairwise(aged))
        listed = "; ".join(
            f"{r['replayed']:,} after {1000 * _tail_covers_s(r):,.0f} ms"
            + (" (no checkpoint: since the start)" if r["age_ms"] is None else "")
            for r in aged
        )
        findings.append(
            f"Entries replayed against the time the tail covered (since the last checkpoint): {listed}. "
            + (
                "The tail grows with that time, so the checkpoint interval bounds the replay."
                if grows
                else "The tail did NOT grow with that time: the rate of the stream changed between the kills."
            )
        )
    costs = [r for r in killed if r["restarts"] and r["restart_ms"] is not None]
    if costs:
        low, high = min(r["vs_none"] for r in costs), max(r["vs_none"] for r in costs)
        pause = median(r["restart_ms"] / 1000 / r["run_s"] for r in costs if r["run_s"])
        spread = figures.get("spread", 0.0)
        expected = f"a restart holds the main loop for about {100 * pause:.0f}% of a run this long"
        if spread > pause:
            findings.append(
                f"Throughput with a kill was {low:.2f}x to {high:.2f}x that of a run without one, and {expected}; but "
                f"the runs without a kill spread {100 * spread:.0f}% among themselves, so this machine cannot show "
                "the restart's cost in throughput."
            )
        else:
            findings.append(
                f"Throughput with a kill was {low:.2f}x to {high:.2f}x that of a run without one; {expected}, "
                + ("so the restart (spawning Python) is most of the cost." if 1 - low <= 2 * pause
                   else "so the restart is not all of it: the replay costs too.")
            )  # fmt: skip
    return findings


# --------------------------------------------------------------------- 8.5


class _Poller:
    """Reads ``engine.live_status()`` every ``_POLL_EVERY_S`` and judges it
    with ``service/health.py``'s ``readiness``, as ``/health/ready`` does;
    keeps what each reading said while the run was under way."""

    def __init__(self) -> None:
        self.readings: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, engine: Any) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(engine,), name="experiment-health", daemon=True
        )
        self._thread.start()

    def _loop(self, engine: Any) -> None:
        while not self._stopping.wait(_POLL_EVERY_S):
            status = engine.live_status()
            if not status.running:
                continue
            verdict = readiness(status, True)
            shed = sum(n for reason, n in status.dropped.items() if reason.startswith("shed:"))
            full = any(w.depth >= _FULL_AT * w.capacity for w in status.workers)
            self.readings.append({"t_s": status.uptime_s, "ready": verdict.ready, "reasons": verdict.reasons,
                                  "shed": shed, "full": full})  # fmt: skip

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()


def _first(
    readings: list[dict], since_s: float, until_s: float, test: Callable[[dict], bool]
) -> float | None:
    """Seconds from ``since_s`` to the first reading in the window that passes ``test``."""
    for reading in readings:
        if since_s <= reading["t_s"] <= until_s and test(reading):
            return reading["t_s"] - since_s
    return None


def health(quick: bool, progress: Progress) -> Report:
    """8.5: time from a fault's start to the first degraded verdict."""
    duration = 2.5 if quick else 10.0
    window = (0.8, 1.6) if quick else (3.0, 6.0)
    capacity = _capacity(progress, quick)
    half = round(0.5 * capacity, 1)
    cases: list[tuple[str, dict, tuple[float, float] | None]] = [
        ("clean, 0.5x load", {"rate": half}, None),
        ("slow worker 0 (+150 ms/msg)", {"rate": half, "slow_worker": 0, "slow_ms": 150.0}, (0.0, duration)),
        ("slow worker 0 (+40 ms/msg, breaker at 20 ms)",
         {"rate": half, "slow_worker": 0, "slow_ms": 40.0, "breaker_latency_ms": 20.0}, (0.0, duration)),
        ("error burst (worker 0 fails 50%)",
         {"rate": half, "fault_rate": 0.5, "fault_worker": 0, "fault_window": window}, window),
        ("full queue (2x load)", {"rate": round(2 * capacity, 1)}, (0.0, duration)),
    ]  # fmt: skip
    if quick:
        cases = [cases[0], cases[3], cases[4]]
    table = Table(
        f"Phase 8, {duration:g} s streams paced against its flat-out {capacity:,.0f} msg/s; readiness "
        f"(service/health.py) judged on engine.live_status() every {1000 * _POLL_EVERY_S:g} ms",
        ["case", "fault from (s)", "fault to (s)", "readings", "degraded readings", "first degraded after (ms)",
         "first reason", "breaker opened after (ms)", "breaker opened because", "shed after (ms)", "queue full after (ms)", "verdict"],
    )  # fmt: skip
    report = Report("8.5", "Health detection latency", [table], quick=quick)
    figures: dict = {"rows": []}
    for name, fields, fault in cases:
        config = _config(8, messages=None, duration_s=duration, **fields)
        poller = _Poller()
        try:
            stats = _run(config, progress, poller.start, label=name)
        finally:
            poller.stop()
        readings = poller.readings
        since, until = fault if fault is not None else (0.0, duration)
        late = until + _REPORT_LAG_S
        degraded = _first(readings, since, late, lambda r: not r["ready"])
        reason = next(
            (r["reasons"][0] for r in readings if since <= r["t_s"] <= late and not r["ready"]), "-"
        )
        opened, why = None, "-"
        if stats.flow is not None:
            opens = [t for w in stats.flow.workers for t in w.transitions if t["state"] == "open"]
            opens = sorted((t for t in opens if since <= t["t_s"] <= late), key=lambda t: t["t_s"])
            if opens:
                opened, why = opens[0]["t_s"] - since, opens[0]["reason"]
        shed = _first(readings, since, late, lambda r: r["shed"] > 0)
        full = _first(readings, since, late, lambda r: r["full"])
        row = {"case": name, "fault": fault, "readings": len(readings),
               "degraded": sum(not r["ready"] for r in readings), "detect_s": degraded, "reason": reason,
               "breaker_s": opened, "breaker_reason": why, "shed_s": shed, "full_s": full}  # fmt: skip
        row["verdict"] = _verdict(row)
        figures["rows"].append(row)

        def ms(value: float | None) -> Any:
            return "-" if value is None else round(1000 * value, 0)

        table.add(name, since if fault else "-", until if fault else "-", len(readings), row["degraded"],
                  ms(degraded), reason, ms(opened), why, ms(shed), ms(full), row["verdict"])  # fmt: skip
    report.findings += health_findings(figures)
    rows = figures["rows"]
    burst = next((r for r in rows if r["case"].startswith("error burst")), None)
    report.headline = {
        "false_positive_readings_clean": next((r["degraded"] for r in rows if r["fault"] is None), 0),
        "faults_undetected": sum(r["verdict"] == "false negative" for r in rows),
        "detect_ms_error_burst": round(1000 * burst["detect_s"], 0) if burst and burst["detect_s"] is not None else -1,
    }  # fmt: skip
    return report


def _verdict(row: dict) -> str:
    if row["fault"] is None:
        return "false positive" if row["degraded"] else "clean"
    if row["detect_s"] is None:
        return "false negative"
    return "detected" if row["detect_s"] <= _DETECT_WITHIN_S else "detected late"


def health_findings(figures: dict) -> list[str]:
    """8.5's conclusions. ``figures["rows"]``: ``case``, ``fault`` (``(from_s,
    to_s)`` or None for the clean run), ``readings``, ``degraded``,
    ``detect_s``, ``reason``, ``breaker_s``, ``breaker_reason``, ``shed_s``, ``full_s`` (None:
    never), ``verdict`` (``_verdict``)."""
    findings = []
    for row in figures["rows"]:
        if row["fault"] is None:
            findings.append(
                f"{row['case'].capitalize()}: {row['degraded']} of {row['readings']} readings said degraded"
                + (
                    ": no false positive."
                    if not row["degraded"]
                    else f": {row['degraded']} false positive(s)."
                )
            )
            signals = [
                f"{label} after {1000 * value:,.0f} ms"
                for label, value in (
                    ("shedding began", row["shed_s"]),
                    ("a queue was 90% full", row["full_s"]),
                )
                if value is not None
            ]
            if signals:
                findings.append(
                    f"In the same clean run {', '.join(signals)}: bursts of a paced stream fill an adaptive queue "
                    "even at half load, so neither is a fault signal on its own; an alert on them needs a rate "
                    "and a duration, not a first occurrence."
                )
            continue
        if row["detect_s"] is not None:
            timing = (
                f"within the {_DETECT_WITHIN_S:g} s target" if row["detect_s"] <= _DETECT_WITHIN_S
                else f"later than the {_DETECT_WITHIN_S:g} s target"
            )  # fmt: skip
            findings.append(
                f"{row['case'].capitalize()}: first degraded verdict {1000 * row['detect_s']:,.0f} ms after the fault "
                f'began ({timing}), because "{row["reason"]}"'
                + (
                    f' (it opened on "{row["breaker_reason"]}").'
                    if row.get("breaker_reason", "-") != "-"
                    else "."
                )
            )
            continue
        signals = [
            f"{label} after {1000 * value:,.0f} ms"
            for label, value in (("shedding began", row["shed_s"]), ("a queue was 90% full", row["full_s"]))
            if value is not None
        ]
        findings.append(
            f"{row['case'].capitalize()}: NEVER reported degraded in {row['readings']} readings (a false negative)"
            + (
                f"; the breaker opened after {1000 * row['breaker_s']:,.0f} ms but no reading caught it open"
                if row["breaker_s"] is not None
                else "; its breaker never opened"
            )
            + (f", yet the metrics showed it: {', '.join(signals)}." if signals else ".")
        )
    return findings


EXPERIMENTS = (
    Experiment("8.1", "The overhead of each layer, step by step",
               "What does each production layer (event log, checkpoints, metrics, logs) cost in flat-out "
               "throughput, and does all of it stay within 5% of phase 7's?", layers),
    Experiment("8.2", "Replay correctness",
               "Does replaying the event log rebuild the live run's books, with a worker killed too, and what "
               "does a torn tail cost?", replay),
    Experiment("8.3", "Shutdown at 80% load",
               "Stopped at 80% load, how long do intake, drain and stop take, and is any accepted message lost?",
               shutdown),
    Experiment("8.4", "Crash recovery",
               "When a worker dies, how fast is it back, how much is replayed, and is any state lost?", recovery),
    Experiment("8.5", "Health detection latency",
               "How long from a fault to the first degraded readiness verdict, and which faults are never "
               "seen, or seen when there are none?", health),
)  # fmt: skip
