"""Phase 8 ends gracefully: SIGTERM, or Ctrl-C to the whole process group,
stops intake, drains what was accepted and ends the run normally (exit 0,
its table printed, every accepted message processed or counted), and no
process of the run is left. A second signal still stops at once.

As in the phase 3 signal tests, the run is watched through its readiness
line and pidfds, never a fixed wait."""

import json
import os
import signal

import pytest
from cli_process import CliRun

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds"),
]


@pytest.fixture
def phase8_run(tmp_path):
    out = tmp_path / "result.json"
    run = CliRun(["--phase", "8", "--processes", "2", "--duration", "60", "--rate", "800", "--work-ms", "1",
                  "--assets", "8", "--json", str(out)])  # fmt: skip
    run.result_path = out
    try:
        yield run
    finally:
        run.close()


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_drains_and_ends_the_run_with_its_table(phase8_run, how):
    phase8_run.wait_ready()
    if how == "SIGTERM":
        phase8_run.proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(phase8_run.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code, stderr = phase8_run.finish()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert f"stopped by {'SIGTERM' if how == 'SIGTERM' else 'SIGINT'}" in stderr
    result = json.loads(phase8_run.result_path.read_text())
    messages = result["messages"]
    assert messages["generated"] == messages["processed"] + messages["dropped"] + messages["invalid"]
    shutdown = result["shutdown"]
    assert shutdown["drained_ms"] <= shutdown["drain_timeout_s"] * 1e3
    assert phase8_run.alive_after(10) == []


def test_a_second_sigterm_stops_at_once(phase8_run):
    phase8_run.wait_ready()
    phase8_run.proc.send_signal(signal.SIGTERM)
    phase8_run.proc.send_signal(signal.SIGTERM)
    code, _stderr = phase8_run.finish()
    assert code in (0, 128 + signal.SIGTERM)  # the second may land after the drain finished
    assert phase8_run.alive_after(10) == []
