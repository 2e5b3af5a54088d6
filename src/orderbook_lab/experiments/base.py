"""What an experiment is, and how its findings are reported.

An experiment is a function ``run(quick, progress) -> Report`` that runs
engines on seeded streams and returns tables of measured numbers plus
findings: sentences whose figures are computed from those tables, never
written in advance. ``--quick`` shrinks the runs so CI can execute every
experiment; the shape of the answer stays the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..engines import RunConfig, RunStats, create_engine, run_engine

__all__ = ["Experiment", "Report", "Table", "Plot", "Progress", "measure"]

Progress = Callable[[str], None]


@dataclass
class Table:
    """Rows of measured values under named columns (units in the names)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.title}: {len(values)} values for {len(self.columns)} columns")
        self.rows.append(list(values))


@dataclass
class Plot:
    """A curve that says more than a table: named series of (x, y) points
    over one x axis. The CLI draws it in the terminal; ``--json`` keeps the
    points. Units go in the labels, as in table columns."""

    title: str
    x_label: str
    y_label: str
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    log_x: bool = False

    def add(self, name: str, x: float, y: float) -> None:
        self.series.setdefault(name, []).append((x, y))


@dataclass
class Report:
    """What one experiment found. ``headline`` names the few figures a
    lesson quotes (name -> value, units in the name, e.g.
    ``"throughput_ratio_x"``): what ``lessons status`` sets beside the
    lesson's own. ``findings`` are sentences chosen by the figures."""

    id: str
    title: str
    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    quick: bool = False
    plots: list[Plot] = field(default_factory=list)
    headline: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Experiment:
    """``id`` is "phase.n"; ``question`` is what the lesson asks of it."""

    id: str
    title: str
    question: str
    run: Callable[[bool, Progress], Report]


def measure(config: RunConfig, progress: Progress | None = None) -> RunStats:
    """One run of ``config`` on its synthetic stream."""
    if progress is not None:
        progress(f"{config.engine}: {config.describe()}")
    return run_engine(create_engine(config), config.synthetic_source())
