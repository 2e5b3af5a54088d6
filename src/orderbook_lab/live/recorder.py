"""``Recorder``: many connections, one file, one way to stop.

The market channel takes at most 500 assets per connection, so a larger
set is cut into shards of 500 (``shard``), each with its own
``Connection``. They run concurrently in one ``asyncio.TaskGroup``, beside
one supervisor task; the task group owns them all and returns only once
every one has ended::

    Recorder.run
     └─ TaskGroup
         ├─ connection 0 .. k   read frames into the one writer
         └─ supervisor          ticks: flush the file, report progress;
                                at --duration or stop(): close every connection

Stopping is a close, not a cancel: ``stop()`` (safe to call from a signal
handler on the loop) wakes the supervisor, which closes each connection;
each ``Connection.run`` then returns on its own, having written every
frame it received, and the file is closed last. If a connection cannot
connect at all, it raises ``ConnectFailed``; the task group cancels the
rest and ``run`` raises that one error.

All connections share the writer: they run on one event loop, and a frame
is written by one call without an ``await``, so lines never interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import MARKET_URL
from .connection import PING_INTERVAL_S, Backoff, ConnectFailed, Connection
from .writer import RecordingWriter

__all__ = ["MAX_ASSETS_PER_CONNECTION", "RecordConfig", "RecordStats", "Recorder", "shard"]

MAX_ASSETS_PER_CONNECTION = 500
"""The market channel's limit of assets on one subscription."""


def shard(assets: Iterable[str], size: int = MAX_ASSETS_PER_CONNECTION) -> list[tuple[str, ...]]:
    """``assets`` without repeats, in order, cut into groups of ``size``.

    >>> shard(["a", "b", "a", "c"], size=2)
    [('a', 'b'), ('c',)]
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    unique = list(dict.fromkeys(assets))
    return [tuple(unique[start : start + size]) for start in range(0, len(unique), size)]


@dataclass(frozen=True)
class RecordConfig:
    """Where to connect and how; the defaults are the live feed's."""

    url: str = MARKET_URL
    duration_s: float | None = None
    """Stop after this long (``None``: until ``stop()``)."""
    ping_interval_s: float = PING_INTERVAL_S
    backoff: Backoff = field(default_factory=Backoff)
    assets_per_connection: int = MAX_ASSETS_PER_CONNECTION
    open_timeout_s: float = 10.0
    progress_interval_s: float = 0.25
    """How often the file is flushed and progress reported, seconds."""


@dataclass(frozen=True)
class RecordStats:
    """A recording so far: frames and bytes written, distinct books seen,
    reconnects (= gap lines), and the connections that are up now."""

    frames: int
    bytes: int
    books: int
    reconnects: int
    connections: int
    connections_up: int
    elapsed_s: float


class Recorder:
    """Records ``assets`` from the market channel into ``path``."""

    def __init__(
        self,
        assets: Iterable[str],
        path: str | Path,
        config: RecordConfig = RecordConfig(),
        *,
        on_progress: Callable[[RecordStats], None] | None = None,
    ) -> None:
        self.shards = shard(assets, config.assets_per_connection)
        if not self.shards:
            raise ValueError("no assets to record")
        self.path = Path(path)
        self.config = config
        self._on_progress = on_progress
        self._stop = asyncio.Event()
        self._writer: RecordingWriter | None = None
        self._connections: list[Connection] = []
        self._started: float | None = None
        self._ended: float | None = None

    @property
    def assets(self) -> int:
        return sum(len(s) for s in self.shards)

    @property
    def connections(self) -> tuple[Connection, ...]:
        """One per shard, once ``run`` has started (their counters are public)."""
        return tuple(self._connections)

    def stop(self) -> None:
        """End the recording (from the event loop's thread, e.g. a signal
        handler installed with ``loop.add_signal_handler``)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> RecordStats:
        """Record until the duration is over or ``stop()``; returns the totals."""
        loop = asyncio.get_running_loop()
        config = self.config
        self._started = loop.time()
        with RecordingWriter(self.path) as writer:
            self._writer = writer
            self._connections = [
                Connection(
                    index,
                    config.url,
                    assets,
                    writer,
                    ping_interval_s=config.ping_interval_s,
                    backoff=config.backoff,
                    open_timeout_s=config.open_timeout_s,
                )
                for index, assets in enumerate(self.shards)
            ]
            try:
                async with asyncio.TaskGroup() as tasks:
                    for connection in self._connections:
                        tasks.create_task(connection.run(), name=f"connection-{connection.index}")
                    tasks.create_task(self._supervise(writer), name="supervisor")
            except* ConnectFailed as failed:
                first = failed.exceptions[0]
                raise ConnectFailed(str(first)) from None
            finally:
                self._ended = loop.time()
        return self.stats()

    async def _supervise(self, writer: RecordingWriter) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.progress_interval_s
        duration = self.config.duration_s
        deadline = None if duration is None else loop.time() + duration
        while not self._stop.is_set():
            wait_s = interval if deadline is None else min(interval, deadline - loop.time())
            try:
                async with asyncio.timeout(max(wait_s, 0.0)):
                    await self._stop.wait()
            except TimeoutError:
                pass
            if deadline is not None and loop.time() >= deadline:
                break
            writer.flush()
            if self._on_progress is not None:
                self._on_progress(self.stats())
        for connection in self._connections:
            await connection.close()

    def stats(self) -> RecordStats:
        """The counters now (or at the end, once ``run`` returned)."""
        writer = self._writer
        started = self._started
        if started is None:
            elapsed = 0.0
        else:
            elapsed = (
                self._ended if self._ended is not None else asyncio.get_running_loop().time()
            ) - started
        return RecordStats(
            frames=writer.frames if writer else 0,
            bytes=writer.bytes if writer else 0,
            books=writer.books if writer else 0,
            reconnects=sum(c.reconnects for c in self._connections),
            connections=len(self.shards),
            connections_up=sum(c.state == "up" for c in self._connections),
            elapsed_s=elapsed,
        )
