"""``LiveFeed``: the market channel as the lines of a run, not a file.

``record`` writes what the channel sends to disk; ``serve`` with
``--asset``/``--top`` feeds it straight into an engine. The engine's main
loop is plain blocking Python and the websockets are asyncio, so the feed
runs its connections (``connection.Connection``, one per 500 assets, with
their pings and reconnects) on an event loop in a thread of its own, and
hands each frame to the engine through a thread-safe queue. Iterating the
feed blocks until the next frame arrives, and ends after ``stop()`` or
the config's ``duration_s``.

What the engine sees is what ``replay`` of a recording would have seen:
each frame as sent (a JSON object or the first snapshots' array), no gap
lines (reconnects are counted here, in ``reconnects``, and after one the
channel sends fresh snapshots, which repair the books). A frame's
``produced_ns`` is when the engine took it from the queue, so latency
counts from arrival.

Nothing here is shared with the engine but the queue; ``stop()`` is safe
from a signal handler and from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence

from .connection import ConnectFailed, Connection
from .recorder import RecordConfig, shard

__all__ = ["LiveFeed"]

_END = object()


class _QueueSink:
    """The connections' ``FrameSink``: frames into the queue, gaps counted."""

    def __init__(self, frames: queue.SimpleQueue) -> None:
        self._frames = frames
        self.gaps = 0

    def frame(self, recv_ms: float, data: str | bytes) -> None:
        self._frames.put(data)

    def gap(self, recv_ms: float, reconnect: int, reason: str, down_ms: float, connection: int) -> None:
        self.gaps += 1


class LiveFeed:
    """The market channel's frames for ``assets``, as an iterable of lines
    (see the module docstring). ``start()`` connects; iterate; ``stop()``."""

    def __init__(self, assets: Sequence[str], config: RecordConfig | None = None) -> None:
        config = config if config is not None else RecordConfig()
        self.shards = shard(assets, config.assets_per_connection)
        if not self.shards:
            raise ValueError("no assets to follow")
        self.config = config
        self._frames: queue.SimpleQueue = queue.SimpleQueue()
        self._sink = _QueueSink(self._frames)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._connections: list[Connection] = []
        self._started = threading.Event()
        self.error: BaseException | None = None
        """Why the feed ended on its own (a connection that never came up)."""

    @property
    def reconnects(self) -> int:
        return self._sink.gaps

    def start(self, timeout_s: float = 30.0) -> None:
        """Connect in the feed's thread; returns once its loop runs."""
        self._thread = threading.Thread(target=self._run_loop, name="orderbook-lab-live-feed", daemon=True)
        self._thread.start()
        self._started.wait(timeout_s)

    def stop(self) -> None:
        """End the feed: its connections close, and iteration ends after
        the frames queued before this call."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        self._frames.put(_END)

    def join(self, timeout_s: float = 10.0) -> None:
        """Wait for the feed's thread (its connections closed)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __iter__(self) -> Iterator[str | bytes]:
        while True:
            item = self._frames.get()
            if item is _END:
                return
            yield item

    # ------------------------------------------------------------ the thread

    def _run_loop(self) -> None:
        try:
            asyncio.run(self._main())
        except ConnectFailed as error:
            self.error = error
        finally:
            self._started.set()
            self._frames.put(_END)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        config = self.config
        self._connections = [
            Connection(
                index,
                config.url,
                assets,
                self._sink,
                ping_interval_s=config.ping_interval_s,
                backoff=config.backoff,
                open_timeout_s=config.open_timeout_s,
            )
            for index, assets in enumerate(self.shards)
        ]
        self._started.set()
        try:
            async with asyncio.TaskGroup() as tasks:
                for connection in self._connections:
                    tasks.create_task(connection.run())
                tasks.create_task(self._close_on_stop())
        except* ConnectFailed as failed:
            raise failed.exceptions[0] from None

    async def _close_on_stop(self) -> None:
        """Close the connections on ``stop()`` or once ``duration_s`` is up
        (here, on the feed's clock: a quiet channel still ends on time)."""
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.duration_s):
                await self._stop.wait()
        for connection in self._connections:
            await connection.close()
