"""Lesson 7's experiments: what a pipeline does when more arrives than it
can serve.

Every run here is the actor engine with 1 ms of CPU work per message
(``--work-ms 1``) on the default stream shape (20 assets, seed 1) and two
workers: phase 7 (``--flow adaptive``: queues that size themselves,
shedding by priority, circuit breakers) and, beside it, phase 6 (the same
engine with fixed queues that block the dispatcher). Each experiment first
measures the flat-out capacity of phase 7 on this machine (unpaced: an
unpaced stream waits for room instead of shedding) and paces its load as
a multiple of it. Findings come from pure ``*_findings(figures)`` functions
with named thresholds; the tests feed them contrasting figures.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import pairwise

from ..core.parser import Rejection, parse_line, peek_route
from ..engines import RunConfig, RunStats, phase_config
from ..engines._flow.shedding import PRIORITY_NAMES, rank_of_event, rank_of_message
from .base import Experiment, Plot, Progress, Report, Table, measure

_SEED = 1
_ASSETS = 20
_CORES = os.cpu_count() or 1
_PROCESSES = max(2, min(_CORES, 4))
_WORK_MS = 1.0
_TARGET_WAIT_MS = 100.0
"""``--target-wait-ms``'s default: the wait adaptive queues steer toward."""

_P99_WITHIN_TARGETS = 3.0
"""The issue's latency goal under overload: p99 within 3x the target wait."""

_OSCILLATES_AT = 3
"""7.1: a worker whose capacity changed direction (grow <-> shrink) this
many times once overloaded is called oscillating; fewer, converging."""

_OPEN_WITHIN_S = 2.0
"""7.2: the issue's target: a failing worker's breaker opens within this."""
_CLOSE_WITHIN_S = 5.0
"""7.2: ... and closes within this once the worker is healthy again."""

_MORE_THAN_ITS_SHARE = 1.2
"""7.3: an asset (or a priority) whose share of what was shed is this many
times its share of the stream lost more than its share."""

_LITTLE_WITHIN = 0.15
"""7.4: the sampled depth counts as agreeing with λW within this share."""

_ONE_MESSAGE = 1.0
"""7.4: a sampled depth above λW by at most this many messages is the
sampler's own bias (it samples right after an arrival), named as such."""

_PLATEAU_WITHIN = 0.20
"""7.5: throughput at the highest load within this share of the best load's
is a plateau; further below, a cliff."""
_LATENCY_CLIFF_X = 10.0
"""7.5: p99 growing this many times from 1x to the highest load is a
latency cliff (the queue, not the service, sets the wait)."""
_SERVED_AT_OVERLOAD = 0.90
"""7.5: the issue's goal at 1.5x: throughput at least this share of capacity."""


def _config(phase: int, **fields) -> RunConfig:
    fields.setdefault("seed", _SEED)
    fields.setdefault("assets", _ASSETS)
    fields.setdefault("processes", _PROCESSES)
    fields.setdefault("work_ms", _WORK_MS)
    return phase_config(phase, RunConfig(**fields))


def _capacity(progress: Progress, quick: bool, **fields) -> float:
    """Phase 7's flat-out throughput (msg/s) on this stream: what loads are multiples of."""
    stats = measure(_config(7, messages=800 if quick else 4000, **fields), progress)
    return stats.throughput


def _ms(value: float) -> float:
    return round(value, 2)


def _cpu_percent(stats: RunStats) -> float:
    """Mean CPU of a worker, % of one core: phase 7's health samples, else the pool's totals."""
    if stats.flow is not None and stats.flow.health:
        return 100 * sum(h["cpu"] for h in stats.flow.health) / len(stats.flow.health)
    workers = stats.pool.workers if stats.pool is not None else ()
    return 100 * sum(w.cpu_share for w in workers) / len(workers) if workers else 0.0


def _rss_mb(stats: RunStats) -> float | None:
    if stats.flow is not None and stats.flow.health:
        return max(h["rss_mb"] for h in stats.flow.health)
    return None


def _direction_changes(capacities: list[int]) -> int:
    """How often a series of capacities turned (grew after shrinking or back)."""
    turns, last = 0, 0
    for before, after in pairwise(capacities):
        step = (after > before) - (after < before)
        if step and last and step != last:
            turns += 1
        last = step or last
    return turns


# --------------------------------------------------------------------- 7.1


