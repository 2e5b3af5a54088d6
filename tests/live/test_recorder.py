"""The Recorder: shards over connections, one file, stops by duration or
stop(), reports progress, and fails with one error if it cannot connect."""

import asyncio
import json

import pytest
from fake_market import FakeMarket, free_port, reference_books

from orderbook_lab.core.recording import RecordingReader
from orderbook_lab.core.source import MessageSource, SourceConfig
from orderbook_lab.live.connection import Backoff, ConnectFailed
from orderbook_lab.live.recorder import RecordConfig, Recorder, shard

pytestmark = pytest.mark.timeout(60)

FAST = Backoff(base_s=0.01, cap_s=0.05)


def _run(scenario):
    async def bounded():
        async with asyncio.timeout(45):
            return await scenario()

    return asyncio.run(bounded())


def test_shard_keeps_order_drops_repeats_and_caps_each_group():
    assets = [f"a{i}" for i in range(1001)]
    groups = shard([*assets, "a0", "a7"])
    assert [len(g) for g in groups] == [500, 500, 1]
    assert [a for g in groups for a in g] == assets
    assert shard([]) == []
    with pytest.raises(ValueError):
        shard(["a"], size=0)


def test_more_than_500_assets_are_spread_over_several_connections(tmp_path):
    assets = [str(10**20 + i) for i in range(1001)]

    async def scenario():
        async with FakeMarket([]) as market:
            recorder = Recorder(assets, tmp_path / "rec.jsonl", RecordConfig(url=market.url, backoff=FAST))
            async with asyncio.TaskGroup() as tasks:
                run = tasks.create_task(recorder.run())
                await market.wait_subscriptions(3)
                recorder.stop()
            return market, run.result()

    market, stats = _run(scenario)
    assert market.bad_subscriptions == []  # each one at most 500 assets, well-formed
    assert sorted(len(s) for s in market.subscriptions) == [1, 500, 500]
    subscribed = [a for s in market.subscriptions for a in s]
    assert sorted(subscribed) == sorted(assets)  # each asset on exactly one connection
    assert stats.connections == 3
    assert (stats.frames, stats.reconnects) == (0, 0)


def test_a_recording_replays_to_the_books_that_were_sent_across_a_drop(tmp_path):
    lines = list(MessageSource.synthetic(SourceConfig(messages=1500, assets=4, seed=2)).wire_lines())
    assets = [book["asset_id"] for book in json.loads(lines[0])]
    path = tmp_path / "rec.jsonl"
    ticks = []

    async def scenario():
        async with FakeMarket(lines, drop_after=700, drop="abort") as market:
            all_in = asyncio.Event()

            def progress(stats):
                ticks.append(stats)
                if market.all_sent.is_set() and stats.frames >= market.frames_sent:
                    all_in.set()

            config = RecordConfig(url=market.url, backoff=FAST, progress_interval_s=0.01)
            recorder = Recorder(assets, path, config, on_progress=progress)
            async with asyncio.TaskGroup() as tasks:
                run = tasks.create_task(recorder.run())
                await all_in.wait()
                recorder.stop()
            return market, run.result()

    market, stats = _run(scenario)
    assert market.dropped and len(market.subscriptions) == 2
    assert (stats.frames, stats.reconnects, stats.books) == (market.frames_sent, 1, len(assets))
    assert stats.bytes == path.stat().st_size
    assert ticks and all(t.connections == 1 for t in ticks)
    reader = RecordingReader(path.read_bytes().splitlines(keepends=True))
    payloads = [p for p in reader if p]
    assert reader.stats().gaps == 1 and reader.stats().frames_timed == stats.frames
    # The fresh snapshots after the drop repair whatever was lost in it.
    assert reference_books(payloads) == reference_books(lines)


def test_the_duration_ends_a_recording_by_itself(tmp_path):
    lines = list(MessageSource.synthetic(SourceConfig(messages=50, assets=2, seed=1)).wire_lines())

    async def scenario():
        async with FakeMarket(lines) as market:
            config = RecordConfig(url=market.url, duration_s=0.3, backoff=FAST)
            return await Recorder(["x"], tmp_path / "rec.jsonl", config).run()

    stats = _run(scenario)
    assert stats.elapsed_s >= 0.3
    assert stats.connections_up == 0  # every connection closed on the way out


def test_a_recorder_that_cannot_connect_raises_one_error_and_closes_its_file(tmp_path):
    path = tmp_path / "rec.jsonl"
    config = RecordConfig(url=f"ws://127.0.0.1:{free_port()}", backoff=FAST)
    assets = [str(i) for i in range(1200)]  # three connections, all failing

    async def scenario():
        await Recorder(assets, path, config).run()

    with pytest.raises(ConnectFailed, match="cannot connect"):
        _run(scenario)
    assert path.read_bytes() == b""


def test_a_recorder_needs_assets(tmp_path):
    with pytest.raises(ValueError, match="no assets"):
        Recorder([], tmp_path / "rec.jsonl")
