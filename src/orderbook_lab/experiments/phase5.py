"""Lesson 5's experiments: what it costs for books to talk, and what keeps
their conversation in order.

Every run here is the actor engine (``--phase 5``) on the default stream
shape (20 assets = 10 markets, seed 1), on as many workers as the machine
has cores. Each experiment computes its findings from what it measured, in
a pure ``*_findings(figures)`` function with named thresholds; the tests
feed those functions contrasting figures to show the conclusions flip.
"""

from __future__ import annotations

import os
import time

from ..core.complements import crossing, implied_quote
from ..engines import RunConfig, RunStats, phase_config
from .base import Experiment, Plot, Progress, Report, Table, measure

_SEED = 1
_ASSETS = 20
_CORES = os.cpu_count() or 1
_PROCESSES = max(2, min(_CORES, 4))

_SAME_WITHIN = 0.10
"""Two throughputs from single runs within this share of each other are
called the same: on this shared 2-core machine a repeated flat-out run
moves by several percent."""

_LATENCY_SAME_WITHIN = 0.5
"""Medians of update latency on a flat-out run move with its queues: a
change counts only past this share (1.5x up or down to 0.67x)."""

_P99_TARGET_MS = 10.0
"""The curriculum's target for an update's latency p99 at half capacity."""

_CONTAINED_WITHIN = 0.10
"""5.5: a slow actor's effect counts as contained if the other actors'
throughput stays within this share of the run without it."""


def _config(**fields) -> RunConfig:
    fields.setdefault("seed", _SEED)
    fields.setdefault("assets", _ASSETS)
    fields.setdefault("processes", _PROCESSES)
    return phase_config(5, RunConfig(**fields))


def _ms(value: float) -> float:
    return round(value, 3)


def _median_run(config: RunConfig, progress: Progress, repeats: int) -> RunStats:
    """The run with the median throughput of ``repeats`` runs of ``config``:
    one flat-out run on this shared machine can move by 20-50%."""
    runs = sorted((measure(config, progress) for _ in range(repeats)), key=lambda s: s.throughput)
    return runs[len(runs) // 2]


def _direct_call_us(hops: int, repeat: int = 20_000) -> float:
    """What ``hops`` updates cost as plain function calls in one process:
    compute the implied quote, check the crossing, store it, ``hops``
    times. The floor an actor system is measured against (µs)."""
    held: list = [None]
    began = time.perf_counter_ns()
    for index in range(repeat):
        for _ in range(hops):
            bid, ask = implied_quote(4800 + index % 7, 5200)
            held[0] = (bid, ask, crossing(4700, 5300, bid, ask))
    return (time.perf_counter_ns() - began) / repeat / 1e3


# --------------------------------------------------------------------- 5.1


def hop_latency(quick: bool, progress: Progress) -> Report:
    """5.1: update latency at half capacity, by hops and placement."""
    messages = 3000 if quick else 30_000
    hop_counts = [1, 4] if quick else [1, 2, 4]
    chains = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, paced at half of each placement's "
        "flat-out capacity",
        ["placement", "updates", "hops", "msg/s paced", "updates sent", "latency p50 (ms)", "latency p95 (ms)",
         "latency p99 (ms)", "direct call (µs)", "vs direct call p50 (x)"],
    )  # fmt: skip
    report = Report("5.1", "Update latency over 1, 2 and 4 hops", [chains], quick=quick)
    plot = Plot("Chain latency p99 by hops, at half capacity", "hops", "p99 (ms)")
    figures: dict = {"target_ms": _P99_TARGET_MS, "rows": []}
    for placement in ("market", "asset"):
        flat = measure(_config(messages=messages, placement=placement), progress)  # the capacity halved below
        rate = round(flat.throughput / 2, 1)
        figures.setdefault("capacity", {})[placement] = flat.throughput
        runs: list[tuple[str, int, RunConfig]] = [
            ("implied quotes", 1, _config(messages=messages, placement=placement, rate=rate))
        ]
        runs += [
            ("relays, 0.2/msg", hops, _config(messages=messages, placement=placement, rate=rate,
                                               update_load=0.2, update_hops=hops))
            for hops in hop_counts
        ]  # fmt: skip
        for label, hops, config in runs:
            stats = measure(config, progress)
            actor = stats.actor
            latency = (
                actor.chain_latency_ms.get(hops) if label != "implied quotes" else actor.update_latency_ms
            )
            if latency is None:
                continue
            direct = _direct_call_us(hops)
            chains.add(placement, label, hops, rate, actor.updates_sent, _ms(latency.p50), _ms(latency.p95),
                       _ms(latency.p99), round(direct, 3),
                       round(latency.p50 * 1e3 / direct, 1) if direct else 0.0)  # fmt: skip
            if label != "implied quotes":
                plot.add(placement, hops, latency.p99)
            figures["rows"].append(
                {"placement": placement, "kind": label, "hops": hops, "p50_ms": latency.p50,
                 "p99_ms": latency.p99, "direct_us": direct}
            )  # fmt: skip
    report.plots.append(plot)
    report.findings += hop_latency_findings(figures)
    domain = {row["placement"]: row for row in figures["rows"] if row["kind"] == "implied quotes"}
    longest = max(hop_counts)
    relay = {
        row["placement"]: row
        for row in figures["rows"]
        if row["hops"] == longest and row["kind"] != "implied quotes"
    }
    report.headline = {
        "quote_p99_ms_market": round(domain["market"]["p99_ms"], 2),
        "quote_p99_ms_asset": round(domain["asset"]["p99_ms"], 2),
        f"hops{longest}_p99_ms_asset": round(relay["asset"]["p99_ms"], 2),
    }
    return report


