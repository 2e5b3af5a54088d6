"""Saved results and where the learner stands: ``experiment`` saves,
``lessons status`` sets results beside the lessons' figures, ``lessons
next`` names what to run, ``lessons N`` appends the figures; and the
plots ``experiment`` draws. Every test keeps results in tmp_path."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import invoke, ok
from rich.console import Console
from rich.text import Text

from orderbook_lab.cli.plot import plot_text, print_plot
from orderbook_lab.experiments import EXPERIMENTS, Experiment, Plot, Report, lesson_files
from orderbook_lab.experiments.results import save_result

commands = importlib.import_module("orderbook_lab.cli.app")  # the module, not the Typer app
_FIXTURE_LESSON = Path(__file__).parents[1] / "fixtures" / "lessons" / "001_fixture.md"


def _flat(text: str) -> str:
    """Table text with the borders and wrapping gone, for phrase matching."""
    for border in "│┃┆|":
        text = text.replace(border, " ")
    return " ".join(text.split())


@pytest.fixture
def lessons_dir(tmp_path, monkeypatch):
    """A lessons directory holding the fixture lesson (with a headline table) as lesson 1."""
    directory = tmp_path / "lessons"
    directory.mkdir()
    shutil.copy(_FIXTURE_LESSON, directory / "001_fixture.md")
    monkeypatch.setattr(commands, "lesson_files", lambda: lesson_files(directory))
    return directory


def _row(stdout: str, experiment_id: str) -> str:
    """An experiment's rows in a status table (its cells may wrap over several lines), flattened."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"│ {experiment_id} "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("│ ") or (line[2:4].strip() and line[2].isdigit()):
            break  # the table's end, or the next experiment
        block.append(line)
    return _flat("\n".join(block))


def test_experiment_saves_then_status_and_next_show_it(tmp_path, lessons_dir):
    results = tmp_path / "results"
    ok("experiment", "1.2", "--quick", "--results-dir", results)
    saved = json.loads((results / "1.2.json").read_text())
    assert saved["id"] == "1.2" and saved["quick"] is True
    assert saved["report"]["id"] == "1.2" and saved["report"]["tables"]
    assert saved["machine"]["python"] and saved["ran_at"]

    status = ok("lessons", "status", "--results-dir", results)
    assert "quick" in _row(status.stdout, "1.2")  # ran, and how
    assert "not run" in _row(status.stdout, "1.1")
    assert "0.98" in _row(status.stdout, "1.2")  # the lesson's figure
    for value in saved["report"]["headline"].values():  # and the run's, where it has some
        assert f"{value:.2f}"[:3] in _row(status.stdout, "1.2").replace(",", "")  # 27,484 is 27484
    assert f"1 of {len(EXPERIMENTS)} experiments run" in _flat(status.stdout)

    step = ok("lessons", "next", "--results-dir", results)
    assert "orderbook-lab experiment 1.1" in step.stdout  # the first not yet run, in lesson order
    assert "experiment 1.2" not in step.stdout


def test_status_sets_a_saved_figure_beside_the_lessons(tmp_path, lessons_dir):
    report = Report("1.2", "Work", quick=False, headline={"throughput_ratio_x": 0.97, "extra_x": 3.5})
    save_result(report, tmp_path)
    status = ok("lessons", "status", "--results-dir", tmp_path)
    row = _row(status.stdout, "1.2")
    assert "0.97 0.98" in row  # yours beside the lesson's
    assert "full" in row
    assert "3.50 —" in row  # a figure the lesson does not quote
    assert "Lesson 1: A fixture lesson" in status.stdout
    assert "Lesson 2" in status.stdout  # lessons without a file still list their experiments


def test_results_dir_from_the_environment(tmp_path, monkeypatch, lessons_dir):
    save_result(Report("1.1", "Rate"), tmp_path / "env")
    monkeypatch.setenv("ORDERBOOK_LAB_RESULTS", str(tmp_path / "env"))
    assert "orderbook-lab experiment 1.2" in ok("lessons", "next").stdout


def test_next_when_all_ran_suggests_a_full_run(tmp_path):
    for experiment_id in EXPERIMENTS:
        save_result(Report(experiment_id, "x", quick=experiment_id.endswith(".3")), tmp_path)
    step = ok("lessons", "next", "--results-dir", tmp_path)
    assert "Every experiment has run" in step.stdout
    assert "orderbook-lab experiment 1.3" in step.stdout
    for experiment_id in EXPERIMENTS:
        save_result(Report(experiment_id, "x", quick=False), tmp_path)
    assert "in full" in ok("lessons", "next", "--results-dir", tmp_path).stdout