def ramp(quick: bool, progress: Progress) -> Report:
    """7.1: a load ramp from 10% to 150% of capacity, adaptive against fixed."""
    duration = 2.0 if quick else 20.0
    low, high = 0.1, 1.5
    capacity = _capacity(progress, quick)
    rate = round(capacity, 1)
    over_from_s = duration * (1 - low) / (high - low)  # when the offered rate passes capacity
    summary = Table(
        f"{duration:g} s ramp from {low:g}x to {high:g}x of phase 7's flat-out {capacity:,.0f} msg/s "
        f"({_ASSETS} assets, {_PROCESSES} workers, --work-ms {_WORK_MS:g}); overloaded from {over_from_s:.1f} s",
        ["run", "target wait (ms)", "generated", "msg/s", "shed", "latency p50 (ms)", "latency p99 (ms)",
         "schedule lag p99 (ms)", "capacity at end", "capacity lowest", "direction changes overloaded",
         "conserved"],
    )  # fmt: skip
    seconds = Table(
        "Phase 7, second by second (offered from the ramp; served and wait from health reports and "
        "capacity decisions; capacity per worker at the second's last decision)",
        ["target wait (ms)", "second", "offered (msg/s)", "served (msg/s)", "capacity w0", "capacity w1",
         "wait EWMA (ms)"],
    )  # fmt: skip
    report = Report("7.1", "Adaptive queue under a 10% -> 150% load ramp", [summary, seconds], quick=quick)
    capacity_plot = Plot("Queue capacity per worker over the ramp", "time (s)", "capacity (msgs)")
    wait_plot = Plot("Wait EWMA over the ramp (target 100 ms)", "time (s)", "wait EWMA (ms)")
    figures: dict = {"capacity": capacity, "over_from_s": over_from_s, "runs": []}
    runs = [("phase 7", 7, _TARGET_WAIT_MS), ("phase 7", 7, 25.0), ("phase 6 fixed", 6, None)]
    for label, phase, target in runs:
        extra = {"target_wait_ms": target} if target is not None else {}
        stats = measure(
            _config(phase, messages=None, duration_s=duration, rate=rate, rate_ramp=(low, high), **extra),
            progress,
        )
        run = {"label": label, "target_ms": target, "throughput": stats.throughput, "p50_ms": stats.latency_ms.p50,
               "p99_ms": stats.latency_ms.p99, "lag_p99_ms": stats.schedule_lag_ms.p99,
               "shed": stats.dropped_total, "conserved": stats.conserved, "workers": []}  # fmt: skip
        if stats.flow is not None:
            for worker in stats.flow.workers:
                decisions = worker.decisions
                overloaded = [d["capacity"] for d in decisions if d["t_s"] >= over_from_s]
                run["workers"].append(
                    {"worker": worker.worker, "end": worker.capacity, "lowest": worker.capacity_lowest,
                     "start": decisions[0]["previous"] if decisions else worker.capacity,
                     "turns": _direction_changes(overloaded),
                     "changes": sum(d["action"] != "hold" for d in decisions)}
                )  # fmt: skip
                for d in decisions:
                    capacity_plot.add(f"target {target:g} ms, w{worker.worker}", d["t_s"], d["capacity"])
                    if target == _TARGET_WAIT_MS:
                        wait_plot.add(f"w{worker.worker}", d["t_s"], d["wait_ewma_ms"])
            _per_second(seconds, stats, target, duration, rate, low, high)
        workers = run["workers"]
        summary.add(label, target if target is not None else "-", stats.generated, round(stats.throughput, 1),
                    stats.dropped_total, _ms(stats.latency_ms.p50), _ms(stats.latency_ms.p99),
                    _ms(stats.schedule_lag_ms.p99),
                    "/".join(str(w["end"]) for w in workers) or "-",
                    "/".join(str(w["lowest"]) for w in workers) or "-",
                    max((w["turns"] for w in workers), default=0), "yes" if stats.conserved else "NO")  # fmt: skip
        figures["runs"].append(run)
    report.plots += [capacity_plot, wait_plot]
    report.findings += ramp_findings(figures)
    by = {(r["label"], r["target_ms"]): r for r in figures["runs"]}
    report.headline = {
        "p99_ms_ramp_phase7": round(by["phase 7", _TARGET_WAIT_MS]["p99_ms"], 1),
        "p99_ms_ramp_phase6": round(by["phase 6 fixed", None]["p99_ms"], 1),
        "capacity_lowest_target25": min(w["lowest"] for w in by["phase 7", 25.0]["workers"]),
    }
    return report


def _per_second(table: Table, stats: RunStats, target: float | None, duration: float, rate: float,
                low: float, high: float) -> None:  # fmt: skip
    assert stats.flow is not None
    for second in range(int(duration)):
        middle = (second + 0.5) / duration
        offered = rate * (low + (high - low) * middle)
        served = sum(h["msgs_per_s"] for h in stats.flow.health if second < h["t_s"] <= second + 1)
        caps, waits = [], []
        for worker in stats.flow.workers[:2]:
            inside = [d for d in worker.decisions if second < d["t_s"] <= second + 1]
            caps.append(inside[-1]["capacity"] if inside else worker.capacity)
            waits += [d["wait_ewma_ms"] for d in inside]
        table.add(target, second + 1, round(offered, 1), round(served, 1), caps[0], caps[-1],
                  _ms(sum(waits) / len(waits)) if waits else 0.0)  # fmt: skip


