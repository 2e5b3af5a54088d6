"""Phase 1 findings follow their figures: contrasting rows, contrasting words."""

from orderbook_lab.experiments.phase1 import structure_findings


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
