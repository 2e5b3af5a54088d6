"""Lesson 5's experiments: registered, quick runs shaped as the lesson
reads them, and findings that follow their figures (contrasting figures
flip each conclusion)."""

from __future__ import annotations

from orderbook_lab.experiments import EXPERIMENTS
from orderbook_lab.experiments.phase5 import (
    causal_order_findings,
    cycle_findings,
    hop_latency_findings,
    slow_actor_findings,
    update_cost_findings,
)


def _column(table, name: str) -> list:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


def test_phase5_experiments_are_all_registered():
    assert [e for e in EXPERIMENTS if e.startswith("5.")] == ["5.1", "5.2", "5.3", "5.4", "5.5"]


def test_quick_runs_measure_what_the_lesson_quotes(quick_reports):
    hops = quick_reports["5.1"].tables[0]
    assert set(_column(hops, "placement")) == {"market", "asset"}
    assert all(
        p99 >= p50
        for p50, p99 in zip(_column(hops, "latency p50 (ms)"), _column(hops, "latency p99 (ms)"), strict=True)
    )
    causal = {(row[0], row[1]): row for row in quick_reports["5.2"].tables[0].rows}
    table = quick_reports["5.2"].tables[0]
    violations = table.columns.index("causal violations")
    assert causal["reordered", "causal"][violations] == 0  # the buffer's whole job
    cycle = quick_reports["5.3"].tables[0]
    assert _column(cycle, "chains started") == _column(cycle, "chains stopped")
    assert set(quick_reports["5.4"].headline) >= {"five_per_msg_vs_none_market_x", "actor_vs_phase3_x"}
    assert set(quick_reports["5.5"].headline) == {"slow_vs_without_market_x", "slow_vs_without_asset_x"}


def _hop_rows(asset_p99: float) -> dict:
    return {
        "target_ms": 10.0,
        "rows": [
            {"placement": "market", "kind": "implied quotes", "hops": 1, "p50_ms": 0.02, "p99_ms": 0.2, "direct_us": 0.5},
            {"placement": "asset", "kind": "implied quotes", "hops": 1, "p50_ms": 0.6, "p99_ms": asset_p99, "direct_us": 0.5},
            {"placement": "asset", "kind": "relays", "hops": 1, "p50_ms": 0.5, "p99_ms": 1.0, "direct_us": 0.5},
            {"placement": "asset", "kind": "relays", "hops": 4, "p50_ms": 2.0, "p99_ms": 4.0, "direct_us": 2.0},
        ],
    }  # fmt: skip


def test_hop_latency_findings_follow_the_target_and_the_shape():
    within = hop_latency_findings(_hop_rows(asset_p99=1.8))
    over = hop_latency_findings(_hop_rows(asset_p99=12.0))
    assert "within the 10 ms target" in within[1] and "over the 10 ms target" in over[1]
    assert any("about linear in hops" in f for f in within)


def _causal(held_in_order: int, held: int, violations: int, bare: int) -> dict:
    def row(network, delivery, held, violations):
        return {"network": network, "delivery": delivery, "sent": 600, "held": held, "violations": violations,
                "stale": 0, "same_books": True, "p50_ms": 3.0}  # fmt: skip

    return {"rows": [row("in order", "causal", held_in_order, 0), row("reordered", "causal", held, violations),
                     row("reordered", "arrival", 0, bare)]}  # fmt: skip


def test_causal_order_findings_flip():
    good = causal_order_findings(_causal(0, 90, 0, 170))
    assert "came for free" in good[0] and "stayed at 0" in good[1] and "broke causal order 170" in good[2]
    assert "no latency that shows" in good[3]
    bad = causal_order_findings(_causal(5, 90, 3, 0))
    assert "held back" in bad[0] and "a bug" in bad[1] and "broke nothing" in bad[2]


def test_cycle_findings_flip():
    def rows(stopped_last: int, throughput_last: float) -> dict:
        return {"rows": [
            {"max_hops": 2, "started": 90, "stopped": 90, "sent": 180, "rounds": 3, "throughput": 15000.0},
            {"max_hops": 8, "started": 90, "stopped": stopped_last, "sent": 720, "rounds": 9,
             "throughput": throughput_last},
        ]}  # fmt: skip

    whole = cycle_findings(rows(90, 14800.0))
    assert whole[0].startswith("Every chain") and "within noise" in whole[2]
    broken = cycle_findings(rows(80, 9000.0))
    assert "fewer chains" in broken[0] and "too generous" in broken[2]


def test_update_cost_findings_flip():
    def figures(asset_five: float, phase3: float, crossings: int = 40) -> dict:
        return {"phase3": phase3, "phase3_busy": 8.0, "rows": [
            {"placement": "market", "load": None, "per_message": 0.2, "throughput": 20000.0, "via": 0, "busy": 10.0,
             "crossings": 2},
            {"placement": "asset", "load": None, "per_message": 0.2, "throughput": 15000.0, "via": 9, "busy": 10.0,
             "crossings": crossings},
            {"placement": "market", "load": 0.0, "per_message": 0.0, "throughput": 20000.0, "via": 0, "busy": 10.0},
            {"placement": "market", "load": 5.0, "per_message": 5.0, "throughput": 19500.0, "via": 0, "busy": 30.0},
            {"placement": "asset", "load": 0.0, "per_message": 0.0, "throughput": 20000.0, "via": 0, "busy": 10.0},
            {"placement": "asset", "load": 5.0, "per_message": 5.0, "throughput": asset_five, "via": 100, "busy": 20.0},
        ]}  # fmt: skip

    cheap = update_cost_findings(figures(19000.0, 20500.0))
    assert "no different from phase 3" in cheap[0] and "held" in cheap[2]
    assert "older than the book" in cheap[-1]
    assert "not late enough" in update_cost_findings(figures(19000.0, 20500.0, crossings=1))[-1]
    dear = update_cost_findings(figures(12000.0, 30000.0))
    assert "slower than phase 3" in dear[0] and "taken from the dispatcher" in dear[0]
    assert "fell to 0.60x" in dear[2] and "coordinator" in dear[2]


def test_slow_actor_findings_flip():
    def figures(vs: float, others_dropped: int) -> dict:
        rows = []
        for placement in ("market", "asset"):
            rows.append({"placement": placement, "slowed": False, "throughput": 20000.0, "vs": 1.0, "p99_ms": 5.0,
                         "waits": 0, "slow_hw": 0, "others_hw": 10, "slow_dropped": 0, "others_dropped": 0,
                         "update_p99_ms": 1.0})  # fmt: skip
            rows.append({"placement": placement, "slowed": True, "throughput": 20000.0 * vs, "vs": vs,
                         "p99_ms": 20.0, "waits": 30, "slow_hw": 12, "others_hw": 10, "slow_dropped": 5,
                         "others_dropped": others_dropped, "update_p99_ms": 2.0})  # fmt: skip
        return {"slow_ms": 1.0, "rows": rows}

    contained = slow_actor_findings(figures(0.97, 0))
    assert "contained" in contained[0] and "kept the damage local" in contained[2]
    spread = slow_actor_findings(figures(0.6, 7))
    assert "spread to every asset" in spread[0] and "lost updates too" in spread[2]
