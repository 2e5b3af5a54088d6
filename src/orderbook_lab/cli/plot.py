"""An experiment's plots drawn in the terminal with plotext.

plotext only builds the picture (``build()``, never ``show()``); rich
prints it, so colours reach a terminal and nothing else, and nothing is
written to stdout behind the console's back. plotext 6 (a figure object)
and 5 (module functions) are both supported: the bounds allow either.
"""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.text import Text

_MIN_WIDTH = 30
_MIN_HEIGHT = 8
_MAX_HEIGHT = 20


def _build_v6(plt, plot, width: int, height: int) -> str:
    figure = plt.figure
    figure.clear()
    figure.plot_size(width, height)
    figure.theme("simple")  # no background colour: readable on dark and light terminals
    figure.title(plot.title)
    figure.label(plot.x_label, "x")
    figure.label(plot.y_label, "y")
    for name, points in plot.series.items():
        if not points:
            continue
        xs, ys = zip(*sorted(points), strict=True)
        signal = figure.signal(list(xs), list(ys))
        signal.lines()
        signal.label(name)
        figure.draw(signal)
    if plot.log_x:
        figure.ruler("x").scale("log")
    try:
        return figure.build().string()
    finally:
        figure.clear()


def _build_v5(plt, plot, width: int, height: int) -> str:
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.title(plot.title)
    plt.xlabel(plot.x_label)
    plt.ylabel(plot.y_label)
    for name, points in plot.series.items():
        if not points:
            continue
        xs, ys = zip(*sorted(points), strict=True)
        plt.plot(list(xs), list(ys), label=name)
    if plot.log_x:
        plt.xscale("log")
    try:
        return plt.build()
    finally:
        plt.clear_figure()


def plot_text(plot, width: int, height: int) -> str:
    """``plot`` (an experiments ``Plot``) as plotext's text, ANSI colours
    included; raises whatever plotext raises (too small, bad data)."""
    if width < _MIN_WIDTH or height < _MIN_HEIGHT:
        raise ValueError(f"{width}x{height} cells is too small for a plot")
    if not any(plot.series.values()):
        raise ValueError("no points to plot")
    if plot.log_x and any(x <= 0 for points in plot.series.values() for x, _ in points):
        raise ValueError("a log axis needs x > 0")
    import plotext as plt  # imported on use: most commands draw nothing

    if hasattr(plt, "figure") and hasattr(plt.figure, "signal"):
        return _build_v6(plt, plot, width, height)
    return _build_v5(plt, plot, width, height)


def plot_renderable(plot, console: Console) -> RenderableType:
    """The plot sized to the console, or a one-line note if it cannot be drawn."""
    width = console.width
    height = max(_MIN_HEIGHT, min(_MAX_HEIGHT, console.height - 4))
    try:
        text = plot_text(plot, width, height)
    except Exception as error:  # a plot is a bonus: never lose a run's tables to it
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Text(
            f"(plot not drawn, {reason}: {plot.title})", style="dim", no_wrap=True, overflow="ellipsis"
        )
    return Text.from_ansi(text, no_wrap=True, overflow="crop")


def print_plot(plot, console: Console) -> None:
    """Print ``plot`` below what is there: the picture, cropped rather than
    wrapped, or its one-line note."""
    console.print(plot_renderable(plot, console), no_wrap=True, overflow="ellipsis", crop=True)
