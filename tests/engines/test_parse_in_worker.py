"""``--parse-in worker``: the dispatcher routes whole lines by a peek at
their market and the workers parse them. Same books as sync, every line
counted once, and a bad line rejected with its number and reason by
whichever process found it."""

from __future__ import annotations

import json

import pytest

from orderbook_lab.core.source import MessageSource
from orderbook_lab.engines import EngineError, RunConfig, create_engine, run_engine

pytestmark = pytest.mark.timeout(120)

_BAD_PRICE = {  # passes the peek (one market, one asset), fails the parser
    "event_type": "price_change",
    "market": "0xbad",
    "timestamp": "1700000000000",
    "price_changes": [{"asset_id": "77", "price": "1.5", "size": "1", "side": "BUY", "hash": "0" * 40}],
}


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> str:
    """1,500 simulated lines, with a line the worker must reject, an array
    line (full path) and a line that is not JSON at all."""
    lines = [frame.text for frame in RunConfig(messages=1500, assets=8, seed=11).synthetic_source()]
    lines.insert(200, json.dumps(_BAD_PRICE))
    lines.insert(400, "[" + lines[399] + "," + lines[398] + "]")
    lines.insert(600, "{not json")
    path = tmp_path_factory.mktemp("parse_in") / "stream.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _replay(path: str, **fields):
    engine = create_engine(RunConfig(messages=None, processes=2, **fields))
    try:
        stats = run_engine(engine, MessageSource.from_file(path))
    finally:
        engine.stop()
    return stats


@pytest.mark.parametrize("engine", ["multiprocessing", "shared-memory", "actor"])
@pytest.mark.parametrize("codec", ["pickle", "msgspec"])
def test_workers_parse_and_reach_syncs_books(stream, engine, codec):
    sync = _replay(stream, engine="sync", codec=codec)
    stats = _replay(stream, engine=engine, codec=codec, parse_in="worker")
    assert stats.digest == sync.digest
    assert (stats.generated, stats.processed, stats.invalid) == (sync.generated, sync.processed, sync.invalid)
    assert [(r.line, r.reason) for r in stats.rejections] == [(r.line, r.reason) for r in sync.rejections]
    assert stats.invalid == 2 and stats.conserved
    assert sum(w.processed for w in stats.pool.workers) == stats.processed


def test_parse_in_worker_needs_a_markets_assets_together():
    with pytest.raises(EngineError, match="--routing directory"):
        create_engine(RunConfig(engine="multiprocessing", routing="hash", parse_in="worker"))
    with pytest.raises(EngineError, match="--placement market"):
        create_engine(RunConfig(engine="actor", placement="asset", parse_in="worker"))


def test_unparsed_lines_still_get_queries_progress_and_timely_batches():
    """The loop's tail runs for every line, parsed here or not: queries
    fall due, progress is reported, and a batch leaves when it is old."""
    seen: list[int] = []
    config = RunConfig(
        engine="multiprocessing", messages=3000, assets=8, seed=4, processes=2, parse_in="worker",
        codec="msgspec", query_rate=500, rate=3000,
    )  # fmt: skip
    engine = create_engine(config, on_progress=seen.append)
    try:
        stats = run_engine(engine, config.synthetic_source())
    finally:
        engine.stop()
    assert stats.queries > 100 and stats.pool.query_outcomes.answered > 0
    assert len(seen) > 3 and seen[-1] == stats.generated
    # Paced at 3,000/s a worker's batch of 64 takes ~40 ms to fill; the 2 ms
    # age limit sends most batches long before they are full.
    assert stats.pool.ipc.frames_sent > 2 * stats.generated / config.ipc_batch