def hop_latency_findings(figures: dict) -> list[str]:
    """5.1's conclusions. ``figures``: ``target_ms`` and ``rows`` of
    ``placement``, ``kind``, ``hops``, ``p50_ms``, ``p99_ms``, ``direct_us``."""
    rows, target = figures["rows"], figures["target_ms"]
    findings = []
    domain = {row["placement"]: row for row in rows if row["kind"] == "implied quotes"}
    for placement, row in domain.items():
        verdict = "within" if row["p99_ms"] < target else "over"
        findings.append(
            f"At half capacity with placement {placement}, an implied quote reached its complement in "
            f"{row['p50_ms']:.3f} ms at p50 and {row['p99_ms']:.2f} ms at p99: {verdict} the {target:g} ms target."
        )
    if "market" in domain and "asset" in domain and domain["market"]["p50_ms"] > 0:
        ratio = domain["asset"]["p50_ms"] / domain["market"]["p50_ms"]
        findings.append(
            f"Crossing processes made the median quote {ratio:.0f}x slower than staying inside one: in-process it "
            "is a mailbox append and the next turn; across, it waits for the sender's reply, the coordinator's "
            "next frame to the target, and that frame's turn."
        )
    relays = sorted(
        (row for row in rows if row["kind"] != "implied quotes"), key=lambda r: (r["placement"], r["hops"])
    )
    for placement in ("market", "asset"):
        chain = [row for row in relays if row["placement"] == placement]
        if len(chain) >= 2 and chain[0]["p50_ms"] > 0:
            first, last = chain[0], chain[-1]
            growth = last["p50_ms"] / first["p50_ms"]
            per_hop = growth / (last["hops"] / first["hops"])
            shape = (
                "about linear in hops" if 1 - 3 * _SAME_WITHIN <= per_hop <= 1 + 3 * _SAME_WITHIN
                else ("faster than linear: later hops wait longer" if per_hop > 1 else
                      "slower than linear: hops in one turn share the wait")
            )  # fmt: skip
            findings.append(
                f"Placement {placement}: {last['hops']} hops took {last['p50_ms']:.3f} ms at p50 against "
                f"{first['p50_ms']:.3f} ms for {first['hops']} ({growth:.1f}x, {shape}); a direct call doing the "
                f"same {last['hops']} steps takes {last['direct_us']:.2f} µs."
            )
    return findings


# --------------------------------------------------------------------- 5.2