def test_lesson_n_appends_your_figures(tmp_path, lessons_dir):
    save_result(Report("1.2", "Work", headline={"throughput_ratio_x": 0.97}), tmp_path)
    shown = ok("lessons", 1, "--results-dir", tmp_path)
    text = shown.stdout
    assert "It quotes figures" in text  # the lesson, rendered
    table = text[text.index("Lesson 1: A fixture lesson", text.index("It quotes figures")) :]
    assert "0.97 0.98" in _row(table, "1.2")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["lessons", "frobnicate"], "expected a lesson number, status or next"),
        (["lessons", "1.5"], "expected a lesson number"),
        (["lessons", "-3"], ""),  # an option-looking word: click's own usage error
        (["lessons", "7"], "no lesson 7"),
        (["lessons", "status", "--bogus"], "No such option"),
    ],
)
def test_bad_lessons_arguments_exit_2(lessons_dir, args, phrase):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert phrase in result.output
    if phrase and "No such option" not in phrase:
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_results_dir_that_is_a_file_does_not_lose_the_run(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setitem(EXPERIMENTS, "9.1", _fake_experiment(Report("9.1", "Fake")))
    monkeypatch.setattr(commands, "EXPERIMENTS", EXPERIMENTS)
    monkeypatch.setenv("ORDERBOOK_LAB_RESULTS", str(blocker / "sub"))
    result = ok("experiment", "9.1")
    assert "result not saved" in result.stderr


# ------------------------------------------------------------ plots


def _plot() -> Plot:
    plot = Plot("Latency vs rate", "rate (msg/s)", "p99 latency (ms)", log_x=True)
    for x, y in ((10, 1.0), (100, 2.0), (1000, 40.0)):
        plot.add("sync", x, y)
        plot.add("asyncio", x, y / 2)
    return plot


def _fake_experiment(report: Report) -> Experiment:
    return Experiment(report.id, report.title, "?", lambda quick, progress: report)


def test_experiment_draws_its_plots_after_the_tables(tmp_path, monkeypatch):
    report = Report("9.1", "Fake", findings=["a finding"], plots=[_plot()])
    monkeypatch.setitem(EXPERIMENTS, "9.1", _fake_experiment(report))
    shown = ok("experiment", "9.1", "--results-dir", tmp_path, "--json", tmp_path / "r.json")
    assert "Latency vs rate" in shown.stdout
    assert "rate (msg/s)" in shown.stdout and "asyncio" in shown.stdout  # axis label, legend
    assert "\x1b[" not in shown.stdout  # not a terminal: no colour codes
    assert shown.stdout.index("Latency vs rate") < shown.stdout.index("- a finding")
    kept = json.loads((tmp_path / "r.json").read_text())["plots"][0]
    assert kept["series"]["sync"] == [[10, 1.0], [100, 2.0], [1000, 40.0]]
    assert json.loads((tmp_path / "9.1.json").read_text())["report"]["plots"] == [kept]


def test_plot_is_sized_to_the_console():
    text = plot_text(_plot(), 60, 15)
    lines = text.splitlines()
    assert len(lines) <= 15
    assert all(len(line) <= 60 for line in Text.from_ansi(text).plain.splitlines())
    assert "Latency vs rate" in Text.from_ansi(text).plain


@pytest.mark.parametrize(
    ("plot", "width"),
    [
        (_plot(), 24),  # a tiny terminal
        (Plot("Empty", "x", "y"), 80),  # nothing to draw
        (Plot("Log of zero", "x", "y", series={"s": [(0.0, 1.0), (1.0, 2.0)]}, log_x=True), 80),
    ],
)
def test_a_plot_that_cannot_be_drawn_is_a_one_line_note(plot, width):
    console = Console(width=width, file=None, record=True, force_terminal=False)
    print_plot(plot, console)
    shown = console.export_text()
    assert shown.startswith("(plot not drawn")
    assert len(shown.strip().splitlines()) == 1


@pytest.mark.parametrize("word", ["frobnicate", "0"])
def test_console_entry_bad_lessons_word_is_one_stderr_line(word, tmp_path):
    env = {**os.environ, "COLUMNS": "40", "NO_COLOR": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", "from orderbook_lab.cli import main; main()", "lessons", word],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert len(completed.stderr.splitlines()) == 1 and completed.stderr.startswith("error:")
