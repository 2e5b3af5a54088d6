"""One connection against a local fake market channel (127.0.0.1): the
subscription, PING/PONG, reconnecting with a gap, and failing fast.

Each test runs one event loop (``asyncio.run``) holding both the server and
the connection, waits on events the server sets, and bounds every wait.
"""

import asyncio
import json
import random

import pytest
from fake_market import FakeMarket, free_port

from orderbook_lab.core.source import MessageSource, SourceConfig
from orderbook_lab.live.connection import Backoff, ConnectFailed, Connection, subscription

pytestmark = pytest.mark.timeout(60)

FAST = Backoff(base_s=0.01, cap_s=0.05)


class ListSink:
    """Keeps what a connection hands over; ``wait_frames`` waits for a count."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, str | bytes]] = []
        self.gaps: list[tuple] = []
        self._changed = asyncio.Event()

    def frame(self, recv_ms, data) -> None:
        self.frames.append((recv_ms, data))
        self._changed.set()

    def gap(self, recv_ms, reconnect, reason, down_ms, connection) -> None:
        self.gaps.append((len(self.frames), reconnect, reason, down_ms, connection))

    async def wait_frames(self, count: int) -> None:
        while len(self.frames) < count:
            self._changed.clear()
            await self._changed.wait()


def _stream(messages: int = 600) -> tuple[list[str], list[str]]:
    lines = list(MessageSource.synthetic(SourceConfig(messages=messages, assets=2, seed=8)).wire_lines())
    assets = [book["asset_id"] for book in json.loads(lines[0])]
    return lines, assets


def test_the_subscription_message_is_the_markets_own():
    assert json.loads(subscription(["1", "2"])) == {
        "assets_ids": ["1", "2"],
        "type": "market",
        "custom_feature_enabled": True,
    }


def test_backoff_grows_exponentially_up_to_its_cap_with_bounded_jitter():
    backoff = Backoff(base_s=0.5, cap_s=30.0, jitter=0.5)
    rng = random.Random(3)
    delays = [backoff.delay_s(attempt, rng) for attempt in range(12)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 30.0
    assert delays[8] > delays[0] * 16  # exponential, not linear
    assert len(set(delays[8:])) == 4  # capped, but still jittered
    assert backoff.delays(5, seed=1) == backoff.delays(5, seed=1)
    assert Backoff(jitter=0.0).delays(3) == [0.5, 1.0, 2.0]
    assert Backoff(base_s=1.0, cap_s=5.0).delay_s(10_000, random.Random(0)) <= 5.0  # no overflow


def _run(scenario):
    async def bounded():
        async with asyncio.timeout(45):
            return await scenario()

    return asyncio.run(bounded())


def test_frames_are_handed_over_as_sent_and_pongs_are_not():
    lines, assets = _stream()

    async def scenario():
        async with FakeMarket(lines, expect_assets=set(assets)) as market:
            sink = ListSink()
            connection = Connection(0, market.url, assets, sink, ping_interval_s=0.02, backoff=FAST)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(connection.run())
                await market.wait_pings(3)
                await sink.wait_frames(len(lines))
                await connection.close()
            return market, sink, connection

    market, sink, connection = _run(scenario)
    assert market.subscriptions == [assets]
    assert market.bad_subscriptions == []
    assert [data for _, data in sink.frames] == lines  # text frames, verbatim, in order; no PONG
    assert connection.pings >= 3 and connection.pongs >= 1
    assert connection.state == "closed"
    stamps = [recv_ms for recv_ms, _ in sink.frames]
    assert stamps == sorted(stamps) and stamps[0] > 1.7e12  # unix ms


def test_a_dropped_connection_comes_back_subscribes_again_and_marks_the_gap():
    lines, assets = _stream()

    async def scenario():
        async with FakeMarket(lines, drop_after=200, drop="close") as market:
            sink = ListSink()
            connection = Connection(4, market.url, assets, sink, backoff=FAST)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(connection.run())
                await sink.wait_frames(len(lines) + 1)  # every line, plus the fresh snapshots
                await connection.close()
            return market, sink, connection

    market, sink, connection = _run(scenario)
    assert market.subscriptions == [assets, assets]
    assert connection.reconnects == 1
    [(at, reconnect, reason, down_ms, index)] = sink.gaps
    # A clean close delivers everything sent before it: the gap sits right after line 200.
    assert (at, reconnect, index) == (200, 1, 4)
    assert "1012" in reason
    assert down_ms >= 0
    received = [data for _, data in sink.frames]
    snapshot = json.loads(received[200])
    assert [book["event_type"] for book in snapshot] == ["book", "book"]
    assert {book["asset_id"] for book in snapshot} == set(assets)
    assert received[:200] + received[201:] == lines


def test_a_connection_that_never_came_up_fails_at_once():
    async def scenario():
        connection = Connection(0, f"ws://127.0.0.1:{free_port()}/ws/market", ["1"], ListSink(), backoff=FAST)
        with pytest.raises(ConnectFailed, match=r"cannot connect to ws://127\.0\.0\.1"):
            await connection.run()
        return connection

    assert _run(scenario).state == "closed"


def test_close_ends_a_connection_that_waits_to_reconnect():
    lines, assets = _stream(100)

    async def scenario():
        waiting = asyncio.Event()

        class HourLong(Backoff):
            def delay_s(self, attempt, rng):
                waiting.set()
                return 3600.0  # it would wait an hour

        async with FakeMarket(lines, drop_after=10, drop="abort") as market:
            connection = Connection(0, market.url, assets, ListSink(), backoff=HourLong())
            async with asyncio.TaskGroup() as tasks:
                task = tasks.create_task(connection.run())
                await waiting.wait()
                await connection.close()
            return task.done(), connection

    done, connection = _run(scenario)
    assert done and connection.state == "closed"
    assert connection.reconnects == 0