def causal_order(quick: bool, progress: Progress) -> Report:
    """5.2: a reordering network, with and without the causal buffer."""
    messages = 3000 if quick else 20_000
    table = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, placement asset (updates cross "
        "processes), flat out",
        ["network", "delivery", "updates sent", "held back", "causal violations", "stale quotes at end",
         "same books as sync", "update p50 (ms)", "update p99 (ms)", "msg/s"],
    )  # fmt: skip
    report = Report("5.2", "Causal consistency under reordered delivery", [table], quick=quick)
    sync = measure(phase_config(1, RunConfig(seed=_SEED, assets=_ASSETS, messages=messages)), progress)
    figures: dict = {"rows": []}
    for network, reorder, delivery in (
        ("in order", False, "causal"),
        ("reordered", True, "causal"),
        ("reordered", True, "arrival"),
    ):
        stats = measure(
            _config(messages=messages, placement="asset", reorder_updates=reorder, delivery=delivery),
            progress,
        )
        actor = stats.actor
        same = stats.digest == sync.digest
        table.add(network, delivery, actor.updates_sent, actor.updates_buffered, actor.causal_violations,
                  actor.stale_quotes_at_end, "yes" if same else "NO", _ms(actor.update_latency_ms.p50),
                  _ms(actor.update_latency_ms.p99), round(stats.throughput, 1))  # fmt: skip
        figures["rows"].append(
            {"network": network, "delivery": delivery, "sent": actor.updates_sent,
             "held": actor.updates_buffered, "violations": actor.causal_violations,
             "stale": actor.stale_quotes_at_end, "same_books": same, "p50_ms": actor.update_latency_ms.p50}
        )  # fmt: skip
    report.findings += causal_order_findings(figures)
    rows = {(r["network"], r["delivery"]): r for r in figures["rows"]}
    report.headline = {
        "held_back_reordered": rows["reordered", "causal"]["held"],
        "violations_reordered_causal": rows["reordered", "causal"]["violations"],
        "violations_reordered_arrival": rows["reordered", "arrival"]["violations"],
    }
    return report


def causal_order_findings(figures: dict) -> list[str]:
    """5.2's conclusions. ``figures["rows"]``: ``network``, ``delivery``,
    ``sent``, ``held``, ``violations``, ``stale``, ``same_books``, ``p50_ms``."""
    rows = {(r["network"], r["delivery"]): r for r in figures["rows"]}
    findings = []
    calm, buffered, bare = (
        rows["in order", "causal"],
        rows["reordered", "causal"],
        rows["reordered", "arrival"],
    )
    if calm["held"] == 0:
        findings.append(
            f"In order, no update of {calm['sent']:,} had to wait: each sender's updates travel one FIFO path "
            "(its worker's replies, the coordinator, the target's frames), so causal order came for free."
        )
    else:
        findings.append(
            f"Even in order, {calm['held']:,} of {calm['sent']:,} updates arrived before a causal predecessor "
            "and were held back: two paths into one actor (its own worker's and the coordinator's) can cross."
        )
    if buffered["violations"] == 0 and buffered["held"] > 0:
        findings.append(
            f"With the network reordering, the buffer held back {buffered['held']:,} updates until their "
            f"predecessors came, and causal violations stayed at 0 ({buffered['stale']} stale quotes at the end)."
        )
    elif buffered["violations"]:
        findings.append(
            f"With the network reordering, the causal buffer still let {buffered['violations']:,} violations "
            "through: a bug, since a matrix clock should stop every one."
        )
    else:
        findings.append("The shuffle reordered nothing that mattered: the buffer held nothing back.")
    if bare["violations"]:
        stale = (
            f"and {bare['stale']} tokens ended the run holding a quote older than their complement's final book"
            if bare["stale"] else "though every token's last quote happened to arrive last"
        )  # fmt: skip
        findings.append(
            f"Applied as they arrived, the same reordering broke causal order {bare['violations']:,} times, {stale}. "
            "The books themselves stayed right: " + ("every run kept sync's books" if all(
                r["same_books"] for r in rows.values()) else "yet some run's books differ from sync's") +
            ", since updates never touch book levels."
        )  # fmt: skip
    else:
        findings.append("Applied as they arrived, the reordered updates broke nothing this run.")
    if calm["p50_ms"] > 0:
        ratio = buffered["p50_ms"] / calm["p50_ms"]
        if ratio > 1 + _LATENCY_SAME_WITHIN:
            findings.append(
                f"Holding updates back cost latency: the median update took {ratio:.2f}x as long."
            )
        else:
            findings.append(
                f"Holding updates back cost no latency that shows: the median update took {ratio:.2f}x the "
                "in-order run's, within the noise of a flat-out run's queues (a held update waits only for a "
                "predecessor that is already on its way, usually in the same frame)."
            )
    return findings


