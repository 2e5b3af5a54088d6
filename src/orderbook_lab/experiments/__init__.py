"""The lessons' experiments, by id ("1.2" = phase 1, experiment 2).

``EXPERIMENTS`` is the manifest: every experiment a lesson quotes is here,
runs with ``orderbook-lab experiment ID`` and, in CI, with ``--quick``.
"""

from __future__ import annotations

from pathlib import Path

from . import phase1, phase2, phase3, phase4, phase5, phase6, phase7, phase8
from .base import Experiment, Plot, Progress, Report, Table

__all__ = ["EXPERIMENTS", "Experiment", "Plot", "Report", "Table", "lesson_files", "run_experiment"]

EXPERIMENTS: dict[str, Experiment] = {
    e.id: e
    for e in (
        *phase1.EXPERIMENTS,
        *phase2.EXPERIMENTS,
        *phase3.EXPERIMENTS,
        *phase4.EXPERIMENTS,
        *phase5.EXPERIMENTS,
        *phase6.EXPERIMENTS,
        *phase7.EXPERIMENTS,
        *phase8.EXPERIMENTS,
    )
}

_LESSONS_DIR = Path(__file__).resolve().parents[3] / "lessons"


def run_experiment(
    experiment: Experiment, *, quick: bool = False, progress: Progress | None = None
) -> Report:
    return experiment.run(quick, progress or (lambda _text: None))


def lesson_files(directory: Path = _LESSONS_DIR) -> dict[int, Path]:
    """Lesson number to its Markdown file (``lessons/001_*.md`` is lesson 1)."""
    if not directory.is_dir():
        return {}
    found = {}
    for path in directory.glob("[0-9][0-9][0-9]_*.md"):
        found[int(path.name[:3])] = path
    return found
