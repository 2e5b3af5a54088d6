"""The codec seam: everything a process engine sends goes through it, and
with ``--codec msgspec`` nothing it sends is pickled."""

from dataclasses import replace

import pytest

from orderbook_lab.core.book import BookView
from orderbook_lab.core.messages import (
    BookMessage,
    LastTradePriceMessage,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    TickSizeChangeMessage,
)
from orderbook_lab.core.metrics import LatencyHistogram
from orderbook_lab.engines import EngineError, RunConfig, phase_config, run_engine
from orderbook_lab.engines._actor.host import ActorHost
from orderbook_lab.engines._actor.updates import Introduce, Update
from orderbook_lab.engines._codec import CODECS, get_codec
from orderbook_lab.engines._worker import Answer, Drain, Query, Reply, Stop, WorkerCore
from orderbook_lab.engines.actor import ActorEngine
from orderbook_lab.engines.sync import SyncEngine

MESSAGES = [
    PriceChangeMessage("m", 1, (PriceChange("a", "BUY", 480, 1.5, 480, 520),)),
    BookMessage("a", "m", 2, ((4800, 10.0),), ((5200, 3.0),), "h", 100),
    LastTradePriceMessage("a", "m", 3, 4900, 2.0, "SELL"),
    TickSizeChangeMessage("a", "m", 4, 100, 10),
    OtherMessage("best_bid_ask", "a"),
]


@pytest.mark.parametrize("name", sorted(CODECS))
def test_every_codec_round_trips_a_frame_of_every_kind(name):
    codec = get_codec(name, ActorHost.frame_type)
    update = Update("a", "b", "m", "implied_quote", (5200, 5300, 3), tuple(range(9)), 1, 10, 10)
    intro = Introduce("m", ("a", "b", "summary:m"), (0, 1, 0))
    frame = (
        [(123 + i, i == 0, m) for i, m in enumerate(MESSAGES)],
        [intro, update, Query(1, "a", 10, 5), Drain(2), Stop()],
    )
    data = codec.encode(frame)
    assert isinstance(data, bytes)
    assert codec.decode(data) == frame


def test_msgspec_decodes_a_reply_with_its_report_and_views():
    histogram = LatencyHistogram()
    for ns in (1_000, 20_000, 3_000_000):
        histogram.record(ns)
    core = WorkerCore(0, RunConfig())
    for message in MESSAGES:
        core.pipeline.apply(message)
    report = replace(core.report(), latency=histogram)
    view = core.view("a", 5)
    reply = Reply(0, 5, [Answer(1, view, 10, 20), Answer(2, None, 30, 40)], 7, report)
    codec = get_codec("msgspec", WorkerCore.reply_type())
    back = codec.decode(codec.encode(reply))
    assert isinstance(back.answers[0].view, BookView) and back.answers[0].view == view
    assert back.report.books == report.books and back.report.router == report.router
    assert back.report.latency.summary(1e3) == histogram.summary(1e3)
    assert back.report.latency.max_ns == 3_000_000


def test_an_unknown_codec_is_a_clear_error():
    with pytest.raises(EngineError, match="no codec 'protobuf'"):
        get_codec("protobuf")


@pytest.mark.timeout(90)
def test_a_phase_6_style_run_pickles_nothing_it_sends(run_refusing_pickle):
    """The parent's ends of every pipe: frames it encodes and replies it
    decodes, with pickle made to fail once the workers are up; the run
    still reaches sync's books, so both ends spoke msgspec."""
    config = phase_config(
        5, RunConfig(messages=2000, assets=8, seed=3, processes=2, codec="msgspec", query_rate=200)
    )
    engine = ActorEngine(config)
    run_refusing_pickle(engine, config.synthetic_source())
    stats = engine.stats()
    assert stats.pool.ipc.codec == "msgspec" and stats.queries > 0
    sync = run_engine(SyncEngine(replace(config, engine="sync")), config.synthetic_source())
    assert stats.digest == sync.digest
