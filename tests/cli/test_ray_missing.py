"""Without the ``ray`` extra, ``--engine ray`` is a usage error: one line
that says how to install it, exit status 2, no traceback. Simulated by
making ``import ray`` fail (a ``None`` in ``sys.modules``), so this runs
whether the extra is installed or not."""

import sys

from cli_runner import invoke


def test_engine_ray_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    result = invoke("run", "--engine", "ray", "--messages", "100")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "uv sync --extra ray" in lines[0], result.output
    assert "Traceback" not in result.output
