"""Local stand-ins for Polymarket, on 127.0.0.1 only, for the live tests.

``FakeMarket`` is a websocket server (websockets' asyncio server, port 0)
that behaves like the market channel: it checks the subscription message,
answers ``PING`` with ``PONG``, streams a recording, and can drop the
connection once, mid-stream. On every later subscription it first sends
fresh ``book`` snapshots of the state so far (built from a ``MessageRouter``
that applied every line it sent), like the real feed, then goes on where it
stopped. Tests wait on its events, never on time.

``FakeGamma`` is an HTTP server in a thread that answers the markets query
with a fixed body.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.router import MessageRouter

HOST = "127.0.0.1"


def cli_command() -> list[str]:
    """The installed console script, or the module when there is none."""
    script = Path(sys.executable).with_name("orderbook-lab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from orderbook_lab.cli import main; main()"]


def reference_books(lines: Sequence[str | bytes]) -> dict:
    """What replaying ``lines`` gives: the books a recording must reach."""
    router = MessageRouter()
    for line_no, text in enumerate(lines, 1):
        for item in parse_line(text, line_no):
            if not isinstance(item, Rejection):
                router.apply(item)
    return router.export()


def snapshot_frame(router: MessageRouter) -> str:
    """One array frame with a ``book`` snapshot of every book ``router`` holds."""
    books = []
    for asset, sides in router.export().items():
        books.append(
            {
                "event_type": "book",
                "asset_id": asset,
                "market": "0xfake",
                "timestamp": "1760000000000",
                "hash": "0" * 40,
                "bids": [{"price": price, "size": repr(size)} for price, size in sides["bids"]],
                "asks": [{"price": price, "size": repr(size)} for price, size in sides["asks"]],
            }
        )
    return json.dumps(books)


class FakeMarket:
    """``async with FakeMarket(lines) as market``: serves ``market.url``.

    ``drop_after``: after that many lines on the first connection, drop it
    once, by ``drop`` ("abort": the TCP connection just ends; "close": a
    websocket close with code 1012, service restart).
    """

    def __init__(
        self,
        lines: Sequence[str],
        *,
        drop_after: int | None = None,
        drop: Literal["abort", "close"] = "abort",
        expect_assets: set[str] | None = None,
    ) -> None:
        self.lines = list(lines)
        self.drop_after = drop_after
        self.drop = drop
        self.expect_assets = expect_assets
        self.router = MessageRouter()
        self.position = 0  # lines sent so far, over every connection
        self.subscriptions: list[list[str]] = []
        self.bad_subscriptions: list[str] = []
        self.pings = 0
        self.dropped = False
        self.frames_sent = 0
        self.all_sent = asyncio.Event()
        self.subscribed = asyncio.Event()  # set on every subscription; tests clear it
        self.pinged = asyncio.Event()
        self._server = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/market"

    async def __aenter__(self) -> FakeMarket:
        self._server = await serve(self._serve, HOST, 0, max_size=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def wait_subscriptions(self, count: int, timeout_s: float = 30.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.subscriptions) < count:
                self.subscribed.clear()
                await self.subscribed.wait()

    async def wait_pings(self, count: int, timeout_s: float = 30.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.pings < count:
                self.pinged.clear()
                await self.pinged.wait()

    # ------------------------------------------------------------ a client

    async def _serve(self, ws: ServerConnection) -> None:
        try:
            subscription = json.loads(await ws.recv())
        except (ConnectionClosed, ValueError):
            return
        if not self._valid(subscription):
            self.bad_subscriptions.append(json.dumps(subscription))
            await ws.close(1008, "bad subscription")
            return
        self.subscriptions.append(subscription["assets_ids"])
        self.subscribed.set()
        async with asyncio.TaskGroup() as tasks:
            answer = tasks.create_task(self._answer_pings(ws))
            try:
                await self._stream(ws)
                await answer  # until the client leaves
            except ConnectionClosed:
                pass
            finally:
                answer.cancel()

    def _valid(self, subscription: object) -> bool:
        if not isinstance(subscription, dict):
            return False
        assets = subscription.get("assets_ids")
        if subscription.get("type") != "market" or subscription.get("custom_feature_enabled") is not True:
            return False
        if not isinstance(assets, list) or not assets or len(assets) > 500:
            return False
        return self.expect_assets is None or set(assets) <= self.expect_assets

    async def _answer_pings(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if message == "PING":
                    self.pings += 1
                    self.pinged.set()
                    await ws.send("PONG")
        except ConnectionClosed:
            pass

    async def _stream(self, ws: ServerConnection) -> None:
        if self.position:  # a resubscription: fresh snapshots first, as the feed does
            await self._send(ws, snapshot_frame(self.router))
        while self.position < len(self.lines):
            if self.drop_after is not None and not self.dropped and self.position == self.drop_after:
                self.dropped = True
                if self.drop == "abort":
                    ws.transport.abort()
                else:
                    await ws.close(1012, "restart")
                return
            line = self.lines[self.position]
            self.position += 1
            for item in parse_line(line):
                if not isinstance(item, Rejection):
                    self.router.apply(item)
            await self._send(ws, line)
        self.all_sent.set()

    async def _send(self, ws: ServerConnection, text: str) -> None:
        await ws.send(text)
        self.frames_sent += 1


class FakeGamma:
    """``with FakeGamma(body) as gamma``: answers every GET with ``body``
    (or ``status``) on ``gamma.url``; ``gamma.paths`` holds what was asked."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body = body
        self.status = status
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-gamma", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> FakeGamma:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def gamma_markets(*token_pairs: tuple[str, str]) -> bytes:
    """A Gamma answer listing one market per pair, ``clobTokenIds`` as the
    JSON-encoded string the real API sends."""
    return json.dumps(
        [
            {"id": str(n), "question": f"Market {n}?", "active": True, "clobTokenIds": json.dumps(list(pair))}
            for n, pair in enumerate(token_pairs)
        ]
    ).encode()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    """The environment for a CLI subprocess: no proxy may redirect it."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = HOST
    return env
