"""One websocket to the market channel, for as long as the recording runs.

A connection's life, which ``Connection.run`` loops through::

    connect ─▶ subscribe ─▶ read frames (PING every 10 s) ─▶ dropped?
       ▲                                                        │
       └──────────── wait: exponential backoff with jitter ◀────┘

* **Subscribe.** Right after connecting, one text message names the assets:
  ``{"assets_ids": [...], "type": "market", "custom_feature_enabled": true}``
  (the custom features add ``best_bid_ask``, ``new_market`` and
  ``market_resolved`` events). The server answers with a ``book`` snapshot
  of every asset, then streams changes. After a reconnect the same message
  brings fresh snapshots, which is what repairs the books.
* **PING.** The channel expects the text ``PING`` every 10 seconds and
  answers ``PONG``; a ``PONG`` is not market data and is not recorded. The
  ping rides in the read loop: the read waits at most until the next ping
  is due (``asyncio.timeout_at``), so one task per connection does both.
  (The websocket protocol's own ping frames run underneath, as websockets
  does by default.)
* **Read.** Each frame is handed to the sink with its receive time (unix
  ms) the moment ``recv`` returns it, and written before the next read:
  whatever this connection received is in the file.
* **Reconnect.** When the connection drops, the loop waits
  ``Backoff.delay_s(attempt)`` (growing exponentially, capped, with random
  jitter so that many clients do not come back in lockstep) and connects
  again. Once back, it tells the sink how long it was down and why: the
  recording gets a gap line, since frames were lost meanwhile.

If the very first connection fails, the URL is probably wrong: ``run``
raises ``ConnectFailed`` instead of retrying forever. ``close`` ends the
loop from outside, whatever state it is in: it closes the websocket (the
read returns) or wakes the backoff wait. Stopping is by close, never by
cancelling a task halfway through a write.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

__all__ = ["PING_INTERVAL_S", "Backoff", "ConnectFailed", "Connection", "FrameSink", "subscription"]

PING_INTERVAL_S = 10.0
"""How often the channel wants a ``PING``, seconds."""

_MAX_FRAME_BYTES = 64 * 1024 * 1024
"""Largest frame accepted: the first snapshot array of 500 deep books is
megabytes, far over websockets' default limit of 1 MiB."""
_CLOSE_TIMEOUT_S = 2.0
"""How long a closing handshake may take before the socket is dropped."""


def subscription(assets: Sequence[str]) -> str:
    """The message that subscribes one connection to ``assets``.

    >>> subscription(["1", "2"])
    '{"assets_ids": ["1", "2"], "type": "market", "custom_feature_enabled": true}'
    """
    return json.dumps({"assets_ids": list(assets), "type": "market", "custom_feature_enabled": True})


