"""Lesson 7's experiments: registered, quick runs shaped as the lesson
reads them, and findings that follow their figures (contrasting figures
flip each conclusion). No speed is asserted."""

from __future__ import annotations

from itertools import pairwise

from orderbook_lab.experiments import EXPERIMENTS
from orderbook_lab.experiments.phase7 import (
    _breaker_delays,
    _direction_changes,
    degradation_findings,
    failing_worker_findings,
    littles_law_findings,
    priority_shedding_findings,
    ramp_findings,
)


def test_phase7_experiments_are_all_registered():
    assert [e for e in EXPERIMENTS if e.startswith("7.")] == ["7.1", "7.2", "7.3", "7.4", "7.5"]


def test_quick_runs_measure_what_the_lesson_quotes(quick_reports):
    assert set(quick_reports["7.1"].headline) == {
        "p99_ms_ramp_phase7",
        "p99_ms_ramp_phase6",
        "capacity_lowest_target25",
    }
    assert set(quick_reports["7.2"].headline) == {
        "open_after_fault_s",
        "closed_after_fault_s",
        "lost_breaker_open",
    }
    assert "snapshots_shed_zipf" in quick_reports["7.3"].headline
    assert "exact_vs_lw_error_pct_max" in quick_reports["7.4"].headline
    assert "p99_ms_150pct_phase7" in quick_reports["7.5"].headline
    for experiment_id in ("7.1", "7.2", "7.5"):
        assert quick_reports[experiment_id].plots
    # Every run counts every message: generated = processed + dropped + invalid.
    for experiment_id in ("7.1", "7.3", "7.5"):
        for table in quick_reports[experiment_id].tables:
            if "conserved" in table.columns:
                index = table.columns.index("conserved")
                assert {row[index] for row in table.rows} == {"yes"}


def test_direction_changes_count_turns_not_steps():
    assert _direction_changes([64, 64, 48, 36, 27, 27]) == 0
    assert _direction_changes([64, 48, 60, 45, 56]) == 3
    assert _direction_changes([]) == 0


def _ramp(worker_caps: list[int], p99_ms: float, phase6_p99_ms: float) -> dict:
    turns = _direction_changes(worker_caps)
    workers = [
        {"worker": w, "start": 64, "end": worker_caps[-1], "lowest": min(worker_caps), "turns": turns,
         "changes": sum(a != b for a, b in pairwise(worker_caps))}
        for w in (0, 1)
    ]  # fmt: skip
    return {
        "capacity": 1400.0,
        "over_from_s": 12.9,
        "runs": [
            {"label": "phase 7", "target_ms": 100.0, "throughput": 1000.0, "p50_ms": 10.0, "p99_ms": p99_ms,
             "lag_p99_ms": 1.0, "shed": 2000, "conserved": True, "workers": workers},
            {"label": "phase 6 fixed", "target_ms": None, "throughput": 1000.0, "p50_ms": 10.0,
             "p99_ms": phase6_p99_ms, "lag_p99_ms": 5000.0, "shed": 0, "conserved": True, "workers": []},
        ],
    }  # fmt: skip


def test_ramp_findings_flip():
    held = ramp_findings(_ramp([64, 64, 64], p99_ms=120.0, phase6_p99_ms=5000.0))
    assert "never moved from 64" in held[0] and "within 3x the target" in held[0]
    assert "paid in time" in held[1]
    converged = ramp_findings(_ramp([64, 48, 36, 36], p99_ms=120.0, phase6_p99_ms=5000.0))
    assert "converged" in converged[0] and "settled at 36/36" in converged[0]
    hunting = ramp_findings(_ramp([64, 48, 60, 45, 56, 42], p99_ms=400.0, phase6_p99_ms=150.0))
    assert "oscillated" in hunting[0] and "over 3x the target" in hunting[0]
    assert "about as well" in hunting[1]


def _fault(transitions: list[tuple[float, str]], dropped: dict[str, int] | None = None) -> dict:
    return {
        "window": (3.0, 6.0),
        "transitions": [{"t_s": t, "state": s, "reason": "r"} for t, s in transitions],
        "dropped": dropped if dropped is not None else {"breaker_open": 900, "worker_fault": 200},
        "generated": 8000,
        "conserved": True,
        "p99_ms": 40.0,
    }


def test_breaker_delays():
    quick = [(3.5, "open"), (4.5, "half-open"), (4.5, "open"), (5.5, "half-open"), (5.5, "open"),
             (6.5, "half-open"), (6.52, "closed")]  # fmt: skip
    opened, closed = _breaker_delays(_fault(quick)["transitions"], (3.0, 6.0))
    assert round(opened, 2) == 0.5 and round(closed, 2) == 0.52
    assert _breaker_delays([], (3.0, 6.0)) == (None, None)
    assert _breaker_delays(_fault([(3.5, "open")])["transitions"], (3.0, 6.0))[1] is None


