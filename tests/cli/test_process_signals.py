"""The CLI running phase 3, interrupted: after SIGTERM, Ctrl-C (SIGINT to
the whole process group, as a terminal sends it) or a SIGKILL of the CLI
itself, no process of the run remains; a worker killed mid-run ends the
command with one line of error and exit status 1.

Each test waits for the CLI's readiness line (it names the worker pids),
never for a fixed time, and watches every process it saw with a pidfd,
which becomes readable the moment that process has exited.
"""

import os
import signal

import pytest
from cli_process import CliRun, children

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds"),
]


class _Run(CliRun):
    """A long phase 3 run of the CLI in its own process group."""

    def __init__(self) -> None:
        super().__init__(["--phase", "3", "--processes", "2", "--messages", "100000000", "--work-ms", "1",
                          "--assets", "8"])  # fmt: skip

    def wait_ready(self) -> None:
        super().wait_ready()
        assert set(self.workers) <= set(children(self.proc.pid))


@pytest.fixture
def cli_run():
    run = _Run()
    try:
        yield run
    finally:
        run.close()


def test_sigterm_mid_run_stops_every_process(cli_run):
    cli_run.wait_ready()
    cli_run.proc.send_signal(signal.SIGTERM)
    code, stderr = cli_run.finish()
    assert code == 128 + signal.SIGTERM
    # The CLI joined its workers before exiting: they are gone already.
    assert [pid for pid in cli_run.workers if pid in cli_run.alive_after(0)] == []
    assert cli_run.alive_after(10) == []  # the resource tracker follows its parent
    assert "Traceback" not in stderr


def test_ctrl_c_mid_run_stops_every_process(cli_run):
    cli_run.wait_ready()
    os.killpg(cli_run.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code, stderr = cli_run.finish()
    assert code == 130
    assert [pid for pid in cli_run.workers if pid in cli_run.alive_after(0)] == []
    assert cli_run.alive_after(10) == []
    assert "Traceback" not in stderr  # workers ignore SIGINT: no KeyboardInterrupt in them


def test_workers_leave_when_the_cli_itself_is_killed(cli_run):
    cli_run.wait_ready()
    cli_run.proc.kill()  # no finally block runs in the parent
    cli_run.proc.wait()
    # Each worker reads end-of-file on its queue and exits by itself.
    assert cli_run.alive_after(10) == []


def test_a_killed_worker_is_one_line_of_error_and_exit_1(cli_run):
    cli_run.wait_ready()
    victim = cli_run.workers[0]
    os.kill(victim, signal.SIGKILL)
    code, stderr = cli_run.finish()
    assert code == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"(pid {victim}) was killed by SIGKILL" in errors[0]
    assert "Traceback" not in stderr
    assert cli_run.alive_after(10) == []
