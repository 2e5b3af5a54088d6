"""Lesson 8's experiments: registered, quick runs shaped as the lesson
reads them, and findings that follow their figures (contrasting figures
flip each conclusion). No speed is asserted."""

from __future__ import annotations

from orderbook_lab.core.eventlog import EventLogWriter, read_log
from orderbook_lab.core.messages import OtherMessage
from orderbook_lab.experiments import EXPERIMENTS
from orderbook_lab.experiments.phase8 import (
    _LAYERS,
    _last_record_offset,
    _tail_covers_s,
    _verdict,
    health_findings,
    layers_findings,
    recovery_findings,
    replay_findings,
    shutdown_findings,
)


def test_phase8_experiments_are_all_registered():
    assert [e for e in EXPERIMENTS if e.startswith("8.")] == ["8.1", "8.2", "8.3", "8.4", "8.5"]


def test_quick_runs_measure_what_the_lesson_quotes(quick_reports):
    assert set(quick_reports["8.1"].headline) == {
        "overhead_pct_full_work1ms",
        "overhead_pct_full_work0ms",
        "cpu_overhead_pct_full_work1ms",
        "cpu_overhead_pct_full_work0ms",
        "cpu_overhead_pct_event_log_work0ms",
        "baseline_spread_pct_work1ms",
        "bottom_up_pct_work1ms",
        "bottom_up_pct_work0ms",
    }
    assert set(quick_reports["8.2"].headline) == {
        "replays_equal_phase1",
        "records_replayed_killed_run",
        "torn_tail_bytes",
    }
    assert set(quick_reports["8.3"].headline) == {"drained_ms_max", "total_stop_ms_max", "lost_messages"}
    assert set(quick_reports["8.4"].headline) == {
        "restart_ms_median",
        "replayed_entries_max",
        "throughput_with_kill_min_x",
        "runs_books_equal_phase1",
        "runs",
    }
    assert set(quick_reports["8.5"].headline) == {
        "false_positive_readings_clean",
        "faults_undetected",
        "detect_ms_error_burst",
    }
    # Correctness does not depend on the machine: replays and recoveries
    # rebuild phase 1's books, and a graceful stop loses nothing.
    assert quick_reports["8.2"].headline["replays_equal_phase1"] == 2
    assert quick_reports["8.3"].headline["lost_messages"] == 0
    for experiment_id in ("8.1", "8.2", "8.4"):
        for table in quick_reports[experiment_id].tables:
            if "conserved" in table.columns:
                index = table.columns.index("conserved")
                assert {row[index] for row in table.rows} == {"yes"}


# --------------------------------------------------------------------- 8.1


def _layers(
    work1: list[float], spread: float = 0.02, shares: tuple[float, ...] = (0.004, 0.002, 0.003, 0.001)
) -> dict:
    """Rows of 8.1 for --work-ms 1 (throughputs by layer; CPU per message
    rising 1% a layer) and a flat --work-ms 0 beside them, with the
    bottom-up shares of each layer."""
    rows, bottom_up = [], []
    for work_ms, series in ((0.0, [10_000.0] * 5), (1.0, work1)):
        cpus = [100.0 * (1 + 0.01 * i) for i in range(5)]
        for index, throughput in enumerate(series):
            before = max(index - 1, 0)
            rows.append(
                {"work_ms": work_ms, "layer": _LAYERS[index], "throughput": throughput, "spread": spread,
                 "overhead": 1 - throughput / series[0], "step": 1 - throughput / series[before],
                 "cpu_us": cpus[index], "cpu_overhead": cpus[index] / cpus[0] - 1,
                 "cpu_step": cpus[index] / cpus[before] - 1, "conserved": True}
            )  # fmt: skip
        for layer, share in zip(_LAYERS[1:], shares, strict=True):
            bottom_up.append({"work_ms": work_ms, "layer": layer, "cpu_ms": 2000 * share, "share": share})
    return {"limit": 0.05, "goal": 0.03, "rows": rows, "bottom_up": bottom_up,
            "dispatcher_us": {0.0: 50.0, 1.0: 500.0}, "append_us": 5.0}  # fmt: skip


