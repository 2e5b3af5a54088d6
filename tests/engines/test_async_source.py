"""The async source adapter: the same frames as blocking iteration, paced on
the loop, with bursts and jitter that change arrival, never content."""

from __future__ import annotations

import asyncio

import pytest

from orderbook_lab.core.clock import SYSTEM_CLOCK
from orderbook_lab.core.source import MessageSource, SourceConfig
from orderbook_lab.engines._async_source import network_frames

_CONFIG = SourceConfig(messages=60, assets=4, seed=11)
_RATE = 40_000.0  # 60 lines in 1.5 ms: paced, and quick


async def _collect(source: MessageSource, **network) -> list:
    return [frame async for frame in network_frames(source, clock=SYSTEM_CLOCK, **network)]


def test_flat_out_yields_exactly_the_blocking_frames():
    blocking = [(f.line_no, f.text) for f in MessageSource.synthetic(_CONFIG)]
    frames = asyncio.run(_collect(MessageSource.synthetic(_CONFIG)))
    assert [(f.line_no, f.text) for f in frames] == blocking


def test_file_line_numbers_survive_blank_lines(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"event_type": "a"}\n\n{"event_type": "b"}\n')
    frames = asyncio.run(_collect(MessageSource.from_file(path)))
    assert [f.line_no for f in frames] == [1, 3]


def test_paced_frames_keep_the_drift_free_schedule():
    source = MessageSource.synthetic(_CONFIG, rate=_RATE)
    frames = asyncio.run(_collect(source))
    interval = 1e9 / _RATE
    start = frames[0].produced_ns
    assert [f.produced_ns - start for f in frames] == [int(i * interval) for i in range(len(frames))]
    assert source.lines_emitted == len(frames)


def test_a_burst_arrives_together_stamped_with_its_send_time():
    burst = 4
    plain = asyncio.run(_collect(MessageSource.synthetic(_CONFIG, rate=_RATE)))
    bursty = asyncio.run(_collect(MessageSource.synthetic(_CONFIG, rate=_RATE), burst=burst))
    assert [f.text for f in bursty] == [f.text for f in plain]
    start, interval = bursty[0].produced_ns, 1e9 / _RATE
    for i, frame in enumerate(bursty):
        first_of_burst = i - i % burst
        assert frame.produced_ns - start == int(first_of_burst * interval)


def test_jitter_keeps_order_and_stamps():
    source = MessageSource.synthetic(_CONFIG, rate=_RATE)
    frames = asyncio.run(_collect(source, jitter_ms=0.5, seed=3))
    plain = asyncio.run(_collect(MessageSource.synthetic(_CONFIG, rate=_RATE)))
    assert [f.text for f in frames] == [f.text for f in plain]
    start, interval = frames[0].produced_ns, 1e9 / _RATE
    assert [f.produced_ns - start for f in frames] == [int(i * interval) for i in range(len(frames))]


def test_burst_must_be_positive():
    with pytest.raises(ValueError):
        asyncio.run(_collect(MessageSource([]), burst=0))
