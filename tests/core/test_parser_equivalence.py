"""Three ways through ``core/parser.py`` must give one answer.

* the full builders alone (the reference: every field through its helper);
* ``parse_line``: the fast builders, falling back to the full ones;
* ``parse_line_msgspec``: msgspec typed structs, falling back to
  ``parse_line``.

Same messages, same rejections with the same reasons and line numbers, on
the generated stream, on every fixture line, on hand-made malformed lines
and on random mutations of valid messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook_lab.core import parser
from orderbook_lab.core.parser import parse_line, parse_line_msgspec
from orderbook_lab.core.source import MessageSource, SourceConfig

_FIXTURES = Path(__file__).parents[1] / "fixtures"


def _reference(text, line_no=0):
    """``parse_line`` with the fast builders switched off."""
    saved = dict(parser._FAST_BUILDERS)
    parser._FAST_BUILDERS.clear()
    try:
        return parse_line(text, line_no)
    finally:
        parser._FAST_BUILDERS.update(saved)


def _assert_same(text, line_no=7):
    expected = _reference(text, line_no)
    assert parse_line(text, line_no) == expected
    assert parse_line_msgspec(text, line_no) == expected
    # Equal structs could still differ in the types of their fields.
    assert [repr(m) for m in parse_line_msgspec(text, line_no)] == [repr(m) for m in expected]
    return expected


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_stream_parses_the_same_three_ways(seed):
    lines = MessageSource.synthetic(SourceConfig(messages=3000, assets=6, seed=seed)).wire_lines()
    for line_no, line in enumerate(lines, 1):
        _assert_same(line, line_no)


@pytest.mark.parametrize("name", ["valid.jsonl", "bad_lines.jsonl"])
def test_fixture_lines_parse_the_same_three_ways(name):
    for line_no, line in enumerate((_FIXTURES / name).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            _assert_same(line.strip(), line_no)


_CHANGE = {
    "asset_id": "a1",
    "price": "0.48",
    "size": "30",
    "side": "BUY",
    "hash": "ab" * 20,
    "best_bid": "0.48",
    "best_ask": "0.52",
}
_PRICE_CHANGE = {
    "event_type": "price_change",
    "market": "0xm",
    "price_changes": [_CHANGE],
    "timestamp": "1760000000000",
}
_BOOK = {
    "event_type": "book",
    "asset_id": "a1",
    "market": "0xm",
    "timestamp": "1760000000000",
    "hash": "cd" * 20,
    "bids": [{"price": "0.47", "size": "5"}, {"price": ".47", "size": "1"}],
    "asks": [{"price": "0.520", "size": "2.5"}],
}


def _with(base: dict, **changes) -> str:
    obj = {**base, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not _DROP})


def _change(**changes) -> str:
    entry = {k: v for k, v in {**_CHANGE, **changes}.items() if v is not _DROP}
    return _with(_PRICE_CHANGE, price_changes=[entry])


_DROP = object()
_TRADE = {
    "event_type": "last_trade_price",
    "asset_id": "a1",
    "market": "0xm",
    "price": "0.48",
    "side": "BUY",
    "size": "12.5",
    "fee_rate_bps": "0",
    "timestamp": "1760000000001",
}
_TICK = {
    "event_type": "tick_size_change",
    "asset_id": "a1",
    "market": "0xm",
    "old_tick_size": "0.01",
    "new_tick_size": "0.001",
    "timestamp": "1760000000002",
}

MALFORMED = [
    "",
    " ",
    "{",
    "[",
    "null",
    "5",
    '"x"',
    "[]",
    "[[]]",
    "{}",
    '{"event_type": ""}',
    '{"event_type": 5}',
    '{"event_type": "book"} x',
    '{"event_type": "best_bid_ask", "asset_id": "a"}',
    '{"event_type": "book", "asset_id": "a", "bids": [], "asks": [], "x": NaN}',
    '{"event_type": "book", "asset_id": "a", "bids": [], "asks": [], "event_type": "price_change"}',
    '{"event_type": "price_change", "event_type": "book", "asset_id": "a", "bids": [], "asks": []}',
    '\ufeff{"event_type": "book", "asset_id": "a", "bids": [], "asks": []}',
    '  {"event_type": "book", "asset_id": "a", "bids": [], "asks": []}  ',
    '{"event_type": "book", "asset_id": "a\\u0000", "bids": [], "asks": []}',
    '{"event_type": "book", "asset_id": "\\ud800", "bids": [], "asks": []}',
    '{"event\\u005ftype": "book", "asset_id": "a", "bids": [], "asks": []}',
    _with(_BOOK, bids=_DROP, buys=[{"price": "0.4", "size": "1"}]),
    _with(_BOOK, bids=None),
    _with(_BOOK, bids={}),
    _with(_BOOK, bids=[5]),
    _with(_BOOK, asks=[{"price": "0.5"}]),
    _with(_BOOK, asset_id=""),
    _with(_BOOK, asset_id=5),
    _with(_BOOK, asset_id=_DROP),
    _with(_BOOK, market=""),
    _with(_BOOK, market=None),
    _with(_BOOK, market=7),
    _with(_BOOK, market=_DROP),
    _with(_BOOK, hash=""),
    _with(_BOOK, hash=None),
    _with(_BOOK, hash=[1]),
    _with(_BOOK, timestamp=""),
    _with(_BOOK, timestamp=None),
    _with(_BOOK, timestamp="12.5"),
    _with(_BOOK, timestamp=12),
    _with(_BOOK, timestamp=12.5),
    _with(_BOOK, timestamp=True),
    _with(_BOOK, timestamp=" 12 "),
    _with(_BOOK, timestamp="1_000"),
    _with(_BOOK, timestamp="abc"),
    _with(_BOOK, bids=[{"price": 0.4, "size": 1}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": 1.5}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": "-0"}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": "0"}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": "inf"}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": "1e400"}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": " 3 "}]),
    _with(_BOOK, bids=[{"price": "0.4", "size": "1_0"}]),
    _with(_BOOK, bids=[{"price": "1", "size": "1"}]),
    _with(_BOOK, bids=[{"price": "0.0001", "size": "1"}]),
    _with(_BOOK, bids=[{"price": True, "size": "1"}]),
    _with(_BOOK, bids=[{"price": ["x"], "size": "1"}]),
    _with(_BOOK, tick_size="0.01", last_trade_price=""),
    _change(),
    _change(price=".48"),
    _change(price="0.480"),
    _change(price="0.4805"),
    _change(price="1.0"),
    _change(price=""),
    _change(price=None),
    _change(price=0.48),
    _change(price={"a": 1}),
    _change(size="0"),
    _change(size="-1"),
    _change(size="NaN"),
    _change(size="Infinity"),
    _change(size=3),
    _change(size="3."),
    _change(size=".5"),
    _change(size="+3"),
    _change(size="00012"),
    _change(size=None),
    _change(side="buy"),
    _change(side="sell"),
    _change(side="HOLD"),
    _change(side=None),
    _change(side=["BUY"]),
    _change(best_bid="0"),
    _change(best_ask="1"),
    _change(best_bid=""),
    _change(best_bid=None),
    _change(best_bid=_DROP, best_ask=_DROP),
    _change(best_bid="1.5"),
    _change(best_bid=0.4),
    _change(best_ask=[]),
    _change(asset_id=""),
    _change(asset_id=5),
    _change(asset_id=_DROP),
    _with(_PRICE_CHANGE, price_changes=[]),
    _with(_PRICE_CHANGE, price_changes=None),
    _with(_PRICE_CHANGE, price_changes=[5]),
    _with(_PRICE_CHANGE, price_changes={"a": 1}),
    _with(_PRICE_CHANGE, price_changes=[_CHANGE, {**_CHANGE, "price": "9"}]),
    _with(
        _PRICE_CHANGE,
        price_changes=_DROP,
        asset_id="a",
        changes=[{"price": "0.4", "side": "BUY", "size": "1"}],
    ),
    _with(_PRICE_CHANGE, price_changes=_DROP, asset_id="a", price="0.4", side="SELL", size="1"),
    _with(_PRICE_CHANGE, price_changes=_DROP),
    _with(_PRICE_CHANGE, market=""),
    _with(_PRICE_CHANGE, timestamp=5),
    _with(_TRADE),
    _with(_TRADE, price="1"),
    _with(_TRADE, price=0.48),
    _with(_TRADE, size="-1"),
    _with(_TRADE, size=3),
    _with(_TRADE, side="sell"),
    _with(_TRADE, side="X"),
    _with(_TRADE, asset_id=""),
    _with(_TRADE, market=_DROP, timestamp=_DROP),
    _with(_TRADE, timestamp="1e3"),
    _with(_TRADE, timestamp="12.0"),
    _with(_TICK),
    _with(_TICK, new_tick_size="1"),
    _with(_TICK, new_tick_size="abc"),
    _with(_TICK, old_tick_size=0.01),
    _with(_TICK, new_tick_size="nan"),
    _with(_TICK, new_tick_size=" 0.001 "),
    _with(_TICK, asset_id=_DROP),
    json.dumps([_PRICE_CHANGE, _BOOK]),
    json.dumps([_TRADE, _TICK, _BOOK]),
    json.dumps([_PRICE_CHANGE, {"event_type": "last_trade_price"}]),
    json.dumps([_BOOK, 5, {"event_type": "x"}]),
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_and_odd_lines_parse_the_same_three_ways(text):
    _assert_same(text)


def test_the_cases_cover_both_outcomes():
    """The list above holds accepted lines and rejected ones, and lines the
    msgspec structs answer as well as lines they hand back."""
    outcomes = {type(item).__name__ for text in MALFORMED for item in _reference(text)}
    assert {
        "Rejection",
        "BookMessage",
        "PriceChangeMessage",
        "OtherMessage",
        "LastTradePriceMessage",
        "TickSizeChangeMessage",
    } <= outcomes


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["0.48", ".5", "0", "1", "BUY", "sell", "", "12"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@given(
    base=st.sampled_from(["book", "change", "trade", "tick"]),
    key=st.sampled_from(
        [
            "asset_id",
            "market",
            "timestamp",
            "hash",
            "bids",
            "asks",
            "price_changes",
            "price",
            "size",
            "side",
            "best_bid",
            "best_ask",
            "event_type",
        ]
    ),
    value=_json,
    in_entry=st.booleans(),
)
@settings(max_examples=400)
def test_random_mutations_parse_the_same_three_ways(base, key, value, in_entry):
    if base == "book":
        obj = json.loads(json.dumps(_BOOK))
        target = obj["bids"][0] if in_entry else obj
    elif base == "change":
        obj = json.loads(json.dumps(_PRICE_CHANGE))
        target = obj["price_changes"][0] if in_entry else obj
    else:
        obj = target = dict(_TRADE if base == "trade" else _TICK)
    target[key] = value
    _assert_same(json.dumps(obj))
