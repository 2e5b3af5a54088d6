"""Phase 3, the ``multiprocessing`` engine: long-lived worker processes.

The parent parses every line, routes each message by asset to the worker
process that owns that asset's book (``_routing``: a stable hash, so an
asset never moves), and ships messages in batches over one bounded queue
per worker. Each worker owns its books outright: no locks, no sharing; the
only way in or out is a frame through the codec seam (``_codec``).

Why processes: each has its own interpreter and its own GIL, so CPU work
in two workers runs on two cores at once, which no number of threads in
one process can do. The price is that everything crossing the boundary is
serialized, written to a pipe, read and deserialized (experiments 3.2 and
3.3 measure it), and that the parent must start, watch and stop children.

Lifecycle:

* ``start``: spawn ``--processes`` workers with the ``spawn`` start method
  (a fresh interpreter: nothing inherited by accident, the same on every
  OS; about 0.1 to 0.5 s each, reported as ``startup_s``), with SIGINT
  ignored from birth, then wait for each one's ``Ready``.
* during the run a reader thread waits on every reply pipe *and* every
  worker's process sentinel (``multiprocessing.connection.wait``), so a
  worker that dies is seen at once, with its exit code, and the main loop
  raises ``WorkerCrashed`` instead of waiting on a queue nobody reads.
* ``stop``: after a complete run each worker gets ``Stop``, sends its final
  report (books, counters, histograms) and exits; after an error or an
  interrupt the parent closes the pipes instead, so each worker leaves
  after the frame in hand. Either way every process is joined with a
  timeout and stragglers are terminated, then killed.
* a worker whose parent disappears (even by SIGKILL) reads end-of-file on
  its queue, or a broken pipe on its replies, and exits: no orphans.

Time: workers stamp book updates with ``time.perf_counter_ns``, which on
Linux is ``CLOCK_MONOTONIC``, one clock for the whole machine. So the
latency from the parent's ``produced_ns`` to a worker's update is a plain
subtraction across processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait

from ._codec import get_codec
from ._flow.health import Health
from ._pool import PoolEngine, WorkerCrashed
from ._work import iterations_per_ms
from ._worker import Ready, Reply, WorkerCore
from .base import RunConfig

__all__ = ["MultiprocessingEngine"]

_JOIN_TIMEOUT_S = 5.0
"""How long stop() waits for workers to leave before terminating them."""


class MultiprocessingEngine(PoolEngine):
    """Worker processes, each the owner of the books routed to it (phase 3)."""

    name = "multiprocessing"
    core_factory: type[WorkerCore] = WorkerCore
    """What each worker runs; phase 4 subclasses it to publish books."""

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self._codec = get_codec(config.codec, self.core_factory.reply_type())
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._inboxes: list[Connection] = []
        self._replies: list[Connection] = []
        self._retired: list[multiprocessing.process.BaseProcess] = []
        """Processes of workers that died and were replaced (phase 8)."""
        self._wake: tuple[Connection, Connection] | None = None
        self._reader: threading.Thread | None = None
        self._exit_codes: dict[int, int | None] = {}

    # ------------------------------------------------------------ start

    def _launch(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._per_ms = iterations_per_ms() if self._calibrate() else None
        self._wake = self._context.Pipe(duplex=False)
        for worker in range(self.workers):
            self._inboxes.append(None)
            self._replies.append(None)
            self._processes.append(None)
            self._spawn(worker)
        self._reader = threading.Thread(target=self._read_replies, name="orderbook-lab-replies", daemon=True)
        self._reader.start()

    def _spawn(self, worker: int) -> None:
        """Start worker ``worker``'s process with fresh pipes (at launch, and
        again for a restart)."""
        context = self._context
        inbox_r, inbox_w = context.Pipe(duplex=False)
        reply_r, reply_w = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_main,
            name=f"orderbook-lab-worker-{worker}",
            args=(worker, self.config, self._per_ms, inbox_r, reply_w, self._core_factory()),
            daemon=True,
        )
        with _sigint_ignored():
            process.start()
        # The child holds its own ends now. Closing ours is what makes
        # a dead worker visible: EOF on its reply pipe, EPIPE on its queue.
        inbox_r.close()
        reply_w.close()
        with self._cond:
            self._inboxes[worker] = inbox_w
            self._replies[worker] = reply_r
            self._processes[worker] = process

    def _respawn(self, worker: int) -> None:
        """Phase 8: replace a dead worker's process, and tell the reader
        thread to watch the new one."""
        old = self._processes[worker]
        for conn in (self._inboxes[worker], self._replies[worker]):
            conn.close()
        old.join(_JOIN_TIMEOUT_S)
        self._retired.append(old)
        self._spawn(worker)
        assert self._wake is not None
        self._wake[1].send_bytes(b"watch")

    def _calibrate(self) -> bool:
        """Whether workers burn CPU on purpose, so they need the parent's
        calibration (``--work-ms``, ``--slow-worker``; phase 5 adds a slow actor)."""
        return self.config.work_ms > 0 or self.config.slow_worker is not None

    def _core_factory(self) -> Callable[..., WorkerCore]:
        """What each worker calls as ``factory(worker, config, per_ms)``
        (picklable: it crosses to the child); phase 4 binds its run's
        shared-memory prefix here."""
        return type(self).core_factory

    # ------------------------------------------------------------ the wire

    def _transmit(self, worker: int, frame: tuple[list, list]) -> None:
        began = time.perf_counter_ns()
        data = self._codec.encode(frame)
        self._encode_ns += time.perf_counter_ns() - began
        self._bytes_sent += len(data)
        try:
            self._inboxes[worker].send_bytes(data)
        except OSError:  # EPIPE: nobody reads this queue any more
            if self.config.recovery:
                # It died: once the reader thread has seen it go, the main
                # loop revives it, and this frame's entries go again with
                # the rest of its tail.
                self._wait_for(lambda: worker in self._dead, _JOIN_TIMEOUT_S, f"worker {worker}'s death")
                return
            # The reader thread owns the exit codes; give it a moment to
            # name the cause, else report what we know.
            try:
                self._wait_for(lambda: False, 2.0, "the crash report")
            except WorkerCrashed:
                raise
            except Exception:
                pass
            raise WorkerCrashed(f"worker {worker} stopped reading its queue; the run stops") from None

    def _read_replies(self) -> None:
        """The parent's reader thread: replies, and deaths, as they happen.
        A message on the wake pipe says stop (empty) or watch a restarted
        worker's new pipe and process (phase 8)."""
        assert self._wake is not None
        wake = self._wake[0]
        conns: dict[Connection, int] = {}
        sentinels: dict[int, int] = {}
        watched: dict[int, object] = {}
        decode = self._codec.decode

        def watch_new() -> None:
            with self._cond:
                current = list(enumerate(zip(self._replies, self._processes, strict=True)))
            for worker, (conn, process) in current:
                if watched.get(worker) is not process:
                    watched[worker] = process
                    conns[conn] = worker
                    sentinels[process.sentinel] = worker

        watch_new()
        while conns or sentinels:
            ready = wait([wake, *conns, *sentinels])
            if wake in ready:
                if not wake.recv_bytes():
                    return
                watch_new()
                continue
            for conn in ready:
                if conn in conns:
                    self._receive(conn, conns, decode)
            for sentinel in ready:
                if sentinel in sentinels:
                    worker = sentinels.pop(sentinel)
                    conn = self._replies[worker]
                    while conn in conns and conn.poll():  # what it said before it went
                        self._receive(conn, conns, decode)
                    conns.pop(conn, None)
                    self._on_exit(worker)

    def _receive(self, conn: Connection, conns: dict, decode) -> None:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            del conns[conn]
            return
        began = time.perf_counter_ns()
        reply = decode(data)
        self._reply_decode_ns += time.perf_counter_ns() - began
        if type(reply) is Reply:
            self._on_reply(reply)
        elif type(reply) is Health:
            self._on_health(reply)
        elif type(reply) is Ready:
            self._on_ready(reply)

    def _on_exit(self, worker: int) -> None:
        process = self._processes[worker]
        # The sentinel fires as the child's files close, a moment before
        # the kernel lets it be reaped: a short blocking join, not a poll.
        process.join(_JOIN_TIMEOUT_S)
        code = process.exitcode
        self._exit_codes[worker] = code
        with self._cond:
            self._exited.add(worker)
            expected = self._stopping and code == 0 and worker in self._reports
            if not expected and self._on_worker_death(worker):
                return
        if not expected:
            self._fail(WorkerCrashed(self._describe_exit(worker, code)))

    def _describe_exit(self, worker: int, code: int | None) -> str:
        process = self._processes[worker]
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        elif code == 0:
            how = "exited without being asked to"
        else:
            how = f"exited with code {code}"
        if self.config.recovery:
            return f"worker {worker} (pid {process.pid}) {how} after {self._restarts_of[worker]} restarts; the run stops"
        return (
            f"worker {worker} (pid {process.pid}) {how}; its books are lost, so the run stops "
            "(--recovery restarts workers: phase 8)"
        )

    # ------------------------------------------------------------ stop

    def _halt(self, abort: bool) -> None:
        started = self._reader is not None and all(p is not None for p in self._processes)
        if not abort and started and self._failure is None and not self._request_reports(30.0):
            abort = True
        with self._cond:
            self._stopping = True
        if self._reader is not None and self._reader.is_alive():
            if not abort:
                # Normal stop: the reader leaves by itself once every worker
                # has exited; it reaps them with their exit codes.
                self._reader.join(_JOIN_TIMEOUT_S)
            if self._reader.is_alive() and self._wake is not None:
                self._wake[1].send_bytes(b"")
                self._reader.join(_JOIN_TIMEOUT_S)
        for conn in (*self._inboxes, *self._replies):
            if conn is not None:
                conn.close()  # EOF on each queue; EPIPE on the next reply
        processes = [p for p in (*self._processes, *self._retired) if p is not None]
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for process in processes:
            if process.pid is not None:
                process.join(max(deadline - time.monotonic(), 0.0))
        for process in processes:
            if process.is_alive():
                self._stragglers += 1
                process.terminate()
                process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join()
        for process in processes:
            if process.pid is not None:
                process.close()
        if self._wake is not None:
            for conn in self._wake:
                conn.close()