def ramp_findings(figures: dict) -> list[str]:
    """7.1's conclusions. ``figures``: ``capacity`` (msg/s), ``over_from_s``
    and ``runs`` of ``label``, ``target_ms`` (None for phase 6), ``p99_ms``,
    ``lag_p99_ms``, ``shed``, ``conserved``, ``throughput`` and ``workers``
    (``worker``, ``start``, ``end``, ``lowest``, ``turns``, ``changes``)."""
    findings = []
    adaptive = [r for r in figures["runs"] if r["target_ms"] is not None]
    for run in adaptive:
        target, workers = run["target_ms"], run["workers"]
        turns = max((w["turns"] for w in workers), default=0)
        ends = "/".join(str(w["end"]) for w in workers)
        if not any(w["changes"] for w in workers):
            shape = (
                f"the capacity never moved from {workers[0]['start']}: the smoothed wait stayed inside the "
                f"hysteresis band ({0.3 * target:g}-{1.5 * target:g} ms), or below it without the queue "
                "filling up, so every decision was hold"
            )
        elif turns >= _OSCILLATES_AT:
            shape = (
                f"the capacity oscillated: it changed direction {turns} times once overloaded (at least "
                f"{_OSCILLATES_AT} counts as hunting) and ended at {ends}"
            )
        else:
            shape = (
                f"the capacity converged: {turns} change(s) of direction once overloaded (fewer than "
                f"{_OSCILLATES_AT}), lowest {'/'.join(str(w['lowest']) for w in workers)}, settled at {ends}"
            )
        bound = _P99_WITHIN_TARGETS * target
        verdict = "within" if run["p99_ms"] <= bound else "over"
        findings.append(
            f"Target {target:g} ms: {shape}. Latency p99 was {run['p99_ms']:.0f} ms, {verdict} 3x the target "
            f"({bound:g} ms), with {run['shed']:,} messages shed and every message "
            + (
                "counted."
                if run["conserved"]
                else "NOT counted (generated != processed + dropped + invalid)."
            )
        )
    fixed = next((r for r in figures["runs"] if r["target_ms"] is None), None)
    default = next(
        (r for r in adaptive if r["target_ms"] == _TARGET_WAIT_MS), adaptive[0] if adaptive else None
    )
    if fixed is not None and default is not None:
        ratio = fixed["p99_ms"] / default["p99_ms"] if default["p99_ms"] else 0.0
        if fixed["shed"] == 0 and ratio >= 2:
            findings.append(
                f"Phase 6's fixed queues dropped nothing on the same ramp and paid in time: p99 {fixed['p99_ms']:,.0f} ms "
                f"({ratio:.0f}x phase 7's) and the source ran {fixed['lag_p99_ms']:,.0f} ms behind its schedule at p99, "
                "because a full queue blocks the dispatcher and the backlog only grows while the load is above capacity."
            )
        else:
            findings.append(
                f"Phase 6's fixed queues kept up about as well here: p99 {fixed['p99_ms']:,.0f} ms against phase 7's "
                f"{default['p99_ms']:,.0f} ms ({fixed['shed']:,} dropped): the overload was too short to build a backlog."
            )
    return findings


# --------------------------------------------------------------------- 7.2


_BREAKER_LEVEL = {"closed": 0.0, "half-open": 0.5, "open": 1.0}


def failing_worker(quick: bool, progress: Progress) -> Report:
    """7.2: worker 0 fails half its messages for a while; its breaker's answer."""
    duration, window = (5.0, (1.5, 3.0)) if quick else (12.0, (3.0, 6.0))
    capacity = _capacity(progress, quick)
    rate = round(capacity / 2, 1)
    stats = measure(
        _config(7, messages=None, duration_s=duration, rate=rate, fault_rate=0.5, fault_worker=0,
                fault_window=window),
        progress,
    )  # fmt: skip
    flow = stats.flow
    assert flow is not None
    struck = flow.workers[0]
    timeline = Table(
        f"Worker 0 fails 50% of its messages from {window[0]:g} to {window[1]:g} s; {duration:g} s paced at "
        f"{rate:,.0f} msg/s (half of phase 7's flat-out {capacity:,.0f}); its breaker's transitions",
        ["t (s)", "state", "reason"],
    )
    for t in struck.transitions:
        timeline.add(t["t_s"], t["state"], t["reason"])
    if not struck.transitions:
        timeline.add(0.0, "closed", "no transition")
    seconds = Table(
        "Health reports, second by second",
        ["t (s)", "w0 msg/s", "w0 error rate", "w0 breaker", "w1 msg/s", "w1 error rate"],
    )
    by_time: dict[int, dict[int, dict]] = {}
    for h in flow.health:
        by_time.setdefault(round(h["t_s"]), {})[h["worker"]] = h
    for second, row in sorted(by_time.items()):
        w0, w1 = row.get(0, {}), row.get(1, {})
        seconds.add(second, w0.get("msgs_per_s", 0.0), w0.get("error_rate", 0.0), w0.get("breaker", "-"),
                    w1.get("msgs_per_s", 0.0), w1.get("error_rate", 0.0))  # fmt: skip
    lost = Table(
        "Messages lost, by reason",
        ["reason", "messages", "share of generated (%)"],
    )
    for reason, count in sorted(stats.dropped.items()):
        lost.add(reason, count, round(100 * count / max(stats.generated, 1), 2))
    lost.add("total", stats.dropped_total, round(100 * stats.dropped_total / max(stats.generated, 1), 2))
    report = Report("7.2", "A worker failing half its messages", [timeline, seconds, lost], quick=quick)
    plot = Plot("Worker 0: breaker state (closed 0, half-open 0.5, open 1) and error rate", "time (s)",
                "state / error rate")  # fmt: skip
    level = 0.0
    plot.add("breaker", 0.0, level)
    for t in struck.transitions:
        plot.add("breaker", t["t_s"], level)  # a step: the old state up to the change
        level = _BREAKER_LEVEL.get(t["state"], 0.0)
        plot.add("breaker", t["t_s"], level)
    plot.add("breaker", duration, level)
    for h in flow.health:
        if h["worker"] == 0:
            plot.add("error rate", h["t_s"], h["error_rate"])
    report.plots.append(plot)
    figures = {
        "window": window,
        "transitions": list(struck.transitions),
        "dropped": dict(stats.dropped),
        "generated": stats.generated,
        "conserved": stats.conserved,
        "p99_ms": stats.latency_ms.p99,
    }
    report.findings += failing_worker_findings(figures)
    opened, closed = _breaker_delays(figures["transitions"], window)
    report.headline = {
        "open_after_fault_s": round(opened, 2) if opened is not None else -1.0,
        "closed_after_fault_s": round(closed, 2) if closed is not None else -1.0,
        "lost_breaker_open": stats.dropped.get("breaker_open", 0),
    }
    return report