# --------------------------------------------------------------------- 5.3


def cycle(quick: bool, progress: Progress) -> Report:
    """5.3: a relay that bounces A -> B -> A forever, stopped by --max-hops."""
    messages = 1000 if quick else 10_000
    bounds = [2, 8] if quick else [2, 4, 8, 16]
    repeats = 1 if quick else 3
    table = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, placement asset, one endless relay "
        f"per 10 messages (--update-load 0.1 --update-hops 0); msg/s the median of {repeats} run(s)",
        ["max hops", "chains started", "chains stopped", "updates sent", "updates per chain", "drain rounds",
         "msg/s", "ended"],
    )  # fmt: skip
    report = Report("5.3", "A cycle between two books", [table], quick=quick)
    figures: dict = {"rows": []}
    for bound in bounds:
        config = _config(messages=messages, placement="asset", update_load=0.1, update_hops=0, max_hops=bound)
        stats = _median_run(config, progress, repeats)
        actor = stats.actor
        started = actor.hops.get(1, 0)
        table.add(bound, started, actor.cycles_stopped, actor.updates_sent,
                  round(actor.updates_sent / started, 2) if started else 0.0, actor.drain_rounds,
                  round(stats.throughput, 1), "yes")  # fmt: skip
        figures["rows"].append(
            {"max_hops": bound, "started": started, "stopped": actor.cycles_stopped, "sent": actor.updates_sent,
             "rounds": actor.drain_rounds, "throughput": stats.throughput}
        )  # fmt: skip
    report.findings += cycle_findings(figures)
    last = figures["rows"][-1]
    report.headline = {
        "chains_stopped": last["stopped"],
        "updates_per_chain": round(last["sent"] / last["started"], 2),
    }
    return report


def cycle_findings(figures: dict) -> list[str]:
    """5.3's conclusions. ``figures["rows"]``: ``max_hops``, ``started``,
    ``stopped``, ``sent``, ``rounds``, ``throughput``."""
    rows = figures["rows"]
    findings = []
    every = all(r["stopped"] == r["started"] for r in rows)
    exact = all(r["sent"] == r["started"] * r["max_hops"] for r in rows)
    if every:
        findings.append(
            "Every chain started was stopped by --max-hops and counted ("
            + ", ".join(f"{r['stopped']:,} at {r['max_hops']}" for r in rows)
            + "); every run ended, its drain taking at most "
            + f"{max(r['rounds'] for r in rows)} rounds."
        )
    else:
        lost = [r for r in rows if r["stopped"] != r["started"]]
        findings.append(
            f"{len(lost)} run(s) stopped fewer chains than they started (e.g. {lost[0]['stopped']:,} of "
            f"{lost[0]['started']:,} at max hops {lost[0]['max_hops']}): updates dropped on the way ended those "
            "chains early."
        )
    bounds = ", ".join(f"{r['sent'] / max(r['started'], 1):.0f} at {r['max_hops']}" for r in rows)
    findings.append(
        f"A cycle's cost is exactly its bound: each chain sent max-hops updates ({bounds})."
        if exact
        else f"Updates per chain fell short of the bound where updates were dropped ({bounds})."
    )
    first, last = rows[0], rows[-1]
    if first["throughput"] > 0:
        ratio = last["throughput"] / first["throughput"]
        more = last["sent"] / max(first["sent"], 1)
        if ratio < 1 - _SAME_WITHIN:
            cost = (
                f"throughput fell to {ratio:.2f}x: a bound that is too generous is paid for by every cycle, so keep "
                "it near the longest legitimate chain (2 here: a quote, then an opportunity)"
            )
        else:
            cost = (
                f"throughput moved by {ratio:.2f}x, within noise (±10%): at one cycle per ten messages the extra "
                "hops fit in the workers' idle time; the bound matters when cycles are common"
            )
        findings.append(
            f"Raising the bound from {first['max_hops']} to {last['max_hops']} hops multiplied the updates by "
            f"{more:.1f}x and {cost}."
        )
    return findings


