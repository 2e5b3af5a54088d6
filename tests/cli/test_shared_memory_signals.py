"""The CLI running phase 4, interrupted: after SIGTERM, Ctrl-C (SIGINT to
the whole process group), a worker SIGKILLed mid-run, or the CLI itself
SIGKILLed, no process of the run remains and /dev/shm holds nothing of it.

Each test waits for the CLI's readiness line (printed once every worker has
created its segments), checks that the run's segments exist, then signals.
Segment names start with ``obl-{pid of the CLI}-``, so the test finds its
run's segments without being told the prefix. The fixture kills whatever is
left and unlinks any segment of the run, even when the test fails.
"""

from __future__ import annotations

import os
import signal

import pytest
from cli_process import CliRun

from orderbook_lab.engines._shm import cleanup
from orderbook_lab.engines._shm.segments import SHM_DIR

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "pidfd_open") or not SHM_DIR.is_dir(), reason="needs Linux"),
]


class _Run(CliRun):
    """A long phase 4 run of the CLI, with queries, in its own process group."""

    def __init__(self) -> None:
        super().__init__(["--phase", "4", "--processes", "2", "--messages", "100000000", "--work-ms", "1",
                          "--assets", "8", "--query-rate", "200"])  # fmt: skip

    def segments(self) -> list[str]:
        start = f"obl-{self.proc.pid}-"
        return sorted(name for name in os.listdir(SHM_DIR) if name.startswith(start))

    def wait_ready(self) -> None:
        super().wait_ready()
        # Each worker made its directory before it said Ready.
        assert {name.split("-")[-2] for name in self.segments()} >= {"w0", "w1"}

    def close(self) -> None:
        super().close()
        for prefix in {name.rsplit("-w", 1)[0] for name in self.segments()}:
            cleanup(prefix)


@pytest.fixture
def cli_run():
    run = _Run()
    try:
        yield run
    finally:
        run.close()


def test_sigterm_mid_run_leaves_nothing_in_dev_shm(cli_run):
    cli_run.wait_ready()
    cli_run.proc.send_signal(signal.SIGTERM)
    code, stderr = cli_run.finish()
    assert code == 128 + signal.SIGTERM
    assert cli_run.segments() == []
    assert cli_run.alive_after(10) == []
    assert "Traceback" not in stderr
    # The run unlinked its own segments: the resource tracker (whose stderr
    # is ours too) found nothing left to clean up after it.
    assert "leaked" not in stderr


def test_ctrl_c_mid_run_leaves_nothing_in_dev_shm(cli_run):
    cli_run.wait_ready()
    os.killpg(cli_run.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code, stderr = cli_run.finish()
    assert code == 130
    assert cli_run.segments() == []
    assert cli_run.alive_after(10) == []
    assert "Traceback" not in stderr
    assert "leaked" not in stderr


def test_a_killed_worker_ends_the_run_and_its_segments_are_removed(cli_run):
    cli_run.wait_ready()
    os.kill(cli_run.workers[0], signal.SIGKILL)  # it cannot unlink anything itself
    code, stderr = cli_run.finish()
    assert code == 1
    assert "was killed by SIGKILL" in stderr
    assert cli_run.segments() == []
    assert cli_run.alive_after(10) == []
    assert "leaked" not in stderr  # the parent's cleanup did it, not the resource tracker


def test_workers_unlink_their_segments_when_the_cli_itself_is_killed(cli_run):
    cli_run.wait_ready()
    cli_run.proc.kill()  # no finally block runs in the parent
    cli_run.proc.wait()
    # Each worker reads end-of-file on its queue, closes its store and exits
    # (the resource tracker, last to go, would unlink anything still left).
    assert cli_run.alive_after(10) == []
    assert cli_run.segments() == []