def _breaker_delays(
    transitions: list[dict], window: tuple[float, float]
) -> tuple[float | None, float | None]:
    """(fault start -> first open, fault end -> the close that lasted);
    ``None`` for what never happened (never opened; still not closed at the end)."""
    start, end = window
    opens = [t["t_s"] for t in transitions if t["state"] == "open" and t["t_s"] >= start]
    opened = opens[0] - start if opens else None
    closed = None
    if transitions and transitions[-1]["state"] == "closed" and opens:
        closed = transitions[-1]["t_s"] - end
    return opened, closed


def failing_worker_findings(figures: dict) -> list[str]:
    """7.2's conclusions. ``figures``: ``window`` (start, end in s),
    ``transitions`` (worker 0's: ``t_s``, ``state``, ``reason``),
    ``dropped`` (reason -> count), ``generated``, ``conserved``, ``p99_ms``."""
    window, dropped = figures["window"], figures["dropped"]
    opened, closed = _breaker_delays(figures["transitions"], window)
    opens = sum(t["state"] == "open" for t in figures["transitions"])
    findings = []
    if opened is None:
        findings.append(
            f"The breaker never opened while worker 0 failed half its messages from {window[0]:g} to {window[1]:g} s."
        )
    else:
        verdict = "within" if opened <= _OPEN_WITHIN_S else "later than"
        findings.append(
            f"The breaker opened {opened:.2f} s after the faults began: {verdict} the {_OPEN_WITHIN_S:g} s target "
            "(it needs 20 outcomes in its 1 s window with a quarter failed); "
            + (
                f"it opened {opens} times in all: each half-open round of probes that failed sent it back for "
                "another second."
                if opens > 1
                else "it opened once: the first round of probes found the worker healthy again."
            )
        )
    if opened is not None:
        if closed is None:
            findings.append("The breaker had not closed by the end of the run.")
        else:
            verdict = "within" if closed <= _CLOSE_WITHIN_S else "later than"
            findings.append(
                f"It closed {closed:.2f} s after the faults ended: {verdict} the {_CLOSE_WITHIN_S:g} s target "
                "(at most 1 s open, then 10 probes that must come back mostly healthy)."
            )
    total = sum(dropped.values())
    parts = ", ".join(f"{count:,} {reason}" for reason, count in sorted(dropped.items())) or "none"
    findings.append(
        f"Messages lost: {total:,} of {figures['generated']:,} ({parts}); "
        + (
            "every one counted, generated = processed + dropped + invalid."
            if figures["conserved"]
            else "NOT all counted: generated != processed + dropped + invalid."
        )
    )
    faults, shed = dropped.get("worker_fault", 0), dropped.get("breaker_open", 0)
    if shed and faults:
        findings.append(
            f"While open, the breaker shed {shed:,} of worker 0's messages at the door instead of letting them "
            f"fail ({faults:,} failed in the worker): lost either way, but shed costs the sick worker nothing "
            f"and the rest of the stream keeps its latency (p99 {figures['p99_ms']:.1f} ms)."
        )
    return findings


# --------------------------------------------------------------------- 7.3


def _stream_counts(config: RunConfig) -> tuple[Counter, Counter]:
    """What the stream of ``config`` holds, counted as the dispatcher ranks
    it for shedding: messages by priority name and by (first) asset."""
    by_rank: Counter = Counter()
    by_asset: Counter = Counter()
    unpaced = RunConfig(seed=config.seed, assets=config.assets, messages=config.messages,
                        popularity=config.popularity)  # fmt: skip
    for frame in unpaced.synthetic_source():
        route = peek_route(frame.text)
        if route is not None:
            by_rank[PRIORITY_NAMES[rank_of_event(route[2])]] += 1
            by_asset[route[1]] += 1
            continue
        for parsed in parse_line(frame.text, frame.line_no):
            if isinstance(parsed, Rejection):
                continue
            by_rank[PRIORITY_NAMES[rank_of_message(parsed)]] += 1
            asset = getattr(parsed, "asset_id", None)
            if asset is None:
                changes = getattr(parsed, "changes", ())
                asset = changes[0].asset_id if changes else ""
            by_asset[asset] += 1
    return by_rank, by_asset


