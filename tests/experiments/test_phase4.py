"""Lesson 4's experiments run quick, report what they measured, and leave
nothing in /dev/shm."""

from __future__ import annotations

from types import SimpleNamespace

from typer.testing import CliRunner

from orderbook_lab.cli import app
from orderbook_lab.experiments import EXPERIMENTS, run_experiment
from orderbook_lab.experiments.phase4 import (
    encodings_findings,
    interference_findings,
    memory_findings,
    query_latency_findings,
    sync_interval_findings,
)


def _column(table, name: str) -> list:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


def test_phase4_experiments_are_all_registered():
    assert [e for e in EXPERIMENTS if e.startswith("4.")] == ["4.1", "4.2", "4.3", "4.4", "4.5"]


def test_query_latency_quick_compares_phase_3_with_three_askers_in_phase_4(quick_reports):
    report = quick_reports["4.1"]
    runs, parts, costs = report.tables
    assert [(phase, asked) for phase, asked in zip(_column(runs, "phase"), _column(runs, "asked from"), strict=True)] == [
        ("3 multiprocessing", "dispatch loop"), ("4 shared-memory", "dispatch loop"),
        ("4 shared-memory", "query thread"), ("4 shared-memory", "another process"),
    ]  # fmt: skip
    assert all(q > 0 for q in _column(runs, "queries"))
    for row in runs.rows:  # a query's path is part of its time from due
        assert 0 < row[runs.columns.index("path p50 (µs)")] <= row[runs.columns.index("path p99 (µs)")]
    assert "queue" in parts.rows[0][-1] and "read" in parts.rows[1][-1]
    steps = dict(costs.rows)
    assert steps["phase 4: read depth 0 (find, copy, check seq + crc32, header)"] > 0
    assert len(report.findings) == 5
    assert set(report.headline) == {
        "phase3_from_due_p99_us",
        "loop_from_issue_p99_us",
        "process_from_due_p99_us",
    }


def test_sync_interval_quick_publishes_less_as_the_interval_grows(quick_reports):
    report = quick_reports["4.3"]
    (table,) = report.tables
    assert _column(table, "--sync-ms") == ["0 (every frame)", "1", "10", "100", "1000"]
    publishes = _column(table, "publishes")
    assert publishes[-1] < publishes[0]  # fewer rounds can only mean fewer (or as many) publishes
    assert _column(table, "same books") == ["yes"] * 5  # a drain publishes whatever is pending
    assert all(q > 0 for q in _column(table, "queries"))


def test_memory_quick_counts_shared_pages_only_in_phase_4(quick_reports):
    report = quick_reports["4.4"]
    per_worker, per_book = report.tables
    engines = _column(per_worker, "engine")
    assert engines[:2] == ["phase 3 multiprocessing"] * 2 and engines[2:] == ["phase 4 shared-memory"] * 2
    assert _column(per_worker, "shm used (KB)")[:2] == ["-", "-"]
    used = _column(per_worker, "shm used (KB)")[2:]
    assert 0 < used[0] < used[1]  # more books, more slots in use
    assert _column(per_book, "shm used per book (B)")[1] > 0


def test_interference_quick_accepts_no_torn_read_behind_a_seqlock():
    report = run_experiment(EXPERIMENTS["4.2"], quick=True)
    writer, protocols, costs = report.tables
    assert _column(writer, "readers") == [0, 1]
    assert _column(writer, "torn accepted") == [0, 0]
    readers = _column(protocols, "reader")
    torn = dict(zip(readers, _column(protocols, "torn accepted"), strict=True))
    assert [torn[name] for name in readers if "naive" not in name] == [0, 0, 0]
    assert all(reads > 0 for reads in _column(protocols, "reads"))
    assert _column(costs, "levels a side") == [10, 40, 300]
    assert len(report.findings) == 4 and report.quick


def test_encodings_quick_prints_a_table_and_findings():
    result = CliRunner().invoke(app, ["experiment", "4.5", "--quick"])
    assert result.exit_code == 0, result.output
    assert "packed binary (this store)" in result.output
    assert "msgspec msgpack" in result.output and "pickle" in result.output


# Findings follow their figures: contrasting figures, contrasting words.


def _asker(path99: float, due99: float, wait50: float = 50.0, wait99: float = 500.0) -> dict:
    return dict(path50=path99 / 2, path99=path99, wait50=wait50, wait99=wait99, due50=due99 / 3, due99=due99)


def _latency(process_due99: float, loop_path99: float = 60.0, process_path99: float = 70.0, p3_due99=7000.0):
    return {
        "phase3": _asker(6000.0, p3_due99), "loop": _asker(loop_path99, 1000.0, wait99=900.0),
        "thread": _asker(70.0, 4000.0, wait50=700.0, wait99=4000.0),
        "process": _asker(process_path99, process_due99, wait50=600.0, wait99=2000.0),
        "costs_us": {"depth10": 18.0, "depth0": 12.0, "no_crc": 17.0}, "runs": 1,
    }  # fmt: skip


def test_query_target_verdict_follows_the_from_due_p99():
    met = query_latency_findings(_latency(process_due99=85.0))[-1]
    missed = query_latency_findings(_latency(process_due99=2300.0))[-1]
    slow_path = query_latency_findings(_latency(process_due99=2300.0, process_path99=150.0))[-1]
    assert "met the target of p99 < 100 µs" in met
    assert (
        "missed the target of p99 < 100 µs" in missed and "its path alone (70.0 µs) was within it" in missed
    )
    assert "missed" in slow_path and "path alone" not in slow_path


