"""A long CLI run in its own process group, for tests that interrupt it.

Shared by the phase 3 and phase 4 signal tests. The run is watched through
its readiness line (which names the worker pids), never a fixed wait, and
every process it started is watched with a pidfd, which becomes readable
the moment that process has exited.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

READY = re.compile(r"workers ready \(pids ([\d, ]+)\)")


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("orderbook-lab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from orderbook_lab.cli import main; main()"]


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


class CliRun:
    """``orderbook-lab run ARGS`` in a new session; ``close()`` kills what is left."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [*cli_command(), "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stderr_lines: list[str] = []
        self.workers: list[int] = []
        self.pidfds: dict[int, int] = {}

    def wait_ready(self) -> None:
        """Read stderr up to the readiness line; watch every child then alive
        (the workers, and the resource tracker spawn starts beside them)."""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            match = READY.search(line)
            if match:
                self.workers = [int(p) for p in match.group(1).split(",")]
                break
        assert self.workers, f"no readiness line; stderr: {''.join(self.stderr_lines)}"
        for pid in {*self.workers, *children(self.proc.pid)}:
            self.pidfds[pid] = os.pidfd_open(pid)

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
            if stream is not None:
                stream.close()
