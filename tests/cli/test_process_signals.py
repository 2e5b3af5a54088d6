"""The CLI running phase 3, interrupted: after SIGTERM, Ctrl-C (SIGINT to
the whole process group, as a terminal sends it) or a SIGKILL of the CLI
itself, no process of the run remains; a worker killed mid-run ends the
command with one line of error and exit status 1.

Each test waits for the CLI's readiness line (it names the worker pids),
never for a fixed time, and watches every process it saw with a pidfd,
which becomes readable the moment that process has exited.
"""

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds"),
]

_READY = re.compile(r"workers ready \(pids ([\d, ]+)\)")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("orderbook-lab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from orderbook_lab.cli import main; main()"]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


class _Run:
    """A long phase 3 run of the CLI in its own process group."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [
                *_cli(),
                "run",
                "--phase",
                "3",
                "--processes",
                "2",
                "--messages",
                "100000000",
                "--work-ms",
                "1",
                "--assets",
                "8",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stderr_lines: list[str] = []
        self.workers: list[int] = []
        self.pidfds: dict[int, int] = {}

    def wait_ready(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            match = _READY.search(line)
            if match:
                self.workers = [int(p) for p in match.group(1).split(",")]
                break
        assert self.workers, f"no readiness line; stderr: {''.join(self.stderr_lines)}"
        # Every process the CLI has started: the workers, and the resource
        # tracker that multiprocessing's spawn starts alongside them.
        for pid in {*self.workers, *_children(self.proc.pid)}:
            self.pidfds[pid] = os.pidfd_open(pid)
        assert set(self.workers) <= set(_children(self.proc.pid))

    def finish(self) -> tuple[int, str]:
        _out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, "".join(self.stderr_lines) + err

    def alive_after(self, timeout_s: float) -> list[int]:
        """The watched processes still running after waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        gone: set[int] = set()
        while True:
            pending = {fd: pid for pid, fd in self.pidfds.items() if fd not in gone}
            if not pending:
                return []
            ready, _, _ = select.select(list(pending), [], [], max(deadline - time.monotonic(), 0.0))
            if not ready:
                return sorted(pending.values())
            gone.update(ready)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid, fd in self.pidfds.items():
            if not select.select([fd], [], [], 0)[0]:
                os.kill(pid, signal.SIGKILL)
            os.close(fd)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


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
