"""The Ray actor that hosts one worker's books: the process engines'
worker loop body, behind actor methods.

``BookActor`` is a plain class (the engine wraps it with ``ray.remote``),
so this module imports without Ray. Each instance owns a ``WorkerCore``
(phase 5: an ``ActorHost`` with its market actors) and runs exactly the
code a worker process runs: ``handle`` decodes a frame with the run's
codec, gives it to ``WorkerCore.handle`` and returns the encoded reply.
Frames and replies cross as bytes, so ``--codec`` means the same here as
in the process engines and the parent counts the same bytes; Ray passes
small byte strings inline with the call, with no object-store round trip.

Ray runs one actor's calls one at a time, in the order one caller sent
them: the ordering a worker's pipe gave, without the pipe.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .._codec import get_codec
from .._flow.health import resident_bytes
from .._worker import Ready, WorkerCore
from ..base import RunConfig

__all__ = ["BookActor"]


class BookActor:
    """One worker's books in a Ray actor (see the module docstring)."""

    def __init__(
        self, worker: int, config: RunConfig, per_ms: float | None, core_factory: Callable[..., WorkerCore]
    ) -> None:
        self.worker = worker
        self.core = core_factory(worker, config, per_ms)
        self.codec = get_codec(config.codec, type(self.core).frame_type)

    def ready(self) -> Ready:
        """The first call: the actor exists and its core is built."""
        return Ready(self.worker, os.getpid())

    def handle(self, data: bytes) -> bytes:
        """Apply one encoded frame; its encoded ``Reply``. O(frame)."""
        core, now = self.core, time.perf_counter_ns
        received = now()
        frame = self.codec.decode(data)
        core.bytes_in += len(data)
        core.decode_ns += now() - received
        reply, _stop = core.handle(frame, received)
        began = now()
        encoded = self.codec.encode(reply)
        core.encode_ns += now() - began
        return encoded

    def ping(self) -> None:
        """Nothing: what an actor call costs by itself (the round trip)."""

    def resident_bytes(self) -> int:
        """This actor's process's resident memory now, bytes."""
        return resident_bytes()
