"""Lesson 6's experiments: registered, quick runs shaped as the lesson
reads them, and findings that follow their figures."""

from __future__ import annotations

from orderbook_lab.experiments import EXPERIMENTS
from orderbook_lab.experiments.phase6 import (
    codec_by_size_findings,
    end_to_end_findings,
    publish_cost_findings,
    queue_throughput_findings,
    schema_cost_findings,
)


def test_phase6_experiments_are_registered():
    assert [e for e in EXPERIMENTS if e.startswith("6.")] == ["6.1", "6.2", "6.3", "6.4", "6.5"]


def test_quick_runs_compare_what_the_lesson_compares(quick_reports):
    sizes = quick_reports["6.1"].tables[0]
    assert {row[1] for row in sizes.rows} == {"pickle", "msgspec-msgpack", "msgspec-json", "stdlib-json"}
    phases = quick_reports["6.2"].tables[0]
    assert [row[0] for row in phases.rows] == [5, 5, 6, 6]
    pipe = quick_reports["6.3"].tables[0]
    assert all(row[2] > 0 for row in pipe.rows)
    assert set(quick_reports["6.4"].headline) == {"msgpack_publish_vs_pickle_x", "packed_publish_vs_pickle_x"}


def _sizes(large_msgpack_us: float) -> dict:
    rows = []
    for levels, pickle_us, msgpack_us in ((0, 10.0, 1.0), (380, 170.0, large_msgpack_us)):
        for codec, us, blocks in (
            ("pickle", pickle_us, 2290),
            ("msgspec-msgpack", msgpack_us, 2288),
            ("msgspec-json", msgpack_us * 2, 2288),
            ("stdlib-json", pickle_us * 6, 3055),
        ):
            rows.append({"levels": levels, "codec": codec, "bytes": 200 + levels * 26, "round_trip_us": us,
                         "blocks": blocks})  # fmt: skip
    return {"rows": rows}


def test_codec_by_size_findings_follow_the_trend():
    assert "shrank" in codec_by_size_findings(_sizes(80.0))[0]  # 10x small, 2.1x large
    assert "grew" in codec_by_size_findings(_sizes(10.0))[0]  # 10x small, 17x large
    assert "how they are made" in codec_by_size_findings(_sizes(80.0))[2]


def _phases(p99_6: float, flat_6: float, paced_5: float = 12000.0) -> dict:
    return {"rate": 12000.0, "rows": [
        {"phase": 5, "paced": True, "throughput": paced_5, "p50_ms": 1.5, "p99_ms": 3.0, "codec_ms": 18.0},
        {"phase": 5, "paced": False, "throughput": 25000.0, "p50_ms": 2.0, "p99_ms": 7.0, "codec_ms": 13.0},
        {"phase": 6, "paced": True, "throughput": 12000.0, "p50_ms": 1.5, "p99_ms": p99_6, "codec_ms": 4.0},
        {"phase": 6, "paced": False, "throughput": flat_6, "p50_ms": 2.0, "p99_ms": 7.0, "codec_ms": 2.0},
    ]}  # fmt: skip


def test_end_to_end_findings_flip():
    better = end_to_end_findings(_phases(1.0, 36000.0))
    assert "cut the p99" in better[0] and "1.44x as fast" in better[1]
    worse = end_to_end_findings(_phases(12.0, 25500.0))
    assert "4.00x phase 5's" in worse[0] and "no different" in worse[1]
    behind = end_to_end_findings(_phases(2.5, 48000.0, paced_5=8000.0))
    assert "phase 5 managed 8,000: it fell behind" in behind[0] and "phase 6 kept up" in behind[0]


def test_queue_throughput_findings_flip():
    def rows(big_msgpack: float) -> dict:
        return {"rows": [
            {"batch": 1, "codec": "pickle", "rate": 78000.0}, {"batch": 1, "codec": "msgspec-msgpack", "rate": 104000.0},
            {"batch": 1000, "codec": "pickle", "rate": 330000.0},
            {"batch": 1000, "codec": "msgspec-msgpack", "rate": big_msgpack},
        ]}  # fmt: skip

    assert "grows" in queue_throughput_findings(rows(1_000_000.0))[1]
    assert "mattered less" in queue_throughput_findings(rows(340_000.0))[1]


def test_publish_cost_findings_answer_the_tenfold_question():
    def books(msgpack_us: float) -> dict:
        return {"books": {"a deep book": {"pickle (protocol 5)": 15.0, "msgspec msgpack (Struct)": msgpack_us,
                                          "packed binary (this store)": 17.0}}}  # fmt: skip

    assert "no: the best" in publish_cost_findings(books(4.8))[0]
    assert "yes, with msgspec msgpack (Struct)" in publish_cost_findings(books(1.2))[0]


def test_schema_cost_findings_flip():
    figures = {
        "array_bytes_per_message": 300.0, "v1_bytes_per_message": 420.0, "v2_bytes_per_message": 430.0,
        "array_encode_ns_per_message": 230.0, "v2_encode_ns_per_message": 340.0, "v1_encode_ns_per_message": 330.0,
        "array_decode_ns_per_message": 680.0, "v1_decode_ns_per_message": 820.0, "v2_decode_ns_per_message": 840.0,
        "v2_reads_v1_decode_ns_per_message": 810.0, "v1_reads_v2_decode_ns_per_message": 830.0,
        "v2_from_messages_ns_per_message": 760.0, "v2_to_messages_ns_per_message": 790.0,
    }  # fmt: skip
    same = schema_cost_findings(figures)
    assert "1.43x the bytes" in same[0] and "no more than reading its own" in same[1]
    slower = schema_cost_findings({**figures, "v2_reads_v1_decode_ns_per_message": 1200.0})
    assert "1.43x (v2 reading v1)" in slower[1]