# --------------------------------------------------------------------- 5.4


def update_cost(quick: bool, progress: Progress) -> Report:
    """5.4: throughput with no updates, half, natural and five per message."""
    messages = 3000 if quick else 30_000
    loads: list[float | None] = [0.0, 5.0] if quick else [0.0, None, 0.5, 5.0]
    repeats = 1 if quick else 3
    table = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, flat out; each row the median "
        f"throughput of {repeats} run(s)",
        ["placement", "updates per message", "updates sent", "via coordinator", "msg/s", "vs no updates (x)",
         "update p99 (ms)", "worker busy (%)", "crossings reported"],
    )  # fmt: skip
    report = Report("5.4", "Throughput vs updates per message", [table], quick=quick)
    plot = Plot("Throughput vs updates per message", "updates per message", "msg/s")
    phase3 = measure(
        phase_config(3, RunConfig(seed=_SEED, assets=_ASSETS, messages=messages, processes=_PROCESSES)),
        progress,
    )
    phase3_busy = 100 * sum(w.busy_share for w in phase3.pool.workers) / len(phase3.pool.workers)
    figures: dict = {"phase3": phase3.throughput, "phase3_busy": phase3_busy, "rows": []}
    for placement in ("market", "asset"):
        base = None
        for load in loads:
            stats = _median_run(
                _config(messages=messages, placement=placement, update_load=load), progress, repeats
            )
            actor = stats.actor
            per_message = actor.updates_sent / stats.processed if stats.processed else 0.0
            base = base or stats.throughput
            busy = 100 * sum(w.busy_share for w in stats.pool.workers) / len(stats.pool.workers)
            label = "quotes (natural)" if load is None else f"{load:g}"
            table.add(placement, label, actor.updates_sent, actor.updates_via_coordinator,
                      round(stats.throughput, 1), round(stats.throughput / base, 2),
                      _ms(actor.update_latency_ms.p99), round(busy, 1), actor.opportunities)  # fmt: skip
            plot.add(placement, per_message, stats.throughput)
            figures["rows"].append(
                {"placement": placement, "load": load, "per_message": per_message, "throughput": stats.throughput,
                 "via": actor.updates_via_coordinator, "busy": busy, "crossings": actor.opportunities}
            )  # fmt: skip
    report.plots.append(plot)
    report.findings += update_cost_findings(figures)
    rows = {(r["placement"], r["load"]): r for r in figures["rows"]}
    report.headline = {
        "five_per_msg_vs_none_market_x": round(
            rows["market", 5.0]["throughput"] / rows["market", 0.0]["throughput"], 2
        ),
        "five_per_msg_vs_none_asset_x": round(
            rows["asset", 5.0]["throughput"] / rows["asset", 0.0]["throughput"], 2
        ),
        "actor_vs_phase3_x": round(rows["market", 0.0]["throughput"] / figures["phase3"], 2),
    }
    return report


