"""The ``threads`` engine: the same pool as phase 3, with threads.

Same routing (an asset always goes to the same worker), same batches, same
bounded queues and queries, same books as ``sync``. Frames travel as
Python objects through a ``queue.Queue``: no serialization, no pipes, no
start-up cost worth the name.

And no speed-up on CPU work. Every thread of a process runs Python
bytecode under one lock, the GIL, so ``--work-ms`` in two threads takes
turns on one core; the parent's parsing takes turns with them too. What
threads do overlap is waiting: ``--io-ms`` sleeps release the GIL. This
engine is here to show that contrast next to ``multiprocessing``
(experiment 3.1); ``_work.CpuWork`` counts loop iterations rather than
watching a clock precisely so that this contention shows.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading

from ._pool import PoolEngine, WorkerCrashed
from ._work import iterations_per_ms
from ._worker import Ready, WorkerCore
from .base import RunConfig

__all__ = ["ThreadsEngine"]

_JOIN_TIMEOUT_S = 5.0


class ThreadsEngine(PoolEngine):
    """One thread per worker group, in the parent's process and GIL."""

    name = "threads"

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self._queues: list[queue.Queue] = []
        self._threads: list[threading.Thread] = []
        self._abort = threading.Event()

    def _launch(self) -> None:
        per_ms = iterations_per_ms() if self.config.work_ms > 0 else None
        for worker in range(self.workers):
            # Credits (see _pool) keep at most queue_frames frames queued;
            # the spare slot is for the stop sentinel.
            inbox: queue.Queue = queue.Queue(maxsize=self.queue_frames + 1)
            core = WorkerCore(worker, self.config, per_ms, self.clock)
            thread = threading.Thread(
                target=self._work,
                args=(worker, inbox, core),
                name=f"orderbook-lab-worker-{worker}",
                daemon=True,
            )
            self._queues.append(inbox)
            self._threads.append(thread)
            thread.start()

    def _work(self, worker: int, inbox: queue.Queue, core: WorkerCore) -> None:
        try:
            self._on_ready(Ready(worker, os.getpid()))
            now = self.clock.now_ns
            while True:
                frame = inbox.get()
                if frame is None or self._abort.is_set():
                    return
                reply, stop = core.handle(frame, now())
                self._on_reply(reply)
                if stop:
                    return
        except Exception as error:  # a bug in a worker: end the run, not the process
            self._fail(WorkerCrashed(f"worker thread {worker} failed: {error!r}"))

    def _transmit(self, worker: int, frame: tuple[list, list]) -> None:
        self._queues[worker].put_nowait(frame)

    def _halt(self, abort: bool) -> None:
        if not abort and self._failure is None and len(self._threads) == self.workers:
            self._request_reports(30.0)
        self._abort.set()
        for inbox in self._queues:
            with contextlib.suppress(queue.Full):  # then it sees the abort flag before its next frame
                inbox.put_nowait(None)
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT_S)
            if thread.is_alive():  # a thread cannot be killed; it is a daemon, it ends with us
                self._stragglers += 1