def priority_shedding(quick: bool, progress: Progress) -> Report:
    """7.3: twice capacity, uniform and zipf popularity: who is shed."""
    seconds = 2.0 if quick else 10.0
    runs_table = Table(
        f"Paced at 2x phase 7's flat-out capacity (measured per popularity) for about {seconds:g} s, "
        f"{_ASSETS} assets, {_PROCESSES} workers, --work-ms {_WORK_MS:g}",
        ["popularity", "run", "offered (msg/s)", "msg/s", "shed", "shed (%)", "latency p99 (ms)",
         "schedule lag p99 (ms)", "assets shed from", "conserved"],
    )  # fmt: skip
    priority_table = Table(
        "Phase 7's drops by priority: each priority's share of the stream and of what was shed",
        ["popularity", "priority", "in stream", "shed", "stream share (%)", "shed share (%)", "own lost (%)"],
    )
    asset_table = Table(
        "Phase 7's drops by asset: the five assets that lost most, and the stream's busiest asset",
        ["popularity", "asset", "in stream", "shed", "stream share (%)", "shed share (%)", "own lost (%)"],
    )
    report = Report("7.3", "Shedding by priority at 200% load", [runs_table, priority_table, asset_table],
                    quick=quick)  # fmt: skip
    figures: dict = {"runs": []}
    popularities = ("uniform", "zipf")
    for popularity in popularities:
        capacity = _capacity(progress, quick, popularity=popularity)
        rate = round(2 * capacity, 1)
        messages = int(rate * seconds)
        by_rank, by_asset = _stream_counts(_config(7, messages=messages, popularity=popularity))
        phases = (7, 6) if (popularity == "zipf" or not quick) else (7,)
        for phase in phases:
            stats = measure(_config(phase, messages=messages, rate=rate, popularity=popularity), progress)
            flow = stats.flow
            run = {"popularity": popularity, "phase": phase, "rate": rate, "throughput": stats.throughput,
                   "generated": stats.generated, "shed": stats.dropped_total, "p99_ms": stats.latency_ms.p99,
                   "lag_p99_ms": stats.schedule_lag_ms.p99, "conserved": stats.conserved,
                   "stream_by_priority": dict(by_rank), "shed_by_priority": {}, "assets": {}, "hot": None}  # fmt: skip
            if flow is not None:
                run["shed_by_priority"] = dict(flow.dropped_by_priority)
                hot = by_asset.most_common(1)[0][0] if by_asset else None
                run["hot"] = hot
                named = {**{a: n for a, n in flow.most_dropped_assets.items()}}
                run["shed_from"] = flow.assets_dropped_from
                run["fifth_most_shed"] = min(named.values()) if len(named) >= 5 else 0
                for asset in {*named, *([hot] if hot else [])}:
                    run["assets"][asset] = {"stream": by_asset.get(asset, 0), "shed": named.get(asset)}
                run["quietest_stream"] = min(by_asset.values()) if by_asset else 0
                run["stream_total"] = sum(by_asset.values())
            runs_table.add(popularity, f"phase {phase}" + (" adaptive" if phase == 7 else " fixed"), rate,
                           round(stats.throughput, 1), stats.dropped_total,
                           round(100 * stats.dropped_total / max(stats.generated, 1), 2), _ms(stats.latency_ms.p99),
                           _ms(stats.schedule_lag_ms.p99), run.get("shed_from", 0),
                           "yes" if stats.conserved else "NO")  # fmt: skip
            if flow is not None:
                total_stream, total_shed = (
                    sum(by_rank.values()),
                    max(sum(run["shed_by_priority"].values()), 1),
                )
                for name in PRIORITY_NAMES:
                    n, shed = by_rank.get(name, 0), run["shed_by_priority"].get(name, 0)
                    priority_table.add(popularity, name, n, shed, round(100 * n / max(total_stream, 1), 2),
                                       round(100 * shed / total_shed, 2), round(100 * shed / n, 2) if n else 0.0)  # fmt: skip
                for asset, row in sorted(run["assets"].items(), key=lambda kv: -(kv[1]["shed"] or 0)):
                    shed = row["shed"]
                    label = asset[:10] + "…" + (" (busiest)" if asset == run["hot"] else "")
                    asset_table.add(popularity, label, row["stream"], shed if shed is not None else "< 5th",
                                    round(100 * row["stream"] / max(run["stream_total"], 1), 2),
                                    round(100 * shed / max(run["shed"], 1), 2) if shed is not None else "-",
                                    round(100 * shed / row["stream"], 2) if shed is not None and row["stream"] else "-")  # fmt: skip
            figures["runs"].append(run)
    report.findings += priority_shedding_findings(figures)
    by = {(r["popularity"], r["phase"]): r for r in figures["runs"]}
    zipf7 = by["zipf", 7]
    hot = zipf7["assets"].get(zipf7["hot"], {})
    hot_ratio = (
        (hot["shed"] / max(zipf7["shed"], 1)) / (hot["stream"] / max(zipf7["stream_total"], 1))
        if hot.get("shed") is not None and hot.get("stream")
        else 0.0
    )
    report.headline = {
        "snapshots_shed_zipf": zipf7["shed_by_priority"].get("snapshot", 0),
        "hot_asset_shed_vs_stream_share_x": round(hot_ratio, 2),
        "p99_ms_200pct_phase7_zipf": round(zipf7["p99_ms"], 1),
        "p99_ms_200pct_phase6_zipf": round(by["zipf", 6]["p99_ms"], 1),
    }
    return report


