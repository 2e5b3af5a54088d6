"""The CLI on ``--engine ray`` with its own local cluster: a run to the end
and a Ctrl-C mid-run (SIGINT to the whole process group, as a terminal
sends it) both leave no process of the cluster behind, and while it runs
nothing of it listens beyond 127.0.0.1.

Each run gets a ``TMPDIR`` of its own, which every process of its cluster
inherits (the driver's children, the raylet's workers, however renamed):
that is how the test finds them all (``ray_processes``)."""

import os
import signal
import tempfile

import pytest
from cli_process import CliRun

from orderbook_lab.engines._ray.cluster import configure_environment
from ray_processes import descendants, non_loopback_listeners, still_running, tagged

configure_environment()  # before Ray's first import (the processes this test starts inherit it too)
pytest.importorskip("ray")

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds"),
]


class _RayRun(CliRun):
    """``run --engine ray ARGS`` with ``TMPDIR`` set to a fresh directory
    (short: Ray's unix sockets live under it)."""

    def __init__(self, args: list[str]) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="olt-", dir="/tmp")
        before = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.tmpdir  # Popen passes the environment on
        try:
            super().__init__(["--engine", "ray", "--processes", "2", "--assets", "8", *args])
        finally:
            if before is None:
                del os.environ["TMPDIR"]
            else:
                os.environ["TMPDIR"] = before

    def close(self) -> None:
        try:
            for pid in tagged(self.tmpdir):  # a failed test still leaves nothing behind
                os.kill(pid, signal.SIGKILL)
            super().close()
        finally:
            os.rmdir(self.tmpdir)  # the run removed its cluster's directory inside


@pytest.fixture
def ray_run():
    runs = []

    def start(*args: str) -> _RayRun:
        runs.append(_RayRun(list(args)))
        return runs[-1]

    try:
        yield start
    finally:
        for run in runs:
            run.close()


def test_a_complete_run_leaves_no_process(ray_run):
    run = ray_run("--messages", "3000")
    code, stderr = run.finish()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert still_running(tagged(run.tmpdir), 30.0) == []


def test_ctrl_c_mid_run_leaves_no_process_and_nothing_listened_beyond_loopback(ray_run):
    run = ray_run("--messages", "100000000", "--rate", "2000")
    run.wait_ready()  # the actors answered: the whole cluster is up
    cluster = tagged(run.tmpdir) | descendants(run.proc.pid)
    assert set(run.workers) <= cluster
    assert non_loopback_listeners(cluster) == []
    os.killpg(run.proc.pid, signal.SIGINT)
    code, stderr = run.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert still_running(cluster | tagged(run.tmpdir), 30.0) == []
