"""Saved experiment results, and the headline figures lessons quote.

``orderbook-lab experiment ID`` keeps its latest result in one file per
experiment (``1.2.json``) under a results folder: ``--results-dir``, else
``$ORDERBOOK_LAB_RESULTS``, else ``results`` in the user's data directory.
A lesson states the figures it quotes in a ``## Headline figures`` table::

    | experiment | figure | lesson's value |
    | --- | --- | --- |
    | 1.2 | throughput_ratio_x | 0.98 |

``lessons status`` sets each saved result's ``headline`` beside them. No
printing here: the CLI renders what these functions return.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from .base import Report

__all__ = [
    "RESULTS_ENV",
    "SavedResult",
    "LessonFigure",
    "FigureRow",
    "ExperimentStatus",
    "NextStep",
    "results_dir",
    "result_path",
    "save_result",
    "load_result",
    "load_results",
    "headline_figures",
    "lesson_status",
    "next_step",
]

RESULTS_ENV = "ORDERBOOK_LAB_RESULTS"
"""Environment variable naming the results folder (``--results-dir`` wins over it)."""

_FORMAT = 1


def results_dir(override: Path | None = None) -> Path:
    """Where results live: ``override``, else ``$ORDERBOOK_LAB_RESULTS``,
    else ``<user data dir>/orderbook-lab/results``. Creates nothing."""
    if override is not None:
        return Path(override)
    from_env = os.environ.get(RESULTS_ENV)
    if from_env:
        return Path(from_env)
    return platformdirs.user_data_path("orderbook-lab") / "results"


def result_path(directory: Path, experiment_id: str) -> Path:
    """One file per experiment id: the latest run (``1.2.json``)."""
    return Path(directory) / f"{experiment_id}.json"


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


@dataclass(frozen=True)
class SavedResult:
    """One saved run of an experiment: the report as ``Report.as_dict()``,
    when it ran (UTC), whether it was ``--quick``, and where."""

    id: str
    ran_at: datetime
    quick: bool
    report: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)
    wall_s: float | None = None

    @property
    def headline(self) -> dict[str, float]:
        figures = self.report.get("headline") or {}
        return {str(k): float(v) for k, v in figures.items() if isinstance(v, (int, float))}

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "id": self.id,
            "ran_at": self.ran_at.isoformat(),
            "quick": self.quick,
            "wall_s": self.wall_s,
            "machine": self.machine,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SavedResult:
        """Raises ``KeyError``, ``TypeError`` or ``ValueError`` on a malformed document."""
        ran_at = datetime.fromisoformat(data["ran_at"])
        if ran_at.tzinfo is None:
            ran_at = ran_at.replace(tzinfo=UTC)
        report = data["report"]
        if not isinstance(report, dict):
            raise TypeError("report is not an object")
        return cls(
            id=str(data["id"]),
            ran_at=ran_at,
            quick=bool(data["quick"]),
            report=report,
            machine=dict(data.get("machine") or {}),
            wall_s=data.get("wall_s"),
        )


def save_result(
    report: Report,
    directory: Path,
    *,
    ran_at: datetime | None = None,
    wall_s: float | None = None,
) -> Path:
    """Write ``report`` as the latest result of its experiment, replacing the
    previous one atomically (a half-written file never replaces a good one).
    Returns the file written; raises ``OSError`` if it cannot be."""
    saved = SavedResult(
        id=report.id,
        ran_at=ran_at or datetime.now(UTC),
        quick=report.quick,
        report=report.as_dict(),
        machine=_machine(),
        wall_s=wall_s,
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = result_path(directory, report.id)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(saved.as_dict(), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def load_result(directory: Path, experiment_id: str) -> SavedResult | None:
    """The saved result of ``experiment_id``, or None if there is none or it
    cannot be read (a damaged file counts as not run, never as a crash)."""
    path = result_path(directory, experiment_id)
    try:
        saved = SavedResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return saved if saved.id == experiment_id else None


def load_results(directory: Path, ids: Iterable[str]) -> dict[str, SavedResult]:
    """Saved results of ``ids`` that exist, by id."""
    found = {}
    for experiment_id in ids:
        saved = load_result(directory, experiment_id)
        if saved is not None:
            found[experiment_id] = saved
    return found


# ------------------------------------------------------------ lessons' headline figures


@dataclass(frozen=True)
class LessonFigure:
    """One row of a lesson's headline table; ``value`` is None when the
    lesson quotes none ("—") or the cell is not a number."""

    experiment: str
    figure: str
    value: float | None
    text: str


_HEADING = re.compile(r"^##\s+headline figures\s*#*\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?", re.IGNORECASE)


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner.removeprefix("|").removesuffix("|")
    return [cell.strip().strip("`").strip() for cell in inner.split("|")]


def _number(text: str) -> float | None:
    """ "0.98", "1,234", "0.98x", "~12 %" -> a float; "—", "-", "" -> None."""
    match = _NUMBER.search(text.replace("\u2212", "-"))
    if match is None:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


def headline_figures(markdown: str) -> list[LessonFigure]:
    """The rows of the lesson's ``## Headline figures`` table, in order.

    Tolerant: no such section, or no table in it, means no figures; the
    header and separator rows, and rows with fewer than three cells, are
    skipped. O(lines).

    >>> text = "# L\\n\\n## Headline figures\\n\\n| experiment | figure | lesson's value |\\n"
    >>> text += "| --- | --- | --- |\\n| 1.2 | throughput_ratio_x | 0.98 |\\n| 1.3 | p99_ms | — |\\n"
    >>> [(f.experiment, f.figure, f.value) for f in headline_figures(text)]
    [('1.2', 'throughput_ratio_x', 0.98), ('1.3', 'p99_ms', None)]
    >>> headline_figures("# No table here\\n")
    []
    """
    figures: list[LessonFigure] = []
    inside = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if inside and not stripped.startswith("###"):
                break  # the next section at the same level or above ends it
            inside = inside or bool(_HEADING.match(stripped))
            continue
        if not inside or not stripped.startswith("|"):
            continue
        cells = _cells(stripped)
        if len(cells) < 3:
            continue
        experiment, figure, value = cells[0], cells[1], cells[2]
        if experiment.lower() == "experiment" or set(experiment) <= set("-: "):
            continue  # header or separator row
        figures.append(LessonFigure(experiment, figure, _number(value), value))
    return figures


# ------------------------------------------------------------ status and next


@dataclass(frozen=True)
class FigureRow:
    """One headline figure: yours (from the saved result) beside the lesson's."""

    figure: str
    yours: float | None
    lessons: float | None
    lessons_text: str = ""


