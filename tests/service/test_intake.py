"""A stoppable source: the stream ends on request, even mid-sleep."""

import threading

from orderbook_lab.core.source import SourceConfig
from orderbook_lab.engines import RunConfig
from orderbook_lab.service.intake import StoppableSource, replayed_source, simulated_source


def test_an_endless_stream_ends_after_stop():
    source = simulated_source(RunConfig(messages=None, assets=4))
    taken = 0
    for taken, _frame in enumerate(source, 1):
        if taken == 50:
            source.stop()
    assert taken == 50
    assert source.stopped


def test_stop_wakes_a_source_asleep_until_its_next_line():
    # one line every 1,000 s: after the first, the source sleeps
    source = StoppableSource.synthetic(SourceConfig(messages=None, assets=2), rate=0.001)
    first = threading.Event()
    seen = []

    def consume() -> None:
        for frame in source:
            seen.append(frame)
            first.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert first.wait(10)
    source.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert len(seen) == 1


def test_a_replay_is_stoppable_and_otherwise_whole(valid_file):
    whole = replayed_source(valid_file, RunConfig())
    assert sum(1 for _ in whole) == whole.lines_emitted > 0
    stopped = replayed_source(valid_file, RunConfig())
    stopped.stop()
    assert list(stopped) == []