def priority_shedding_findings(figures: dict) -> list[str]:
    """7.3's conclusions. ``figures["runs"]``: ``popularity``, ``phase``,
    ``generated``, ``shed``, ``p99_ms``, ``lag_p99_ms``, ``conserved`` and,
    for phase 7, ``stream_by_priority``, ``shed_by_priority`` (name ->
    count), ``assets`` (asset -> ``stream``, ``shed`` or None when not
    among the five that lost most), ``hot``, ``shed_from``,
    ``fifth_most_shed``, ``quietest_stream``, ``stream_total``."""
    findings = []
    for run in (r for r in figures["runs"] if r["phase"] == 7):
        stream, shed = run["stream_by_priority"], run["shed_by_priority"]
        lost = {name: shed.get(name, 0) / stream[name] for name in PRIORITY_NAMES if stream.get(name)}
        order = [name for name in PRIORITY_NAMES if name in lost]
        ordered = all(lost[a] <= lost[b] for a, b in pairwise(order))
        shares = ", ".join(f"{name}s {100 * lost[name]:.1f}%" for name in order)
        if ordered:
            findings.append(
                f"{run['popularity'].capitalize()} stream at 2x: {run['shed']:,} of {run['generated']:,} shed, and each "
                f"priority lost no more of its own messages than the one below it ({shares}): snapshots go last "
                "because one repairs a whole book, trades first because they move no level."
            )
        else:
            findings.append(
                f"{run['popularity'].capitalize()} stream at 2x: the priority order did NOT hold ({shares} of each "
                "priority's own messages lost)."
            )
        hot = run["assets"].get(run["hot"]) if run.get("hot") else None
        if hot and hot["stream"]:
            stream_share = hot["stream"] / max(run["stream_total"], 1)
            if hot["shed"] is None:
                findings.append(
                    f"The busiest asset ({100 * stream_share:.1f}% of the stream) was not among the 5 that lost most."
                )
            else:
                shed_share = hot["shed"] / max(run["shed"], 1)
                ratio = shed_share / stream_share
                more = "more than its share" if ratio >= _MORE_THAN_ITS_SHARE else "about its share or less"
                findings.append(
                    f"The busiest asset carried {100 * stream_share:.1f}% of the stream and took {100 * shed_share:.1f}% "
                    f"of the drops ({ratio:.2f}x: {more}; fairness picks the asset with the most waiting)."
                )
        wiped = [
            a
            for a, row in run["assets"].items()
            if row["shed"] is not None and row["shed"] >= row["stream"] > 0
        ]
        if wiped:
            findings.append(f"{len(wiped)} asset(s) lost every message they had: fairness failed them.")
        else:
            worst = max(
                (
                    row["shed"] / row["stream"]
                    for row in run["assets"].values()
                    if row["shed"] and row["stream"]
                ),
                default=0.0,
            )
            findings.append(
                f"No asset lost everything: drops touched {run.get('shed_from', 0)} assets, the five that lost most "
                f"lost at most {100 * worst:.0f}% of their own messages, and every other asset lost fewer than "
                f"{run.get('fifth_most_shed', 0):,} (the quietest has {run.get('quietest_stream', 0):,} in the stream)."
            )
    for run in (r for r in figures["runs"] if r["phase"] == 6):
        adaptive = next(
            (r for r in figures["runs"] if r["phase"] == 7 and r["popularity"] == run["popularity"]), None
        )
        beside = f" against phase 7's {adaptive['p99_ms']:,.0f} ms" if adaptive else ""
        findings.append(
            f"Phase 6 with fixed queues ({run['popularity']}) dropped {run['shed']:,} and let the wait grow instead: "
            f"p99 {run['p99_ms']:,.0f} ms{beside}, the source {run['lag_p99_ms']:,.0f} ms behind schedule at p99."
        )
    return findings


# --------------------------------------------------------------------- 7.4


