"""Saved results (round trip, damage, where they live), the lessons'
headline tables, and what status and next make of them."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orderbook_lab.experiments import Plot, Report, Table
from orderbook_lab.experiments.results import (
    RESULTS_ENV,
    FigureRow,
    LessonFigure,
    headline_figures,
    lesson_status,
    load_result,
    load_results,
    next_step,
    result_path,
    results_dir,
    save_result,
)

_LESSON = Path(__file__).parents[1] / "fixtures" / "lessons" / "001_fixture.md"


def _report(experiment_id: str = "1.2", *, quick: bool = False, headline=None) -> Report:
    table = Table("t", ["work (ms)", "msg/s"])
    table.add(1.0, 950.5)
    plot = Plot("curve", "work (ms)", "msg/s", log_x=True)
    plot.add("sync", 1.0, 950.5)
    return Report(
        experiment_id,
        "Work",
        [table],
        ["found"],
        quick=quick,
        plots=[plot],
        headline=headline if headline is not None else {"throughput_ratio_x": 0.97},
    )


# ------------------------------------------------------------ save and load


def test_save_then_load_round_trips(tmp_path):
    ran_at = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    path = save_result(_report(quick=True), tmp_path / "new" / "dir", ran_at=ran_at, wall_s=2.5)
    assert path == result_path(tmp_path / "new" / "dir", "1.2") == tmp_path / "new" / "dir" / "1.2.json"
    saved = load_result(tmp_path / "new" / "dir", "1.2")
    assert saved is not None
    assert (saved.id, saved.ran_at, saved.quick, saved.wall_s) == ("1.2", ran_at, True, 2.5)
    assert saved.report == json.loads(json.dumps(_report(quick=True).as_dict()))  # tuples become lists
    assert saved.report["plots"][0]["series"]["sync"] == [[1.0, 950.5]]  # JSON keeps the points
    assert saved.headline == {"throughput_ratio_x": 0.97}
    assert saved.machine["python"] and saved.machine["platform"]
    assert list(path.parent.iterdir()) == [path]  # no partial file left behind


def test_a_new_run_replaces_the_last(tmp_path):
    save_result(_report(quick=True), tmp_path)
    save_result(_report(quick=False, headline={"throughput_ratio_x": 0.5}), tmp_path)
    saved = load_result(tmp_path, "1.2")
    assert saved.quick is False and saved.headline == {"throughput_ratio_x": 0.5}


@pytest.mark.parametrize("content", ["", "{not json", '{"id": "1.2"}', '{"id": "1.3", "ran_at": "x"}', "[]"])
def test_a_damaged_or_missing_result_counts_as_not_run(tmp_path, content):
    assert load_result(tmp_path, "1.2") is None
    (tmp_path / "1.2.json").write_text(content)
    assert load_result(tmp_path, "1.2") is None
    assert load_results(tmp_path, ["1.2"]) == {}


def test_load_results_keeps_those_that_exist(tmp_path):
    save_result(_report("1.1"), tmp_path)
    save_result(_report("2.3"), tmp_path)
    assert sorted(load_results(tmp_path, ["1.1", "1.2", "2.3"])) == ["1.1", "2.3"]


def test_results_dir_prefers_the_option_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "env"))
    assert results_dir(tmp_path / "opt") == tmp_path / "opt"
    assert results_dir() == tmp_path / "env"
    monkeypatch.delenv(RESULTS_ENV)
    default = results_dir()
    assert default.parts[-2:] == ("orderbook-lab", "results") or default.parts[-3:-1] == (
        "orderbook-lab",
        "results",
    )


# ------------------------------------------------------------ headline tables


def test_headline_figures_from_a_fixture_lesson():
    figures = headline_figures(_LESSON.read_text(encoding="utf-8"))
    assert figures == [
        LessonFigure("1.2", "throughput_ratio_x", 0.98, "0.98"),
        LessonFigure("1.2", "per_message_ms", 1234.5, "1,234.5 ms"),
        LessonFigure("1.3", "query_p99_us", None, "—"),
    ]  # the short row is skipped; the table after the next section is not read


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# Lesson\n\nNo figures.\n",
        "# Lesson\n\n## Headline figures\n\nNone yet.\n",
        "# Lesson\n\n| 1.2 | x | 1 |\n",  # a table, but not under the heading
    ],
)
def test_no_headline_section_means_no_figures(text):
    assert headline_figures(text) == []


# ------------------------------------------------------------ status and next


def test_lesson_status_sets_yours_beside_the_lessons(tmp_path):
    save_result(_report("1.2", headline={"throughput_ratio_x": 0.97, "extra_x": 2.0}), tmp_path)
    statuses = lesson_status(
        [("1.1", "Rate"), ("1.2", "Work"), ("1.3", "Queries")],
        headline_figures(_LESSON.read_text(encoding="utf-8")),
        load_results(tmp_path, ["1.1", "1.2", "1.3"]),
    )
    assert [s.id for s in statuses] == ["1.1", "1.2", "1.3"]
    assert statuses[0].saved is None and statuses[0].figures == []
    assert statuses[1].saved is not None
    assert statuses[1].figures == [
        FigureRow("throughput_ratio_x", 0.97, 0.98, "0.98"),
        FigureRow("per_message_ms", None, 1234.5, "1,234.5 ms"),
        FigureRow("extra_x", 2.0, None, ""),  # the result's own figures come after the lesson's
    ]
    assert statuses[2].saved is None
    assert statuses[2].figures == [FigureRow("query_p99_us", None, None, "—")]


def test_next_step_in_lesson_order(tmp_path):
    ids = ["2.1", "1.10", "1.2", "1.1"]
    save_result(_report("1.1", quick=True), tmp_path)
    step = next_step(ids, load_results(tmp_path, ids))
    assert (step.kind, step.experiment_id, step.command) == ("run", "1.2", "orderbook-lab experiment 1.2")
    for experiment_id in ("1.2", "1.10", "2.1"):
        save_result(_report(experiment_id, quick=experiment_id == "2.1"), tmp_path)
    step = next_step(ids, load_results(tmp_path, ids))
    assert (step.kind, step.experiment_id, step.quick_only) == ("full", "1.1", ("1.1", "2.1"))
    save_result(_report("1.1"), tmp_path)
    save_result(_report("2.1"), tmp_path)
    step = next_step(ids, load_results(tmp_path, ids))
    assert (step.kind, step.experiment_id, step.command) == ("done", None, None)