def test_layers_findings_flip():
    cheap = layers_findings(_layers([1000, 995, 990, 985, 980]))
    assert "--work-ms 1, measured end to end" in cheap[0] and "980 (-2.0%)" in cheap[0]
    assert "from 100.0 to 104.0 µs (+4.0%)" in cheap[0]
    assert "agreed within 2.0%, so that is within the 3% goal" in cheap[0]
    assert "the layers take 1.00% of the machine's CPU" in cheap[1] and "the biggest is event log" in cheap[1]
    assert "1.0% more work for it." in cheap[1]
    assert "--work-ms 0, bottom up" in cheap[3] and "comes off throughput whole" in cheap[3]
    assert "judged by throughput measured end to end: 2.0%, so the 3% goal is met" in cheap[-1]
    middling = layers_findings(_layers([1000, 990, 980, 970, 960]))
    assert "within the 5% bound but over the 3% goal" in middling[0]
    assert "bound is met but the 3% goal is not" in middling[-1]
    noisy = layers_findings(
        _layers([1000, 1400, 900, 1300, 800], spread=0.4, shares=(0.01, 0.005, 0.02, 0.005))
    )
    assert "spread 40%" in noisy[0] and "cannot resolve it" in noisy[0]
    assert "the layers take 4.00%" in noisy[1] and "the biggest is metrics scraped" in noisy[1]
    assert "judged by the bottom-up estimate" in noisy[-1] and "4.0%, so the 5% bound is met but" in noisy[-1]
    single = _layers([1000, 995, 990, 985, 980])
    for row in single["rows"]:
        row["runs"] = 1
    alone = layers_findings(single)
    assert "One run per step cannot tell" in alone[0] and "judged by the bottom-up estimate" in alone[-1]
    drifting = _layers([1000, 995, 990, 985, 980])
    for row in drifting["rows"]:
        row["workers_us"] = 1200.0 if row["layer"] == _LAYERS[-1] else 1000.0
    assert any("workers' CPU per message moved +20.0%" in f for f in layers_findings(drifting))
    assert not any("workers' CPU" in f for f in cheap)
    costly = layers_findings(_layers([1000] * 5, spread=0.4, shares=(0.05, 0.01, 0.01, 0.01)))
    assert "OVER the 5% bound" in costly[1]
    assert "8.0%, so the 5% bound is MISSED" in costly[-1]


# --------------------------------------------------------------------- 8.2


def _replay(
    replay: str = "aaa", records: int = 1000, torn_read: int = 999, equal_prefix: bool = True
) -> dict:
    run = {"generated": 1000, "processed": 1000, "records": records, "complete": True, "live": "aaa",
           "replay": replay, "conserved": True}  # fmt: skip
    return {
        "phase1_digest": "aaa",
        "runs": [{**run, "label": "phase 8", "restarts": 0}, {**run, "label": "phase 8, killed", "restarts": 1}],
        "torn": {"records_before": records, "records_read": torn_read, "reason": "short payload", "bytes": 160,
                 "missing": 0, "equal_prefix": equal_prefix, "equal_intact": False},
    }  # fmt: skip


def test_replay_findings_flip():
    good = replay_findings(_replay())
    assert "gave the live run's books and phase 1's" in good[0]
    assert "(1 restart)" in good[1]
    assert "replayed 999 of 1,000" in good[2] and "torn tail (short payload, 160 bytes)" in good[2]
    assert "equal those of the first N-1 records" in good[2]
    bad = replay_findings(_replay(replay="bbb", records=1010, torn_read=1010, equal_prefix=False))
    assert "did NOT match" in bad[0] and "live and phase 1 differ" in bad[0]
    assert "logged twice" in bad[1]
    assert "reported a torn tail" in bad[-1] and "read 1,010 of 1,010" in bad[-1]