def update_cost_findings(figures: dict) -> list[str]:
    """5.4's conclusions. ``figures``: ``phase3`` (msg/s) and ``rows`` of
    ``placement``, ``load`` (None = natural), ``per_message``,
    ``throughput``, ``via``, ``busy``."""
    rows = {(r["placement"], r["load"]): r for r in figures["rows"]}
    findings = []
    none = rows["market", 0.0]
    ratio = none["throughput"] / figures["phase3"] if figures["phase3"] else 1.0
    busy = f"its workers were busy {none['busy']:.0f}% of the run against phase 3's {figures['phase3_busy']:.0f}%"
    if abs(ratio - 1) <= _SAME_WITHIN:
        actors = f"no different from phase 3 (within noise, ±10%); {busy}, and the dispatcher's parsing still set the pace"
    elif ratio < 1:
        why = (
            "on this machine's cores the workers' extra CPU (mailboxes, turns, cutting each message in two) is "
            "taken from the dispatcher, which sets the pace"
            if none["busy"] > figures["phase3_busy"]
            else "the extra cost is in the dispatcher itself"
        )
        actors = f"{1 / ratio:.2f}x slower than phase 3: {busy}; {why}"
    else:
        actors = f"{ratio:.2f}x phase 3's, a difference this shared machine's noise can make ({busy})"
    findings.append(f"With no updates at all the actor engine ran {actors}.")
    for placement in ("market", "asset"):
        zero, five = rows.get((placement, 0.0)), rows.get((placement, 5.0))
        if not zero or not five or not zero["throughput"]:
            continue
        change = five["throughput"] / zero["throughput"]
        if change >= 1 - _SAME_WITHIN:
            effect = "throughput held (within noise, ±10%): the workers had idle time to spend on updates"
        else:
            where = (
                "and every update crossed the coordinator, which is also the dispatcher"
                if five["via"]
                else "all of them inside the workers"
            )
            effect = f"throughput fell to {change:.2f}x, {where}"
        findings.append(
            f"Placement {placement}: five updates per message ({five['per_message']:.1f} measured) -> {effect}."
        )
    natural = rows.get(("market", None))
    if natural:
        findings.append(
            f"The domain's own traffic is light: implied quotes go out only when a top changes, "
            f"{natural['per_message']:.2f} per message on this stream."
        )
    spread = rows.get(("asset", None))
    if natural and spread:
        together, apart = natural["crossings"], spread["crossings"]
        if apart > together:
            why = (
                f"spread across processes the tokens reported {apart:,}, against {together:,} side by side: a "
                "quote through the coordinator is older than the book it is judged against, and a book compared "
                "with its complement's past crosses it for a moment"
            )
        else:
            why = (
                f"spread across processes the tokens reported {apart:,}, side by side {together:,}: the quotes "
                "through the coordinator were not late enough to tear the view"
            )
        findings.append(
            "The simulator's two books are exact mirrors, so every crossing reported is a phantom: "
            f"{why}. Side by side, what is left are the feed's own moments between one token's new snapshot and "
            "its complement's."
        )
    return findings


# --------------------------------------------------------------------- 5.5


def slow_actor(quick: bool, progress: Progress) -> Report:
    """5.5: one actor made slow; who else pays?"""
    messages = 2000 if quick else 20_000
    slow_ms = 0.5 if quick else 1.0
    table = Table(
        f"{messages:,} messages, {_ASSETS} assets, {_PROCESSES} workers, flat out; the busiest asset's actor "
        f"spends {slow_ms:g} ms more CPU per message",
        ["placement", "slow actor", "msg/s", "vs without (x)", "msg latency p99 (ms)", "dispatcher waits",
         "slow: mailbox high water", "others: mailbox high water", "slow: updates dropped",
         "others: updates dropped", "update p99 (ms)"],
    )  # fmt: skip
    report = Report("5.5", "One slow actor", [table], quick=quick)
    probe = measure(_config(messages=messages), progress)
    slow = max(probe.actor.busiest, key=lambda t: (t.applied, t.asset)).asset if probe.actor.busiest else None
    figures: dict = {"rows": [], "slow_ms": slow_ms}
    for placement in ("market", "asset"):
        without = None
        for slowed in (False, True):
            config = _config(messages=messages, placement=placement, update_queue_size=64,
                             slow_asset=slow if slowed else None, slow_ms=slow_ms)  # fmt: skip
            stats = measure(config, progress)
            actor = stats.actor
            without = without or stats.throughput
            others = [t for t in actor.tallies if t.asset != slow]
            mine = actor.slow_asset
            row = {
                "placement": placement, "slowed": slowed, "throughput": stats.throughput,
                "vs": stats.throughput / without, "p99_ms": stats.latency_ms.p99,
                "waits": stats.pool.ipc.full_waits,
                "slow_hw": mine.market_high_water if mine else 0,
                "others_hw": max((t.market_high_water for t in others), default=0),
                "slow_dropped": mine.dropped if mine else 0,
                "others_dropped": actor.updates_dropped - (mine.dropped if mine else 0),
                "update_p99_ms": actor.update_latency_ms.p99,
            }  # fmt: skip
            table.add(placement, "yes" if slowed else "no", round(row["throughput"], 1), round(row["vs"], 2),
                      _ms(row["p99_ms"]), row["waits"], row["slow_hw"], row["others_hw"], row["slow_dropped"],
                      row["others_dropped"], _ms(row["update_p99_ms"]))  # fmt: skip
            figures["rows"].append(row)
    report.findings += slow_actor_findings(figures)
    rows = {(r["placement"], r["slowed"]): r for r in figures["rows"]}
    report.headline = {
        "slow_vs_without_market_x": round(rows["market", True]["vs"], 2),
        "slow_vs_without_asset_x": round(rows["asset", True]["vs"], 2),
    }
    return report