def littles_law(quick: bool, progress: Progress) -> Report:
    """7.4: L against λW at steady loads, exact and sampled."""
    duration = 2.0 if quick else 10.0
    loads = [0.3, 0.9] if quick else [0.3, 0.6, 0.9]
    capacity = _capacity(progress, quick)
    table = Table(
        f"Phase 7 paced at shares of its flat-out {capacity:,.0f} msg/s for {duration:g} s each; the queue is "
        "each worker's (waiting in the parent plus in flight), summed",
        ["load (x capacity)", "λ arrivals (msg/s)", "W mean wait (ms)", "λW", "L exact (area)",
         "L sampled (10 ms)", "sampled vs λW (%)", "exact vs λW (%)", f"within {100 * _LITTLE_WITHIN:g}%"],
    )  # fmt: skip
    report = Report("7.4", "Little's law predicted vs observed", [table], quick=quick)
    figures: dict = {"rows": []}
    for load in loads:
        stats = measure(
            _config(7, messages=None, duration_s=duration, rate=round(load * capacity, 1)), progress
        )
        law, flow = stats.littles_law, stats.flow
        if law is None or flow is None:
            continue
        predicted = law.predicted_depth
        sampled = flow.sampled_depth
        error = abs(sampled - predicted) / max(sampled, predicted) if max(sampled, predicted) else 0.0
        row = {"load": load, "lambda": law.arrival_rate_per_s, "w_ms": law.mean_wait_ms, "lw": predicted,
               "l_exact": law.mean_depth, "l_sampled": sampled, "sampled_error": error,
               "exact_error": law.relative_error}  # fmt: skip
        table.add(load, round(law.arrival_rate_per_s, 1), round(law.mean_wait_ms, 3), round(predicted, 3),
                  round(law.mean_depth, 3), round(sampled, 3), round(100 * error, 2),
                  round(100 * law.relative_error, 4), "yes" if error <= _LITTLE_WITHIN else "no")  # fmt: skip
        figures["rows"].append(row)
    report.findings += littles_law_findings(figures)
    rows = {r["load"]: r for r in figures["rows"]}
    report.headline = {
        f"sampled_vs_lw_error_pct_load{round(100 * load)}": round(100 * rows[load]["sampled_error"], 1)
        for load in (loads[0], loads[-1])
        if load in rows
    }
    report.headline["exact_vs_lw_error_pct_max"] = round(
        100 * max((r["exact_error"] for r in figures["rows"]), default=0.0), 2
    )
    return report


def littles_law_findings(figures: dict) -> list[str]:
    """7.4's conclusions. ``figures["rows"]``: ``load``, ``lambda``, ``w_ms``,
    ``lw``, ``l_exact``, ``l_sampled``, ``sampled_error``, ``exact_error`` (fractions)."""
    findings = []
    for row in figures["rows"]:
        verdict = "within" if row["sampled_error"] <= _LITTLE_WITHIN else "outside"
        findings.append(
            f"At {row['load']:g}x capacity: λ = {row['lambda']:,.0f} msg/s, W = {row['w_ms']:.2f} ms, so λW = "
            f"{row['lw']:.2f} messages; a monitor sampling every 10 ms saw L = {row['l_sampled']:.2f}, "
            f"{100 * row['sampled_error']:.1f}% off: {verdict} {100 * _LITTLE_WITHIN:g}%"
            + (
                f" (by {row['l_sampled'] - row['lw']:+.2f} messages: the dispatcher takes its samples right after it "
                "queues an arrival, so every sample counts that message, a bias that only shows when the queue is "
                "nearly empty)."
                if row["sampled_error"] > _LITTLE_WITHIN and 0 < row["l_sampled"] - row["lw"] <= _ONE_MESSAGE
                else "."
            )
        )
    exact = max((r["exact_error"] for r in figures["rows"]), default=0.0)
    if exact <= 1e-3:
        findings.append(
            f"The exact L (the area under the depth curve over the run) matched λW to {100 * exact:.2f}% in every run, "
            "by construction, not by luck: once the queue has drained, that area and the sum of every message's wait "
            "are the same item-seconds counted two ways. The sampled L is the independent check."
        )
    else:
        findings.append(
            f"The exact L differed from λW by up to {100 * exact:.2f}%: the queue had not drained when the books "
            "were closed, so some waits were still running."
        )
    return findings


# --------------------------------------------------------------------- 7.5


def degradation(quick: bool, progress: Progress) -> Report:
    """7.5: 0.5x to 2x capacity, adaptive against fixed queues."""
    duration = 1.0 if quick else 8.0
    loads = [0.5, 1.5] if quick else [0.5, 0.75, 1.0, 1.25, 1.5, 2.0]
    capacity = _capacity(progress, quick)
    table = Table(
        f"{duration:g} s at each load, as multiples of phase 7's flat-out {capacity:,.0f} msg/s "
        f"({_ASSETS} assets, {_PROCESSES} workers, --work-ms {_WORK_MS:g})",
        ["run", "load (x capacity)", "offered (msg/s)", "msg/s", "vs capacity (x)", "latency p50 (ms)",
         "latency p95 (ms)", "latency p99 (ms)", "schedule lag p99 (ms)", "dropped (%)", "worker CPU (%)",
         "worker RSS max (MB)", "conserved"],
    )  # fmt: skip
    report = Report("7.5", "Degradation from 50% to 200% load", [table], quick=quick)
    throughput_plot = Plot("Throughput vs load", "load (x capacity)", "msg/s")
    p99_plot = Plot("Latency p99 vs load", "load (x capacity)", "p99 (ms)")
    figures: dict = {"capacity": capacity, "target_ms": _TARGET_WAIT_MS, "rows": []}
    for phase in (7, 6):
        label = "phase 7 adaptive" if phase == 7 else "phase 6 fixed"
        for load in loads:
            rate = round(load * capacity, 1)
            stats = measure(_config(phase, messages=None, duration_s=duration, rate=rate), progress)
            rss = _rss_mb(stats)
            dropped = 100 * stats.dropped_total / max(stats.generated, 1)
            table.add(label, load, rate, round(stats.throughput, 1), round(stats.throughput / capacity, 3),
                      _ms(stats.latency_ms.p50), _ms(stats.latency_ms.p95), _ms(stats.latency_ms.p99),
                      _ms(stats.schedule_lag_ms.p99), round(dropped, 2), round(_cpu_percent(stats), 1),
                      rss if rss is not None else "-", "yes" if stats.conserved else "NO")  # fmt: skip
            throughput_plot.add(label, load, stats.throughput)
            p99_plot.add(label, load, stats.latency_ms.p99)
            figures["rows"].append(
                {"phase": phase, "load": load, "throughput": stats.throughput, "p99_ms": stats.latency_ms.p99,
                 "dropped_pct": dropped, "conserved": stats.conserved}
            )  # fmt: skip
    report.plots += [throughput_plot, p99_plot]
    report.findings += degradation_findings(figures)
    rows = {(r["phase"], r["load"]): r for r in figures["rows"]}
    report.headline = {
        "throughput_150pct_vs_capacity_phase7_x": round(rows[7, 1.5]["throughput"] / capacity, 2),
        "p99_ms_150pct_phase7": round(rows[7, 1.5]["p99_ms"], 1),
        "p99_ms_150pct_phase6": round(rows[6, 1.5]["p99_ms"], 1),
    }
    return report


