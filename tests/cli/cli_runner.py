"""Invoking the Typer app in-process, for the CLI tests in this folder."""

from typer.testing import CliRunner

from orderbook_lab.cli import app

runner = CliRunner()


def invoke(*args: object):
    """Run ``orderbook-lab ARGS``; an exception other than an exit is raised."""
    result = runner.invoke(app, [str(arg) for arg in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def ok(*args: object):
    """``invoke`` that must exit 0."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result