def test_failing_worker_findings_flip():
    fast = failing_worker_findings(_fault([(3.5, "open"), (4.5, "half-open"), (4.5, "open"),
                                           (6.5, "half-open"), (6.52, "closed")]))  # fmt: skip
    assert "within the 2 s target" in fast[0] and "opened 2 times" in fast[0]
    assert "within the 5 s target" in fast[1]
    assert "every one counted" in fast[2] and "shed 900" in fast[3]
    slow = failing_worker_findings(_fault([(5.5, "open"), (12.0, "half-open"), (12.1, "closed")]))
    assert "later than the 2 s target" in slow[0] and "opened once" in slow[0]
    assert "later than the 5 s target" in slow[1]
    never = failing_worker_findings(_fault([], dropped={"worker_fault": 1500}))
    assert "never opened" in never[0]
    assert not any("at the door" in f for f in never)


def _shedding(snapshot_shed: int, hot_shed: int, wiped: bool) -> dict:
    hot = "hot"
    assets = {hot: {"stream": 6000, "shed": hot_shed}, "quiet": {"stream": 40, "shed": 40 if wiped else 10}}
    return {
        "runs": [
            {"popularity": "zipf", "phase": 7, "generated": 10_000, "shed": 5000, "p99_ms": 90.0,
             "lag_p99_ms": 1.0, "conserved": True,
             "stream_by_priority": {"snapshot": 500, "change": 8000, "trade": 1500},
             "shed_by_priority": {"snapshot": snapshot_shed, "change": 3600, "trade": 1400 - snapshot_shed},
             "assets": assets, "hot": hot, "shed_from": 12, "fifth_most_shed": 10, "quietest_stream": 40,
             "stream_total": 10_000},
            {"popularity": "zipf", "phase": 6, "generated": 10_000, "shed": 0, "p99_ms": 9000.0,
             "lag_p99_ms": 8000.0, "conserved": True},
        ]
    }  # fmt: skip


def test_priority_shedding_findings_flip():
    good = priority_shedding_findings(_shedding(snapshot_shed=0, hot_shed=4000, wiped=False))
    assert "each priority lost no more" in good[0] and "snapshots 0.0%" in good[0]
    assert "more than its share" in good[1]
    assert "No asset lost everything" in good[2]
    assert "Phase 6" in good[3] and "dropped 0" in good[3]
    bad = priority_shedding_findings(_shedding(snapshot_shed=400, hot_shed=1000, wiped=True))
    assert "did NOT hold" in bad[0]
    assert "about its share or less" in bad[1]
    assert "lost every message" in bad[2]


def _little(sampled: float, exact_error: float = 0.0) -> dict:
    return {"rows": [{"load": 0.3, "lambda": 450.0, "w_ms": 1.6, "lw": 0.72, "l_exact": 0.72, "l_sampled": sampled,
                      "sampled_error": abs(sampled - 0.72) / max(sampled, 0.72), "exact_error": exact_error}]}  # fmt: skip


def test_littles_law_findings_flip():
    agree = littles_law_findings(_little(0.75))
    assert "within 15%" in agree[0] and "by construction" in agree[1]
    biased = littles_law_findings(_little(1.12))
    assert "outside 15%" in biased[0] and "+0.40 messages" in biased[0]
    apart = littles_law_findings(_little(5.0, exact_error=0.2))
    assert "outside 15%" in apart[0] and "messages:" not in apart[0]
    assert "had not drained" in apart[1]


def _degradation(phase7_at_2x: float, phase7_p99_at_15: float) -> dict:
    def row(phase, load, throughput, p99):
        return {"phase": phase, "load": load, "throughput": throughput, "p99_ms": p99, "dropped_pct": 0.0,
                "conserved": True}  # fmt: skip

    return {
        "capacity": 1400.0,
        "target_ms": 100.0,
        "rows": [
            row(7, 1.0, 1400.0, 80.0), row(7, 1.5, 1500.0, phase7_p99_at_15), row(7, 2.0, phase7_at_2x, 150.0),
            row(6, 1.0, 1400.0, 100.0), row(6, 1.5, 1400.0, 3000.0), row(6, 2.0, 1400.0, 6000.0),
        ],
    }  # fmt: skip


def test_degradation_findings_flip():
    plateau = degradation_findings(_degradation(phase7_at_2x=1450.0, phase7_p99_at_15=120.0))
    assert "plateaued" in plateau[0] and "bounded" in plateau[0]
    assert "latency cliff" in plateau[1]
    assert "phase 7" in plateau[2] and ": done." in plateau[2]
    assert "phase 6" in plateau[3] and "MISSED" in plateau[3] and "not done" in plateau[3]
    cliff = degradation_findings(_degradation(phase7_at_2x=600.0, phase7_p99_at_15=500.0))
    assert "fell off a cliff" in cliff[0]
    assert "not done" in cliff[2]