def degradation_findings(figures: dict) -> list[str]:
    """7.5's conclusions. ``figures``: ``capacity`` (msg/s), ``target_ms`` and
    ``rows`` of ``phase``, ``load``, ``throughput``, ``p99_ms``,
    ``dropped_pct``, ``conserved``."""
    capacity, target = figures["capacity"], figures["target_ms"]
    findings = []
    for phase in (7, 6):
        rows = sorted((r for r in figures["rows"] if r["phase"] == phase), key=lambda r: r["load"])
        if len(rows) < 2:
            continue
        best = max(rows, key=lambda r: r["throughput"])
        last = rows[-1]
        kept = last["throughput"] / best["throughput"] if best["throughput"] else 0.0
        shape = (
            f"throughput plateaued: at {last['load']:g}x it still served {last['throughput']:,.0f} msg/s, "
            f"{kept:.2f}x its best ({best['throughput']:,.0f} at {best['load']:g}x)"
            if kept >= 1 - _PLATEAU_WITHIN
            else f"throughput fell off a cliff: {last['throughput']:,.0f} msg/s at {last['load']:g}x, {kept:.2f}x its "
            f"best ({best['throughput']:,.0f} at {best['load']:g}x)"
        )
        at_one = next((r for r in rows if r["load"] == 1.0), rows[0])
        growth = last["p99_ms"] / at_one["p99_ms"] if at_one["p99_ms"] else 0.0
        latency = (
            f"p99 grew {growth:.0f}x from {at_one['load']:g}x to {last['load']:g}x ({at_one['p99_ms']:,.0f} -> "
            f"{last['p99_ms']:,.0f} ms): a latency cliff, the backlog sets the wait"
            if growth >= _LATENCY_CLIFF_X
            else f"p99 went from {at_one['p99_ms']:,.0f} to {last['p99_ms']:,.0f} ms ({growth:.1f}x): bounded"
        )
        name = "Phase 7 (adaptive)" if phase == 7 else "Phase 6 (fixed queues)"
        findings.append(
            f"{name}: {shape}; {latency}; dropped {last['dropped_pct']:.1f}% at {last['load']:g}x."
        )
    bound = _P99_WITHIN_TARGETS * target
    for phase in (7, 6):
        row = next((r for r in figures["rows"] if r["phase"] == phase and r["load"] == 1.5), None)
        if row is None:
            continue
        served = row["throughput"] / capacity if capacity else 0.0
        checks = [
            (
                served >= _SERVED_AT_OVERLOAD,
                f"throughput {served:.2f}x capacity (goal >= {_SERVED_AT_OVERLOAD:g})",
            ),
            (row["p99_ms"] <= bound, f"p99 {row['p99_ms']:,.0f} ms (goal <= {bound:g})"),
            (row["conserved"], "every message counted" if row["conserved"] else "messages NOT all counted"),
        ]
        met = all(ok for ok, _ in checks)
        findings.append(
            f"Issue #16's check at 1.5x, phase {phase}: "
            + "; ".join(f"{text} {'met' if ok else 'MISSED'}" for ok, text in checks)
            + (": done." if met else ": not done.")
        )
    return findings


EXPERIMENTS = (
    Experiment("7.1", "Adaptive queue under a 10% -> 150% load ramp",
               "As the load ramps past capacity, does each worker's queue bound settle, and does latency stay "
               "within 3x the target wait?", ramp),
    Experiment("7.2", "A worker failing half its messages",
               "How fast does a failing worker's breaker open, and close again once it recovers?", failing_worker),
    Experiment("7.3", "Shedding by priority at 200% load",
               "At twice capacity, is what is shed chosen by priority and fairly across assets?", priority_shedding),
    Experiment("7.4", "Little's law predicted vs observed",
               "Does the queue depth a monitor samples agree with arrival rate times wait?", littles_law),
    Experiment("7.5", "Degradation from 50% to 200% load",
               "From half to twice capacity, does throughput plateau or fall off a cliff, and what happens to "
               "latency?", degradation),
)  # fmt: skip
