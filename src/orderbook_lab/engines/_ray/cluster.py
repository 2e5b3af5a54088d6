"""Starting, joining and leaving a Ray cluster, with Ray imported late.

Ray is an optional extra: ``import ray`` happens in ``import_ray``, when a
run starts, and a machine without it gets one line saying how to install it
(``RayNotInstalled``, exit status 2) instead of a traceback.

A local cluster is about nine processes (GCS server, raylet, monitors,
agents; ≈ 680 MiB, ≈ 4 s to start on a 2-core machine). ``LocalCluster``
starts it on 127.0.0.1 only, in a short temporary directory of its own
(Ray's unix sockets live there, and a socket path must stay under 108
bytes), with a 100 MiB object store (frames here are kilobytes, passed
inline), no dashboard and no usage report, and removes it all on ``close``.
The environment variables are set before Ray is imported because Ray reads
some of them at import.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from types import ModuleType

from ..base import EngineError
from ..multiprocessing import _sigint_ignored

__all__ = ["INSTALL_HINT", "LOCAL", "RayCluster", "RayNotInstalled", "configure_environment", "import_ray"]

INSTALL_HINT = "--engine ray needs Ray, an optional extra: install it with `uv sync --extra ray`"
LOCAL = "local (127.0.0.1)"
"""How a cluster this process started is named in the results."""
_OBJECT_STORE_BYTES = 100 * 2**20

_ENVIRONMENT = {
    # Otherwise Ray may pick (and bind) a non-loopback address for the node.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    # Under `uv run`, Ray would otherwise start each worker with `uv run` in
    # a packaged copy of the working directory: a new environment per
    # worker, built (and perhaps downloaded) before the actor can start.
    # The workers use this interpreter and its installed packages instead.
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    # Ray runs its workers at nice 15 by default; the process engines'
    # workers run at 0, and a comparison between them should not be a
    # comparison of scheduler priorities.
    "RAY_worker_niceness": "0",
}


class RayNotInstalled(EngineError):
    """``--engine ray`` on an installation without the ``ray`` extra."""

    exit_code = 2


def configure_environment() -> None:
    """Set what Ray must read before it is first imported in this process
    (a variable already set is left as it is). Measured: with ``ray``
    imported first, a local cluster's servers and workers listened on
    ``[::]``, every interface, instead of 127.0.0.1. Whoever imports Ray
    (a test, with ``pytest.importorskip``) calls this first."""
    for name, value in _ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def import_ray() -> ModuleType:
    """The ``ray`` module, imported now (after ``configure_environment``),
    or ``RayNotInstalled``."""
    configure_environment()
    try:
        import ray
    except ImportError:
        raise RayNotInstalled(INSTALL_HINT) from None
    return ray


class RayCluster:
    """The cluster one run uses, and whether this run must shut it down.

    ``address=None``: a local cluster on 127.0.0.1, started here and shut
    down by ``close`` (its processes with it). An address: join that
    cluster; ``close`` only disconnects. A process already connected
    (``ray.is_initialized()``, as the test session is) keeps its
    connection: this run neither starts nor stops anything.
    """

    def __init__(self, address: str | None) -> None:
        self.ray = import_ray()
        self._temp_dir: str | None = None
        self.owned = False
        """Whether ``close`` ends the connection (this run made it)."""
        if self.ray.is_initialized():
            self.address = "already connected"
            return
        self.address = address or LOCAL
        self.owned = True
        if address is not None:
            self.ray.init(address=address, log_to_driver=False, configure_logging=False)
            return
        self._temp_dir = tempfile.mkdtemp(prefix="olray-")
        sigterm_before = signal.getsignal(signal.SIGTERM)
        try:
            # Its processes ignore SIGINT from birth: a Ctrl-C reaches the
            # terminal's whole process group, and a raylet killed by it would
            # leave the driver's orderly stop talking to nobody.
            with _sigint_ignored():
                self.ray.init(
                    _node_ip_address="127.0.0.1",
                    include_dashboard=False,
                    object_store_memory=_OBJECT_STORE_BYTES,
                    _temp_dir=self._temp_dir,
                    num_cpus=os.cpu_count() or 1,
                    log_to_driver=False,
                    configure_logging=False,
                )
        finally:
            # ray.init installs its own SIGTERM handler; the engine's (raise
            # SystemExit, so every finally runs) stays in charge.
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, sigterm_before)

    @property
    def temp_dir(self) -> str | None:
        """The local cluster's session directory (``None``: not ours)."""
        return self._temp_dir

    def close(self) -> None:
        """Disconnect; a local cluster's processes end with it. Idempotent."""
        if self.owned:
            self.owned = False
            self.ray.shutdown()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
