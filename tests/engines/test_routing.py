"""Routing: where each asset lives, and how a multi-asset message is cut."""

import os
import subprocess
import sys

import pytest

from orderbook_lab.core.messages import PriceChange, PriceChangeMessage
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.engines import RunConfig
from orderbook_lab.engines._routing import AssetRoutes, owner

_IDS = [str(n * 7919) for n in range(40)] + ["", "0xabc", "yes-token"]


def test_hash_owner_is_the_same_in_processes_with_different_hash_seeds():
    # str hashes are salted per process; the owner must not be.
    here = [owner(asset, 3) for asset in _IDS]
    code = (
        "import sys, json; from orderbook_lab.engines._routing import owner; "
        "print(json.dumps([owner(a, 3) for a in json.loads(sys.argv[1])]))"
    )
    import json

    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(_IDS)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == here
    assert set(here) == {0, 1, 2}


def _messages(config: RunConfig):
    for frame in config.synthetic_source():
        for item in parse_line(frame.text, frame.line_no):
            if not isinstance(item, Rejection):
                yield item


@pytest.mark.parametrize("scheme", ["directory", "hash"])
def test_the_same_stream_gives_the_same_table_and_an_asset_never_moves(scheme):
    config = RunConfig(messages=2000, assets=11, seed=4, popularity="zipf")
    tables = []
    for _ in range(2):
        routes = AssetRoutes(3, scheme)
        seen: dict[str, int] = {}
        for message in _messages(config):
            for worker, part in routes.parts(message):
                assets = (
                    [c.asset_id for c in part.changes]
                    if isinstance(part, PriceChangeMessage)
                    else [part.asset_id]
                )
                for asset in assets:
                    assert seen.setdefault(asset, worker) == worker
        tables.append(seen)
    assert tables[0] == tables[1]
    assert len(tables[0]) == 11


def test_directory_keeps_a_market_together_and_balances_markets():
    routes = AssetRoutes(2)
    placed = [
        routes.place(asset, market)
        for asset, market in [
            ("y1", "m1"),
            ("n1", "m1"),
            ("y2", "m2"),
            ("n2", "m2"),
            ("y3", "m3"),
            ("solo", ""),
        ]
    ]
    assert placed == [0, 0, 1, 1, 0, 1]
    assert routes.assets_per_worker() == [3, 3]
    assert routes.owner("y2") == 1  # already placed: the hint no longer matters


def test_a_multi_asset_change_is_cut_per_worker_keeping_order():
    routes = AssetRoutes(2, "hash")
    # Find two assets with different owners.
    a = "a"
    b = next(x for x in _IDS if owner(x, 2) != owner(a, 2))
    changes = (
        PriceChange(a, "BUY", 400, 1.0),
        PriceChange(b, "SELL", 600, 2.0),
        PriceChange(a, "BUY", 410, 3.0, 410, 600),
        PriceChange(b, "SELL", 590, 4.0, 400, 590),
    )
    message = PriceChangeMessage("m", 1, changes)
    parts = routes.parts(message)
    assert [worker for worker, _ in parts] == [owner(a, 2), owner(b, 2)]  # primary first
    assert [p.changes for _, p in parts] == [(changes[0], changes[2]), (changes[1], changes[3])]
    assert all(p.market == "m" and p.timestamp_ms == 1 for _, p in parts)
    assert routes.split_messages == 1
    assert routes.book_assets == [a, b]


def test_a_single_owner_message_is_passed_through_uncut():
    routes = AssetRoutes(4)
    message = PriceChangeMessage(
        "m", 1, (PriceChange("y", "BUY", 1, 1.0), PriceChange("n", "SELL", 999, 1.0))
    )
    routes.place("y", "m")
    assert routes.parts(message) == [(routes.owner("y"), message)]
    assert routes.split_messages == 0


def test_refuses_nonsense():
    with pytest.raises(ValueError):
        AssetRoutes(0)
    with pytest.raises(ValueError):
        AssetRoutes(2, "random")


def test_spread_keeps_a_markets_tokens_apart_and_alternates_first_tokens():
    routes = AssetRoutes(2, "spread")
    placed = [routes.place(asset, market) for asset, market in
              [("y1", "m1"), ("n1", "m1"), ("y2", "m2"), ("n2", "m2"), ("y3", "m3"), ("n3", "m3")]]  # fmt: skip
    assert placed == [0, 1, 1, 0, 0, 1]
    assert routes.new_pairs == [("m1", "y1", "n1"), ("m2", "y2", "n2"), ("m3", "y3", "n3")]
    assert [routes.market_owner(m) for m in ("m1", "m2", "m3")] == [0, 1, 0]
    three = AssetRoutes(3, "spread")
    for index in range(30):
        three.place(f"y{index}", f"m{index}")
        three.place(f"n{index}", f"m{index}")
        assert three.owner(f"y{index}") != three.owner(f"n{index}")
    assert three.assets_per_worker() == [20, 20, 20]
