"""Phase 1 findings follow their figures: contrasting rows, contrasting words."""

from orderbook_lab.experiments.phase1 import (
    asset_findings,
    query_findings,
    rate_findings,
    structure_findings,
    work_findings,
)


def _rows(table_update: float, table_write: float, ours_update: float = 400.0, c_update: float = 500.0):
    #        label, update, write, best, depth, KiB, vs now
    return {
        "orderbook-lab": ["now", ours_update, 300.0, 80.0, 3.0, 5.6, 1.0],
        "ticktable": ["table", table_update, table_write, 80.0, 3.0, 160.0, table_update / ours_update],
        "sorteddict": ["naive", 1200.0, 600.0, 700.0, 3.0, 8.5, 3.0],
        "sortedlist": ["first", 1400.0, 320.0, 900.0, 6.0, 9.0, 3.5],
        "order-book": ["C", c_update, 200.0, 150.0, 2.0, 5.4, c_update / ours_update],
    }


def test_the_tick_table_verdict_follows_which_book_was_faster():
    faster = " ".join(structure_findings(_rows(table_update=300.0, table_write=200.0)))
    slower = " ".join(structure_findings(_rows(table_update=520.0, table_write=450.0)))
    assert "writes faster than the dict" in faster and "33% more time per update" in faster
    assert "writes slower than the dict" in slower and "not even faster" in slower
    level = " ".join(structure_findings(_rows(table_update=405.0, table_write=305.0)))
    assert "writes no faster" in level and "the same time per update" in level


def test_the_comparison_with_the_c_extension_follows_the_ratio():
    less = " ".join(structure_findings(_rows(300.0, 200.0, ours_update=400.0, c_update=500.0)))
    more = " ".join(structure_findings(_rows(300.0, 200.0, ours_update=600.0, c_update=500.0)))
    same = " ".join(structure_findings(_rows(300.0, 200.0, ours_update=505.0, c_update=500.0)))
    assert "needs less time per update (0.80x" in less
    assert "needs more time per update (1.20x" in more
    assert "about the same time per update" in same


def test_without_the_c_extension_there_is_no_sentence_about_it():
    rows = _rows(300.0, 200.0)
    del rows["order-book"]
    assert not any("order-book" in finding for finding in structure_findings(rows))


# 1.1: offered, achieved, p50, p99, max, lag max (ms); 5 ms of work, capacity 200 msg/s
_BELOW = [[50, 51.0, 5.1, 9.0, 10.0, 0.1], [150, 151.0, 5.2, 6.0, 7.0, 2.0]]


def test_rate_findings_say_the_backlog_grew_only_when_it_did():
    over = [[500, 210.0, 600.0, 1200.0, 1300.0, 1300.0], [1000, 212.0, 1800.0, 3600.0, 3700.0, 3700.0]]
    grew = " ".join(rate_findings(_BELOW + over, 5.0, {"half": 380, "end": 780, "lines": 1000}))
    assert "backlog grew for as long as the feed sent" in grew and "380" in grew and "780" in grew
    assert "the same within noise: pushing harder buys nothing" in grew
    steady = " ".join(rate_findings(_BELOW + over, 5.0, {"half": 400, "end": 420, "lines": 1000}))
    assert "backlog stopped growing" in steady and "grew" not in steady
    none = " ".join(rate_findings(_BELOW + over, 5.0, {"half": 1, "end": 1, "lines": 1000}))
    assert "No backlog built" in none


def test_rate_findings_follow_whether_the_engine_kept_up():
    kept = " ".join(rate_findings([*_BELOW, [250, 249.0, 5.0, 6.0, 7.0, 1.0]], 5.0, None))
    assert "kept up" in kept and "achieved only" not in kept
    moved = [[250, 150.0, 90.0, 160.0, 170.0, 160.0], [1000, 400.0, 900.0, 1800.0, 1900.0, 1900.0]]
    assert "the ceiling moved" in " ".join(rate_findings(_BELOW + moved, 5.0, None))
    slow_below = [[50, 51.0, 30.0, 40.0, 50.0, 30.0]]
    assert "something else held the thread" in " ".join(rate_findings(slow_below, 5.0, None))
    assert "stayed near the work time" in " ".join(rate_findings(_BELOW, 5.0, None))


def _work_row(work_ms: float, per_ms: float) -> list:
    measured = 1000 / per_ms
    return [work_ms, 1000 / work_ms, per_ms, measured, round(100 * measured / (1000 / work_ms), 1)]


def test_work_findings_place_the_ceiling_against_one_over_work():
    bare = [0.0, "∞", 0.014, 72_000.0, "-"]
    on = " ".join(work_findings([bare, _work_row(5.0, 5.05)]))
    above = " ".join(work_findings([bare, _work_row(5.0, 4.5)]))
    below = " ".join(work_findings([bare, _work_row(5.0, 6.0)]))
    assert "on the line" in on
    assert "above the line" in above and "10% faster" in above
    assert "below the line" in below and "1.00 ms beyond its work" in below
    assert "14.0 µs" in on and "72,000 msg/s" in on


def test_query_findings_say_whether_queries_waited_for_the_message_in_hand():
    #         work, msg/s, queries, p50, p99, max (µs)
    waited = query_findings([[0.0, 70_000, 90, 17.0, 120.0, 300.0], [5.0, 200, 400, 2500.0, 4900.0, 5000.0]])
    barely = query_findings([[0.0, 70_000, 90, 17.0, 120.0, 300.0], [5.0, 200, 400, 40.0, 900.0, 5000.0]])
    assert "waits for that message to finish" in waited[0] and "(98%)" in waited[0]
    assert "rarely waited" in barely[0] and "waits for that message" not in barely[0]


def test_asset_findings_call_a_small_change_noise_and_a_big_one_a_cost():
    #      assets, snapshots, msg/s, p50, p99 (µs)
    same = asset_findings([[10, 2000, 70_000, 6.2, 30.0], [10_000, 11_800, 68_000, 6.6, 33.0]], 100_000)
    rose = asset_findings([[10, 2000, 70_000, 6.2, 30.0], [10_000, 11_800, 40_000, 9.5, 47.0]], 100_000)
    fell = asset_findings([[10, 2000, 70_000, 9.5, 30.0], [10_000, 11_800, 69_000, 6.2, 33.0]], 100_000)
    assert "same within noise" in same[0] and "Throughput held within noise" in same[0]
    assert "rose by more than noise" in rose[0] and "Throughput fell" in rose[0]
    assert "fell by more than noise" in fell[0]
