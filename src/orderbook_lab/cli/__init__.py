"""The ``orderbook-lab`` command line. Results go to stdout, progress and
errors to stderr; bad arguments exit with status 2 and one line of reason."""

import sys

import typer

from .app import app, err

# Typer raises click's UsageError for every bad argument; newer Typer
# releases vendor click privately, so reach the class through a public one.
_UsageError = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")


def main() -> None:
    """Entry point: a usage error becomes one stderr line and exit 2."""
    try:
        code = app(standalone_mode=False)
    except _UsageError as error:
        if not error.format_message():  # a bare command: Typer has shown its help
            sys.exit(0)
        command = error.ctx.command_path if error.ctx is not None else "orderbook-lab"
        err.print(
            f"error: {error.format_message()} (see: {command} --help)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