def test_query_comparison_reads_lower_or_higher_the_right_way_up():
    lower = query_latency_findings(_latency(2300.0))[0]
    higher = query_latency_findings(_latency(2300.0, loop_path99=12000.0, p3_due99=500.0))[0]
    same = query_latency_findings(_latency(2300.0, p3_due99=1200.0))[0]
    assert "(100.00x lower)" in lower and "(7.00x lower)" in lower
    assert higher.count("(2.00x higher)") == 2 and "0.5" not in higher
    assert "1,200 µs from due" in same and "from due (about the same (within noise, ±50%))" in same


def _stress(**fields):
    base = dict(publishes_per_s=70_000.0, cpu_us_per_publish=14.0, reads_per_s=0.0, reads=0, retries=0, busy=0,
                torn_rejected=0, violations=0)  # fmt: skip
    return SimpleNamespace(**{**base, **fields})


def _protocols(naive_torn: int = 1, single_retries: int = 900, double_retries: int = 2, caught: int = 0):
    return {
        "no checks (naive reader)": _stress(reads=3000, violations=naive_torn),
        "seqlock, one buffer": _stress(reads=3000, retries=single_retries, busy=40),
        "seqlock, double buffer": _stress(reads=3000, retries=double_retries),
        "double buffer + crc32": _stress(reads=3000, torn_rejected=caught),
    }


def test_interference_verdicts_follow_the_writer_cpu_and_the_counts():
    alone = _stress()
    quiet = _stress(publishes_per_s=35_000.0, cpu_us_per_publish=14.5, reads_per_s=27_000.0)
    slowed = _stress(publishes_per_s=35_000.0, cpu_us_per_publish=25.0, reads_per_s=27_000.0)
    same = " ".join(interference_findings(alone, quiet, _protocols(), [2.0, 3.0], 2))
    slower = " ".join(interference_findings(alone, slowed, _protocols(), [2.0, 3.0], 2))
    assert "unchanged within noise" in same and "waiting for one of the 2 cores" in same
    assert "the writer's own work got slower" in slower
    assert "1 of 3,000 reads with no checks" in same and "none behind any seqlock" in same
    none_seen = " ".join(interference_findings(alone, quiet, _protocols(naive_torn=0, caught=3), [2.0], 2))
    assert "none of 3,000 unchecked reads" in none_seen and "caught 3 torn copies" in none_seen
    assert "seqlock alone suffices" in same and "seqlock alone suffices" not in none_seen
    level = " ".join(
        interference_findings(alone, quiet, _protocols(single_retries=1, double_retries=50), [2.0], 2)
    )
    assert "fewer with two buffers" in same and "no fewer with two buffers" in level


def _sync(cpu_10: float, p99_100: float = 99.0):
    rows = {0.0: (3878, 62.0, 0.3, 3.6), 1.0: (3000, 50.0, 0.7, 1.8), 10.0: (498, cpu_10, 4.9, 10.4),
            100.0: (80, 2.1, 40.6, p99_100), 1000.0: (20, 1.0, 97.0, 194.0)}  # fmt: skip
    return {"run_s": 0.4, "processed": 2000, "worker_cpu_ms": 172.0, "workers": 2,
            "rows": {ms: dict(rounds=3000, publishes=p, publish_cpu_ms=c, p50=p50, p99=p99)
                     for ms, (p, c, p50, p99) in rows.items()}}  # fmt: skip


def test_sync_interval_saving_and_age_follow_the_figures():
    saves = sync_interval_findings(_sync(cpu_10=8.4))
    none = sync_interval_findings(_sync(cpu_10=60.0, p99_100=180.0))
    assert "7.4x less publishing CPU" in saves[0]
    assert "no CPU saved within noise" in none[0]
    assert "between just published and one interval old" in saves[-1]
    assert "older than one interval" in none[-1]


def _memory(anon4: float, shmem4: float = 944.0, parent_kb: int = 376):
    return dict(small=40, large=400, books_small=20, workers=2, anon3_b=2500.0, anon4_b=anon4, shmem4_b=shmem4,
                used4_b=928.0, parent_shmem_kb=parent_kb, used_large_kb=370.0, mapped_small_mib=8.2,
                rss3_mb=29.0, rss4_mb=29.5)  # fmt: skip


def test_memory_verdicts_follow_the_bytes():
    more = memory_findings(_memory(anon4=2900.0))
    same = memory_findings(_memory(anon4=2550.0, shmem4=4096.0, parent_kb=40))
    assert "+400 B: its store keeps an entry" in more[0] and "close to the store's own count" in more[0]
    assert "the same within noise" in same[0] and "not close to the store's own count" in same[0]
    assert "the same pages" in more[1] and "not within 25%" in same[1]


def test_encodings_verdict_reads_slower_or_faster():
    packed, pickled = "packed binary (this store)", "pickle (protocol 5)"
    slower = {"book": {packed: (300, 6.0, 6.0), pickled: (400, 5.0, 5.0)}}
    faster = {"book": {packed: (300, 2.0, 2.0), pickled: (400, 5.0, 5.0)}}
    fixed = {packed: (300, 300), pickled: (400, 410)}
    assert "packed against pickle: 1.20x slower" in encodings_findings(slower, fixed)[0]
    assert "packed against pickle: 2.50x faster" in encodings_findings(faster, fixed)[0]
    assert "The packed layout kept one size" in encodings_findings(faster, fixed)[-1]
    varied = encodings_findings(faster, {packed: (300, 320), pickled: (400, 400)})[-1]
    assert "Even the packed layout varied" in varied