def slow_actor_findings(figures: dict) -> list[str]:
    """5.5's conclusions. ``figures``: ``slow_ms`` and ``rows`` of
    ``placement``, ``slowed``, ``throughput``, ``vs`` (throughput over the
    run without), ``p99_ms``, ``waits``, ``slow_hw``, ``others_hw``,
    ``slow_dropped``, ``others_dropped``, ``update_p99_ms``."""
    rows = {(r["placement"], r["slowed"]): r for r in figures["rows"]}
    findings = []
    for placement in ("market", "asset"):
        before, after = rows[placement, False], rows[placement, True]
        if after["vs"] >= 1 - _CONTAINED_WITHIN:
            spread = f"throughput stayed at {after['vs']:.2f}x the run without it: the slowness was contained"
        else:
            spread = (
                f"throughput fell to {after['vs']:.2f}x and message latency p99 went from {before['p99_ms']:.2f} to "
                f"{after['p99_ms']:.2f} ms: the slowness spread to every asset, because a worker runs its actors "
                "one turn at a time and answers a frame only when all of it is applied, so the dispatcher "
                f"waited on the slow worker's queue ({after['waits']:,} waits, {before['waits']:,} without)"
            )
        findings.append(f"Placement {placement}, {figures['slow_ms']:g} ms slower actor: {spread}.")
    drops = [(p, rows[p, True]) for p in ("market", "asset")]
    if all(row["others_dropped"] == 0 for _, row in drops):
        if any(row["slow_dropped"] for _, row in drops):
            findings.append(
                "Update mailboxes kept the damage local: only the slow actor's mailbox overflowed "
                + ", ".join(f"({row['slow_dropped']:,} dropped, placement {p})" for p, row in drops)
                + "; no other actor lost an update."
            )
        else:
            deepest = max(max(row["slow_hw"], row["others_hw"]) for _, row in drops)
            findings.append(
                "No update mailbox overflowed, the slow actor's included: each worker empties every mailbox "
                f"before it answers a frame, so a mailbox holds at most one frame's worth (the deepest held {deepest})."
            )
    else:
        findings.append(
            "Other actors lost updates too ("
            + ", ".join(f"{row['others_dropped']:,} with placement {p}" for p, row in drops)
            + "): the slowness spread to their mailboxes."
        )
    return findings


EXPERIMENTS = (
    Experiment("5.1", "Update latency over 1, 2 and 4 hops",
               "How long does an update take to reach its complement, and a chain of them, against a direct "
               "call?", hop_latency),
    Experiment("5.2", "Causal consistency under reordered delivery",
               "When the network reorders updates, does the causal buffer keep every actor consistent, and "
               "what breaks without it?", causal_order),
    Experiment("5.3", "A cycle between two books",
               "Does a relay bouncing A -> B -> A end, and what does the hop bound cost?", cycle),
    Experiment("5.4", "Throughput vs updates per message",
               "What do updates between books cost the stream, inside a worker and across processes?",
               update_cost),
    Experiment("5.5", "One slow actor",
               "Does one slow actor slow the others, or is its backpressure contained?", slow_actor),
)  # fmt: skip