@dataclass(frozen=True)
class ExperimentStatus:
    id: str
    title: str
    saved: SavedResult | None
    figures: list[FigureRow]


def lesson_status(
    experiments: Iterable[tuple[str, str]],
    figures: Iterable[LessonFigure],
    results: Mapping[str, SavedResult],
) -> list[ExperimentStatus]:
    """Each experiment ``(id, title)`` of a lesson with its saved result and
    its figures: the lesson's table rows first (in the lesson's order),
    then any other headline figure the saved result carries."""
    by_experiment: dict[str, list[LessonFigure]] = {}
    for figure in figures:
        by_experiment.setdefault(figure.experiment, []).append(figure)
    statuses = []
    for experiment_id, title in experiments:
        saved = results.get(experiment_id)
        yours = saved.headline if saved is not None else {}
        rows = [
            FigureRow(f.figure, yours.get(f.figure), f.value, f.text)
            for f in by_experiment.get(experiment_id, [])
        ]
        quoted = {row.figure for row in rows}
        rows += [FigureRow(name, value, None, "") for name, value in yours.items() if name not in quoted]
        statuses.append(ExperimentStatus(experiment_id, title, saved, rows))
    return statuses


@dataclass(frozen=True)
class NextStep:
    """What to run next. ``kind`` is "run" (``experiment_id`` has never
    run), "full" (every experiment ran, ``experiment_id`` only ``--quick``)
    or "done" (every experiment ran in full; ``experiment_id`` is None)."""

    kind: str
    experiment_id: str | None
    quick_only: tuple[str, ...] = ()

    @property
    def command(self) -> str | None:
        if self.experiment_id is None:
            return None
        return f"orderbook-lab experiment {self.experiment_id}"


def _order(experiment_id: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in experiment_id.split("."))
    except ValueError:
        return (1 << 30,)


def next_step(ids: Iterable[str], results: Mapping[str, SavedResult]) -> NextStep:
    """The first experiment, in lesson order (1.1, 1.2, ..., 2.1), with no
    saved result; else the first that ran only quick; else done.

    >>> next_step(["1.2", "1.1"], {})
    NextStep(kind='run', experiment_id='1.1', quick_only=())
    >>> next_step([], {}).kind
    'done'
    """
    ordered = sorted(ids, key=_order)
    for experiment_id in ordered:
        if experiment_id not in results:
            return NextStep("run", experiment_id)
    quick_only = tuple(i for i in ordered if results[i].quick)
    if quick_only:
        return NextStep("full", quick_only[0], quick_only)
    return NextStep("done", None)