def test_last_record_offset_finds_the_last_frame(tmp_path):
    with EventLogWriter(tmp_path) as log:
        log.append(OtherMessage("new_market"), produced_ns=1)
        log.append(OtherMessage("best_bid_ask", "asset"), produced_ns=2)
    [segment] = sorted(tmp_path.glob("*.log"))
    offset, length = _last_record_offset(segment)
    assert offset > 0 and offset + 8 + length == segment.stat().st_size
    with open(segment, "r+b") as file:
        file.truncate(offset + 8 + length // 2)
    assert [r.seq for r in read_log(tmp_path)] == [0]


# --------------------------------------------------------------------- 8.3


def _stop(lost: int = 0, drained_ms: float = 80.0, intake_ms: float = 0.5, stopped: bool = True) -> dict:
    row = {"stop_at_s": 4.0, "stopped": stopped, "intake_ms": intake_ms, "drained_ms": drained_ms,
           "stop_ms": 200.0, "total_ms": drained_ms + 200.0, "timeout_s": 10.0, "accepted": 5000,
           "processed": 4900 - lost, "dropped": 100, "lost": lost}  # fmt: skip
    return {"rows": [row, {**row, "stop_at_s": 1.0}]}


def test_shutdown_findings_flip():
    clean = shutdown_findings(_stop())
    assert "within 100 ms" in clean[0] and "took 80 to 80 ms" in clean[0]
    assert "2.8% of the 10 s drain timeout" in clean[1]
    assert "lost 0" in clean[2]
    bad = shutdown_findings(_stop(lost=7, drained_ms=12_000.0, intake_ms=250.0))
    assert "NOT within 100 ms" in bad[0]
    assert "OVER the 10 s drain timeout" in bad[1]
    assert "14 of 10,000 accepted messages were LOST" in bad[2]
    never = shutdown_findings(_stop(stopped=False))
    assert len(never) == 1 and "never stopped" in never[0]


# --------------------------------------------------------------------- 8.4


def _kill(name: str, age_ms: float | None, replayed: int, vs_none: float, digest_ok: bool = True,
          detected_ms: float = 0.2) -> dict:  # fmt: skip
    return {"kill": name, "at": 0.5, "throughput": 1000 * vs_none, "vs_none": vs_none, "restarts": 1,
            "died_at_s": 0.5 if age_ms is None else 2.4, "detected_ms": detected_ms, "restart_ms": 1000.0,
            "age_ms": age_ms, "replayed": replayed, "lost_frames": 2, "run_s": 6.0, "digest_ok": digest_ok,
            "conserved": True}  # fmt: skip


def _recovery(*kills: dict, spread: float = 0.05) -> dict:
    none = {"kill": "none", "at": None, "throughput": 1000.0, "vs_none": 1.0, "restarts": 0, "died_at_s": None,
            "detected_ms": None, "restart_ms": None, "age_ms": None, "replayed": None, "lost_frames": None,
            "run_s": 5.0, "digest_ok": True, "conserved": True}  # fmt: skip
    return {"phase1_digest": "aaa", "spread": spread, "rows": [none, *kills]}


def test_recovery_findings_flip():
    good = recovery_findings(
        _recovery(_kill("early", None, 300, 0.85), _kill("after", 150.0, 200, 0.84), _kill("late", 900.0, 1500, 0.83))
    )  # fmt: skip
    assert "noticed at once (0.2 ms)" in good[0] and "no checkpoint had been taken" in good[0]
    assert "no state lost" in good[0]
    assert "150 ms old" in good[1]
    assert (
        "200 after 150 ms; 300 after 500 ms (no checkpoint: since the start); 1,500 after 900 ms" in good[3]
    )
    assert "The tail grows with that time" in good[3]
    assert "0.83x to 0.85x" in good[4] and "is most of the cost" in good[4]
    noisy = recovery_findings(_recovery(_kill("early", None, 300, 1.3), spread=0.9))
    assert "spread 90%" in noisy[-1] and "cannot show" in noisy[-1]
    bad = recovery_findings(
        _recovery(_kill("early", None, 900, 0.5, digest_ok=False, detected_ms=400.0), _kill("late", 900.0, 100, 0.6))
    )  # fmt: skip
    assert "noticed late" in bad[0] and "state LOST" in bad[0]
    assert "did NOT grow" in bad[2]
    assert "the replay costs too" in bad[3]
    assert _tail_covers_s({"age_ms": 250.0, "died_at_s": 3.0}) == 0.25
    assert _tail_covers_s({"age_ms": None, "died_at_s": 0.4}) == 0.4


# --------------------------------------------------------------------- 8.5


def _health(clean_degraded: int, burst_s: float | None, queue_s: float | None) -> dict:
    rows = [
        {"case": "clean, 0.5x load", "fault": None, "readings": 100, "degraded": clean_degraded, "detect_s": None,
         "reason": "-", "breaker_s": None, "shed_s": None, "full_s": None},
        {"case": "error burst", "fault": (3.0, 6.0), "readings": 100, "degraded": 20 if burst_s else 0,
         "detect_s": burst_s, "reason": "worker 0's breaker is open", "breaker_s": 0.4,
         "breaker_reason": "107 of 426 failed in the window", "shed_s": None,
         "full_s": None},
        {"case": "full queue", "fault": (0.0, 10.0), "readings": 100, "degraded": 5 if queue_s else 0,
         "detect_s": queue_s, "reason": "worker 1 is not alive", "breaker_s": None, "shed_s": 0.1, "full_s": 0.2},
    ]  # fmt: skip
    for row in rows:
        row["verdict"] = _verdict(row)
    return {"rows": rows}


def test_health_findings_flip():
    seen = health_findings(_health(clean_degraded=0, burst_s=0.5, queue_s=3.5))
    assert "0 of 100 readings said degraded: no false positive" in seen[0]
    assert "500 ms after the fault began (within the 2 s target)" in seen[1]
    assert 'it opened on "107 of 426 failed in the window"' in seen[1]
    assert seen[2].endswith('is not alive".')
    assert "later than the 2 s target" in seen[2]
    missed = health_findings(_health(clean_degraded=3, burst_s=None, queue_s=None))
    assert "3 false positive(s)" in missed[0]
    calm = _health(clean_degraded=0, burst_s=0.5, queue_s=None)
    calm["rows"][0]["shed_s"] = 1.2
    assert "In the same clean run shedding began after 1,200 ms" in health_findings(calm)[1]
    assert (
        "NEVER reported degraded" in missed[1] and "breaker opened after 400 ms but no reading" in missed[1]
    )
    assert "never opened" in missed[2] and "shedding began after 100 ms" in missed[2]
    assert [r["verdict"] for r in _health(1, None, 0.5)["rows"]] == [
        "false positive",
        "false negative",
        "detected",
    ]
