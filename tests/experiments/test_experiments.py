"""Every registered experiment runs in quick mode and reports measured numbers.

Shape and sanity only (tables filled, numbers finite, findings present):
speed is never asserted, since the machine is shared and noisy.
"""

import math
import re

import pytest

from orderbook_lab.experiments import EXPERIMENTS, Experiment, Report, Table, lesson_files


def _numbers(report: Report) -> list[tuple[str, float]]:
    """(column, value) for every numeric cell of every table."""
    return [
        (column, value)
        for table in report.tables
        for row in table.rows
        for column, value in zip(table.columns, row, strict=True)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


@pytest.fixture(scope="module")
def reports(quick_reports) -> dict[str, Report]:
    """Each experiment run once, quick, for all the checks below (see conftest)."""
    return quick_reports


def test_the_registry_is_keyed_by_id():
    assert EXPERIMENTS, "no experiments registered"
    for experiment_id, experiment in EXPERIMENTS.items():
        assert isinstance(experiment, Experiment)
        assert experiment.id == experiment_id
        assert re.fullmatch(r"\d+\.\d+", experiment_id)
        assert experiment.title and experiment.question.endswith("?")
    assert {"1.1", "1.2", "1.3", "1.4"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment_id", sorted(EXPERIMENTS))
def test_quick_run_has_filled_tables_and_findings(reports, experiment_id):
    report = reports[experiment_id]
    assert report.id == experiment_id
    assert report.quick is True
    assert report.tables
    for table in report.tables:
        assert table.title and table.columns
        assert table.rows, f"{experiment_id}: empty table {table.title!r}"
        assert all(len(row) == len(table.columns) for row in table.rows)
    assert report.findings
    assert all(isinstance(f, str) and len(f) > 20 for f in report.findings)
    # Findings quote measured figures: each carries at least one number.
    assert all(re.search(r"\d", f) for f in report.findings)
    numbers = _numbers(report)
    assert numbers
    assert all(math.isfinite(x) for _, x in numbers)
    # Overhead is measured time minus calibrated work: noise on a shared
    # machine can push it below zero. Everything else is a count, a rate or
    # a latency.
    assert all(x >= 0 for column, x in numbers if "overhead" not in column), numbers
    assert report.as_dict()["id"] == experiment_id


def _column(table: Table, name: str) -> list:
    """The values of the column called ``name`` (or, failing that, the one
    column whose name starts with it): tests do not pin column order."""
    names = [c for c in table.columns if c == name] or [c for c in table.columns if c.startswith(name)]
    assert len(names) == 1, f"{table.title}: no single column {name!r} in {table.columns}"
    index = table.columns.index(names[0])
    return [row[index] for row in table.rows]


def _only_table(report: Report) -> Table:
    [table] = report.tables
    return table


def test_rate_sweep_shape(reports):
    table = _only_table(reports["1.1"])
    offered = _column(table, "offered (msg/s)")
    assert offered == sorted(offered) and len(offered) >= 3
    assert all(x > 0 for x in _column(table, "achieved (msg/s)"))
    p50s, p99s, maxes = (_column(table, f"latency {q} (ms)") for q in ("p50", "p99", "max"))
    assert all(a <= b <= c for a, b, c in zip(p50s, p99s, maxes, strict=True))


def test_work_sweep_shape(reports):
    table = _only_table(reports["1.2"])
    ideal = _column(table, "1 / work (msg/s)")
    measured = _column(table, "measured (msg/s)")
    [percent_name] = [c for c in table.columns if "%" in c]
    percent = _column(table, percent_name)
    work = _column(table, table.columns[0])  # the variable swept comes first
    for work_ms, ideal_rate, measured_rate, share in zip(work, ideal, measured, percent, strict=True):
        assert measured_rate > 0
        if work_ms:
            assert ideal_rate == pytest.approx(1000 / work_ms, rel=0.01)
            assert share == pytest.approx(100 * measured_rate / ideal_rate, abs=0.2)


def test_queries_shape(reports):
    table = _only_table(reports["1.3"])
    assert all(x > 0 for x in _column(table, "msg/s"))
    assert all(x > 0 for x in _column(table, "queries"))
    p50s, p99s, maxes = (_column(table, f"query {q} (µs)") for q in ("p50", "p99", "max"))
    assert all(a <= b <= c for a, b, c in zip(p50s, p99s, maxes, strict=True))


def test_asset_sweep_shape(reports):
    table = _only_table(reports["1.4"])
    assets = _column(table, "assets")
    assert assets == sorted(assets) and len(assets) >= 2
    snapshots = _column(table, "snapshot messages")
    assert all(s >= a for s, a in zip(snapshots, assets, strict=True))  # every book starts with one
    assert all(x > 0 for x in _column(table, "msg/s"))
    p50s, p99s = _column(table, "processing p50 (µs)"), _column(table, "processing p99 (µs)")
    assert all(0 < a <= b for a, b in zip(p50s, p99s, strict=True))


def test_table_refuses_a_row_of_the_wrong_width():
    table = Table("t", ["a", "b"])
    table.add(1, 2)
    with pytest.raises(ValueError, match="2 columns"):
        table.add(1, 2, 3)


def test_every_experiment_a_lesson_names_is_registered():
    lessons = lesson_files()
    if not lessons:
        pytest.skip("no lessons/ directory in this checkout")
    for number, path in sorted(lessons.items()):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# "), f"{path.name}: the first line is the title"
        named = set(re.findall(r"orderbook-lab experiment (\d+\.\d+)", text))
        assert named <= set(EXPERIMENTS), f"{path.name} names unregistered experiments"
        # Each lesson's own experiments are named in it, so a reader can run them.
        own = {e for e in EXPERIMENTS if e.split(".")[0] == str(number)}
        assert own <= named, f"{path.name} does not name {sorted(own - named)}"


HEADLINED = ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5"]


@pytest.mark.parametrize("experiment_id", HEADLINED)
def test_headline_figures_are_a_few_named_finite_numbers(reports, experiment_id):
    headline = reports[experiment_id].headline
    assert 1 <= len(headline) <= 3, headline
    for name, value in headline.items():
        assert re.fullmatch(r"[a-z0-9_]+", name), name
        assert isinstance(value, (int, float)) and math.isfinite(value), (name, value)


def test_the_lessons_list_each_headline_figure_by_its_name_in_code(reports):
    lessons = lesson_files()
    if not lessons:
        pytest.skip("no lessons/ directory in this checkout")
    for number in (1, 2):
        text = lessons[number].read_text(encoding="utf-8")
        _, found, section = text.partition("## Headline figures")
        assert found, f"lesson {number} has no headline figures section"
        listed = set(re.findall(r"^\| (\d+\.\d+) \| ([a-z0-9_]+) \|", section, flags=re.M))
        named = {(e, name) for e in HEADLINED if e.startswith(f"{number}.") for name in reports[e].headline}
        assert listed == named


@pytest.mark.parametrize("experiment_id", ["1.1", "2.2"])
def test_plots_carry_points(reports, experiment_id):
    [plot] = reports[experiment_id].plots
    assert plot.series and all(len(points) >= 2 for points in plot.series.values())
    assert all(math.isfinite(x) and y >= 0 for points in plot.series.values() for x, y in points)
