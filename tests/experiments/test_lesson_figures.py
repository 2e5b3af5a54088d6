"""Every figure a lesson quotes in its ``## Headline figures`` table is the
figure its reference run printed, to the digits the lesson shows.

``lessons/runs/ID.json`` is the full run of experiment ID the lesson quotes,
written by ``orderbook-lab experiment ID --json lessons/runs/ID.json`` on a
quiet machine (the lesson names it). A figure quoted from nowhere, or from
an older run, fails here instead of drifting silently.
"""

import json
from pathlib import Path

import pytest

from orderbook_lab.experiments import lesson_files
from orderbook_lab.experiments.results import headline_figures

_RUNS = Path(__file__).resolve().parents[2] / "lessons" / "runs"


def _quoted():
    for number, path in sorted(lesson_files().items()):
        for figure in headline_figures(path.read_text(encoding="utf-8")):
            if figure.value is not None:
                yield pytest.param(figure, id=f"lesson{number}-{figure.experiment}-{figure.figure}")


def _decimals(text: str) -> int:
    digits = text.replace(",", "").split()[0]
    return len(digits.split(".")[1]) if "." in digits else 0


@pytest.mark.parametrize("figure", list(_quoted()))
def test_a_quoted_figure_is_the_reference_runs(figure):
    path = _RUNS / f"{figure.experiment}.json"
    assert path.is_file(), (
        f"no reference run for {figure.experiment}: write {path.relative_to(_RUNS.parents[1])}"
    )
    run = json.loads(path.read_text())
    assert run["id"] == figure.experiment and run["quick"] is False
    assert figure.figure in run["headline"], f"{figure.experiment} has no figure {figure.figure!r}"
    measured = run["headline"][figure.figure]
    assert abs(measured - figure.value) <= 0.5 * 10 ** -_decimals(figure.text) + 1e-9, (
        f"{figure.experiment} {figure.figure}: the lesson says {figure.text}, the run printed {measured}"
    )


def test_every_lesson_quotes_some_figures():
    assert len(list(_quoted())) >= 20