def _worker_main(
    worker: int,
    config: RunConfig,
    per_ms: float | None,
    inbox: Connection,
    replies: Connection,
    core_factory: Callable[..., WorkerCore],
) -> None:
    """A worker process: apply frames until ``Stop`` or until the parent is
    gone. Ctrl-C reaches the whole process group; only the parent acts on
    it, by closing the pipes, so workers ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    core = core_factory(worker, config, per_ms)
    codec = get_codec(config.codec, type(core).frame_type)
    now = time.perf_counter_ns
    try:
        replies.send_bytes(codec.encode(Ready(worker, os.getpid())))
        while True:
            idle_s = core.idle_timeout_s()
            if idle_s is not None and not inbox.poll(idle_s):
                said = core.on_idle()
                if said is not None:  # a health report: the reader thread takes it at once
                    replies.send_bytes(codec.encode(said))
                continue
            data = inbox.recv_bytes()  # EOFError once the parent closed it
            received = now()
            frame = codec.decode(data)
            core.bytes_in += len(data)
            core.decode_ns += now() - received
            reply, stop = core.handle(frame, received)
            began = now()
            encoded = codec.encode(reply)
            core.encode_ns += now() - began
            replies.send_bytes(encoded)
            if stop:
                return
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the parent closed the pipes: stop without a report
    finally:
        try:
            core.close()
        finally:
            inbox.close()
            replies.close()


@contextmanager
def _sigint_ignored():
    """Spawn children with SIGINT ignored: an ignored signal stays ignored
    across exec, and Python keeps it so (it installs its KeyboardInterrupt
    handler only over the default action), so even a Ctrl-C that lands
    while a child is still importing cannot print a traceback there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