@dataclass(frozen=True)
class Backoff:
    """How long to wait before reconnect attempt ``n`` (0 for the first):
    ``min(cap_s, base_s * 2**n)``, scaled by a random factor in
    ``[1 - jitter, 1]``. Bounded by ``cap_s``; tests pass tiny values.

    >>> Backoff(base_s=1.0, cap_s=5.0, jitter=0.0).delays(5)
    [1.0, 2.0, 4.0, 5.0, 5.0]
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    jitter: float = 0.5

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 60))
        return ceiling * (1.0 - self.jitter * rng.random())

    def delays(self, count: int, seed: int = 0) -> list[float]:
        """The first ``count`` delays with a seeded RNG (to show or test them)."""
        rng = random.Random(seed)
        return [self.delay_s(attempt, rng) for attempt in range(count)]


class ConnectFailed(Exception):
    """The first connection could not be made (a wrong URL, no network):
    the message is one line for people."""


class FrameSink(Protocol):
    """Where a connection puts what it receives (``writer.RecordingWriter``)."""

    def frame(self, recv_ms: float, data: str | bytes) -> None: ...

    def gap(self, recv_ms: float, reconnect: int, reason: str, down_ms: float, connection: int) -> None: ...


def _wall_ms() -> float:
    return time.time_ns() / 1e6


def _why(error: BaseException) -> str:
    """One line saying why a connection ended or failed."""
    text = str(error).splitlines()[0] if str(error) else ""
    return text or type(error).__name__


class Connection:
    """One subscription to ``assets`` over one websocket (see the module
    docstring). ``index`` names it in gap lines; counters are public."""

    def __init__(
        self,
        index: int,
        url: str,
        assets: Sequence[str],
        sink: FrameSink,
        *,
        ping_interval_s: float = PING_INTERVAL_S,
        backoff: Backoff = Backoff(),
        open_timeout_s: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self.index = index
        self.url = url
        self.assets = tuple(assets)
        self._sink = sink
        self._ping_interval_s = ping_interval_s
        self._backoff = backoff
        self._open_timeout_s = open_timeout_s
        self._rng = random.Random(seed)
        self._subscription = subscription(self.assets)
        self._closing = False
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self.state = "connecting"
        """``connecting``, ``up``, ``down`` (waiting to reconnect) or ``closed``."""
        self.connects = 0
        self.reconnects = 0
        self.frames = 0
        self.pings = 0
        self.pongs = 0

    async def run(self) -> None:
        """Record until ``close()``; reconnect whenever the connection drops."""
        loop = asyncio.get_running_loop()
        attempt = 0
        down_since: float | None = None  # loop time the connection went down
        down_reason = ""
        try:
            while not self._closing:
                try:
                    reason = await self._session(down_since, down_reason)
                except (OSError, TimeoutError, WebSocketException) as error:
                    if self.connects == 0:
                        raise ConnectFailed(f"cannot connect to {self.url}: {_why(error)}") from None
                    reason = _why(error)
                if self._closing:
                    return
                if self.state == "up" or down_since is None:  # it was up: the outage starts now
                    down_since, down_reason = loop.time(), reason
                    attempt = 0
                self.state = "down"
                await self._pause(self._backoff.delay_s(attempt, self._rng))
                attempt += 1
        finally:
            self.state = "closed"

    async def _session(self, down_since: float | None, down_reason: str) -> str:
        """One connection, from handshake to drop; returns why it ended."""
        async with connect(
            self.url,
            open_timeout=self._open_timeout_s,
            close_timeout=_CLOSE_TIMEOUT_S,
            max_size=_MAX_FRAME_BYTES,
        ) as ws:
            if self._closing:
                return "closed"
            self._ws = ws
            try:
                await ws.send(self._subscription)
                self.connects += 1
                if down_since is not None:  # back after a drop: mark the gap in the file
                    self.reconnects += 1
                    down_ms = (asyncio.get_running_loop().time() - down_since) * 1e3
                    self._sink.gap(_wall_ms(), self.reconnects, down_reason, down_ms, self.index)
                self.state = "up"
                return await self._read(ws)
            except ConnectionClosed as error:  # dropped while sending
                return _why(error)
            finally:
                self._ws = None

    async def _read(self, ws: ClientConnection) -> str:
        loop = asyncio.get_running_loop()
        sink, interval = self._sink, self._ping_interval_s
        next_ping = loop.time() + interval
        while True:
            try:
                async with asyncio.timeout_at(next_ping):
                    data = await ws.recv()  # cancelling a recv loses nothing (websockets)
            except TimeoutError:
                await ws.send("PING")
                self.pings += 1
                next_ping = loop.time() + interval
                continue
            except ConnectionClosed as error:
                return _why(error)
            recv_ms = _wall_ms()
            if data == "PONG":
                self.pongs += 1
                continue
            self.frames += 1
            sink.frame(recv_ms, data)

    async def _pause(self, delay_s: float) -> None:
        """Wait ``delay_s``, or less if ``close()`` is called meanwhile."""
        try:
            async with asyncio.timeout(delay_s):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        """End ``run`` soon, whatever it is doing; idempotent."""
        self._closing = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
