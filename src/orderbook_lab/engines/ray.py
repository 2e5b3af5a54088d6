"""``--engine ray``: phase 5's actors on a Ray cluster, and what that costs.

**Reuse, not a new engine.** ``RayEngine`` is the ``actor`` engine with a
different wire. Everything above the wire is inherited: the main loop
(``_pool``: parse or peek, route by market with ``AssetRoutes``, batch
``--ipc-batch`` messages a frame, cap the frames in flight per worker,
queries, drain, gather the reports into ``RunStats``) and the coordinator
(``actor.py``: updates between actors ride in replies and go out in the
target's next frame). Only the three methods a pool subclass writes
differ:

* ``_launch``: start (or join) a cluster (``_ray/cluster.py``) and create
  one ``BookActor`` per worker (``_ray/book_actor.py``), each the owner of
  a group of markets, running the very ``ActorHost`` a worker process runs.
  Actors ask for ``num_cpus=0``: Ray would otherwise reserve a core each,
  and a 2-core machine could host two. Then a few hundred empty calls
  time an actor call's round trip.
* ``_transmit``: ``actor.handle.remote(encoded_frame)``, fire-and-forget:
  it returns an ``ObjectRef`` at once. The pool's credits keep at most
  ``--ray-in-flight`` refs per actor; a reader thread ``ray.wait``\\ s on
  the refs out, takes each reply that is ready (in the order sent) and
  settles it with ``_on_reply``, which frees the slot, exactly as the
  process engines' reader does with a pipe.
* ``_halt``: after a complete run each actor sends its final report (the
  pool's ``Stop``), then the actors are killed and a cluster this run
  started is shut down, its processes with it; after an error, Ctrl-C or
  SIGTERM (the pool's handler raises, so ``stop`` runs) the same without
  the reports.

**Time.** Latency is the actor's ``perf_counter_ns`` minus the driver's
``produced_ns``: one monotonic clock on one machine. On a cluster of
several machines those clocks differ, and the latency figures with them;
throughput, counts and books stay right.

**The cost** (lesson 5, "Beyond one machine"): a cluster is seconds and
hundreds of MiB to start, and an actor call is a millisecond, against tens
of microseconds for a pipe. Batches amortize the call, so at
``--ipc-batch 1000`` the cluster keeps up with the worker processes on one
machine; at 1 it cannot.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import replace
from typing import Any

from ..core.metrics import LatencyHistogram
from ._pool import WorkerCrashed
from ._ray.book_actor import BookActor
from ._ray.cluster import RayCluster
from ._stats import RayStats
from ._work import iterations_per_ms
from .actor import ActorEngine
from .base import EngineError, RunConfig, RunStats

__all__ = ["RayEngine"]

_CALLS_TIMED = 300
"""Empty calls that time an actor call at start-up (about 0.4 s)."""
_STARTUP_TIMEOUT_S = 120.0
_WAIT_S = 0.002
"""Longest one ``ray.wait`` blocks: a ref sent meanwhile is only watched
from the next wait on, so this bounds how late its reply can be noticed."""
_JOIN_TIMEOUT_S = 5.0
_REPORT_TIMEOUT_S = 30.0


class RayEngine(ActorEngine):
    """The actor engine with Ray actors for worker processes (see the module docstring)."""

    name = "ray"

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        if config.recovery:
            raise EngineError(
                "--recovery restarts worker processes from checkpoints; the ray engine has none"
            )
        self.queue_frames = max(1, config.ray_in_flight)
        self._cluster: RayCluster | None = None
        self._actors: list[Any] = []
        self._refs: dict[Any, int] = {}
        """Replies not yet settled: ref -> worker, in the order sent."""
        self._ray_reader: threading.Thread | None = None
        self._reader_stop = False
        self._waits = 0
        self._cluster_s = 0.0
        self._actors_s = 0.0
        self._round_trip = LatencyHistogram()
        self._rss_bytes: tuple[int, ...] = ()

    # ------------------------------------------------------------ start

    def _launch(self) -> None:
        began = time.perf_counter()
        self._cluster = cluster = RayCluster(self.config.ray_address)
        ray = cluster.ray
        self._cluster_s = time.perf_counter() - began
        began = time.perf_counter()
        per_ms = iterations_per_ms() if self._calibrate() else None
        remote = ray.remote(num_cpus=0)(BookActor)
        factory = self._core_factory()
        self._actors = [remote.remote(w, self.config, per_ms, factory) for w in range(self.workers)]
        for ready in ray.get([actor.ready.remote() for actor in self._actors], timeout=_STARTUP_TIMEOUT_S):
            self._on_ready(ready)
        self._actors_s = time.perf_counter() - began
        self._time_calls(ray)
        self._ray_reader = threading.Thread(target=self._read_replies, name="orderbook-lab-ray", daemon=True)
        self._ray_reader.start()

    def _time_calls(self, ray) -> None:
        """An empty call's round trip, driver to actor and back, one at a time."""
        now = time.perf_counter_ns
        for call in range(_CALLS_TIMED):
            actor = self._actors[call % len(self._actors)]
            began = now()
            ray.get(actor.ping.remote())
            self._round_trip.record(now() - began)

    # ------------------------------------------------------------ the wire

    def _transmit(self, worker: int, frame: tuple[list, list]) -> None:
        began = time.perf_counter_ns()
        data = self._codec.encode(frame)
        self._encode_ns += time.perf_counter_ns() - began
        self._bytes_sent += len(data)
        ref = self._actors[worker].handle.remote(data)
        with self._cond:
            self._refs[ref] = worker
            self._cond.notify_all()

    def _read_replies(self) -> None:
        """The reader thread: wait for any reply, then settle every reply
        that is ready, oldest first (one actor's replies complete in the
        order its frames were sent, which ``_on_reply`` relies on)."""
        assert self._cluster is not None
        ray, cond, decode = self._cluster.ray, self._cond, self._codec.decode
        while True:
            with cond:
                while not self._refs and not self._reader_stop:
                    cond.wait(0.5)
                if self._reader_stop:
                    return
                refs = list(self._refs)
            ready, _ = ray.wait(refs, num_returns=1, timeout=_WAIT_S)
            if not ready:
                continue
            if len(refs) > 1:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            self._waits += 1
            done = set(ready)
            for ref in refs:
                if ref not in done:
                    continue
                with cond:
                    worker = self._refs.pop(ref)
                try:
                    data = ray.get(ref)
                except Exception as error:  # the actor died or raised: its books are lost
                    self._fail(WorkerCrashed(f"ray actor {worker} failed: {_first_line(error)}"))
                    return
                began = time.perf_counter_ns()
                reply = decode(data)
                self._reply_decode_ns += time.perf_counter_ns() - began
                self._on_reply(reply)

    # ------------------------------------------------------------ stop

    def _halt(self, abort: bool) -> None:
        cluster = self._cluster
        started = cluster is not None and self._ray_reader is not None
        try:
            if started and not abort and self._failure is None:
                self._rss_bytes = self._actor_memory()
                self._request_reports(_REPORT_TIMEOUT_S)
        finally:
            with self._cond:
                self._stopping = True
                self._reader_stop = True
                self._cond.notify_all()
            if self._ray_reader is not None:
                self._ray_reader.join(_JOIN_TIMEOUT_S)
            if cluster is not None:
                try:
                    for actor in self._actors:
                        with contextlib.suppress(Exception):  # already gone with a failed cluster
                            cluster.ray.kill(actor)
                finally:
                    self._actors = []
                    cluster.close()

    def _actor_memory(self) -> tuple[int, ...]:
        """Each actor's resident bytes now (empty if they cannot say)."""
        assert self._cluster is not None
        ray = self._cluster.ray
        try:
            return tuple(ray.get([actor.resident_bytes.remote() for actor in self._actors], timeout=10))
        except Exception:
            return ()

    # ------------------------------------------------------------ results

    def _gather(self) -> RunStats:
        stats = super()._gather()
        assert self._cluster is not None
        return replace(
            stats,
            ray=RayStats(
                address=self._cluster.address,
                actors=self.workers,
                batch=self.batch,
                in_flight_cap=self.queue_frames,
                frames_sent=self._frames_sent,
                ray_waits=self._waits,
                cluster_start_s=round(self._cluster_s, 3),
                actors_start_s=round(self._actors_s, 3),
                call_round_trip_ms=self._round_trip.summary(1e6),
                calls_timed=self._round_trip.count,
                actor_rss_mib=tuple(round(b / 2**20, 1) for b in self._rss_bytes),
            ),
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
