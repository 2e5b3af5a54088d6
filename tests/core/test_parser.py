"""The wire parser: every valid shape gives the right typed message, every
invalid one a Rejection with its line number and a reason; nothing raises.

tests/fixtures/valid.jsonl, line by line:
 1 book, live-feed order (bids ascending, asks descending), hash with 0x
 2 book with the older buys/sells keys, JSON with spaces, hash without 0x
 3 book with tick_size and last_trade_price "", one price written ".48",
   "0.48" and "0.480" (duplicates), zero sizes
 4 an array of two books (a 0.001-tick market, YES and NO)
 5 price_change, current generation: price_changes with best_bid/best_ask
 6 price_change, 2024-10 generation: top-level asset_id + changes
 7 price_change, 2024-08 flat generation, lower-case side
 8 price_change emptying the bids: best_bid "0"
 9 price_change emptying the asks: best_ask "1"
10 last_trade_price
11 tick_size_change
12 best_bid_ask (an event type the book does not use)
13 new_market (ditto, without asset_id)
14 price_change for an asset that has no snapshot yet (an orphan)

tests/fixtures/bad_lines.jsonl: see ``BAD_LINES`` below.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook_lab.core.messages import (
    BookMessage,
    LastTradePriceMessage,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)
from orderbook_lab.core.parser import Rejection, parse_line, parse_line_msgspec, parse_object, peek_route

M1 = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
M2 = "0xb1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2"
M3 = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
T0 = 1_760_000_000_000


def _levels(*pairs):
    return tuple(PriceLevel(price, float(size)) for price, size in pairs)


VALID_LINES = {
    1: [
        BookMessage(
            "1001",
            M1,
            T0,
            bids=_levels((4600, 100), (4700, 50), (4800, 30)),
            asks=_levels((5500, 10), (5300, 20), (5200, 25)),
            hash="0x0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        )
    ],
    2: [
        BookMessage(
            "1002",
            M1,
            T0 + 1,
            bids=_levels((4500, 10), (4700, 20), (4800, 25)),
            asks=_levels((5400, 100), (5300, 50), (5200, 30)),
            hash="fedcba9876543210fedcba9876543210fedcba98",
        )
    ],
    3: [
        BookMessage(
            "1003",
            M3,
            T0 + 2,
            bids=_levels((4800, 1), (4800, 2), (4800, 3.5), (4700, 3), (4000, 0)),
            asks=_levels((5000, 4), (5000, 0), (6000, 0)),
            hash="1234567890abcdef1234567890abcdef12345678",
            tick_size=10,
        )
    ],
    4: [
        BookMessage(
            "2001",
            M2,
            T0 + 3,
            bids=_levels((490, 7), (500, 8)),
            asks=_levels((520, 9), (510, 6)),
            hash="0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        ),
        BookMessage(
            "2002",
            M2,
            T0 + 3,
            bids=_levels((9480, 9), (9490, 6)),
            asks=_levels((9510, 7), (9500, 8)),
            hash="0xabcdefabcdefabcdefabcdefabcdefabcdefabcd",
        ),
    ],
    5: [
        PriceChangeMessage(
            M1,
            T0 + 4,
            (
                PriceChange("1001", "BUY", 4900, 15.0, 4900, 5200),
                PriceChange("1002", "SELL", 5100, 15.0, 4800, 5100),
            ),
        )
    ],
    6: [
        PriceChangeMessage(
            M1, T0 + 5, (PriceChange("1001", "BUY", 4700, 0.0), PriceChange("1001", "SELL", 5300, 22.5))
        )
    ],
    7: [PriceChangeMessage(M1, T0 + 6, (PriceChange("1002", "BUY", 4700, 0.0),))],
    8: [
        PriceChangeMessage(
            M3,
            T0 + 7,
            (PriceChange("1003", "BUY", 4800, 0.0), PriceChange("1003", "BUY", 4700, 0.0, 0, 5000)),
        )
    ],
    9: [PriceChangeMessage(M3, T0 + 8, (PriceChange("1003", "SELL", 5000, 0.0, 0, 10000),))],
    10: [LastTradePriceMessage("1001", M1, T0 + 9, 5200, 12.0, "BUY")],
    11: [TickSizeChangeMessage("1001", M1, T0 + 10, 100, 10)],
    12: [OtherMessage("best_bid_ask", "1001")],
    13: [OtherMessage("new_market", "")],
    14: [PriceChangeMessage(M3, T0 + 13, (PriceChange("4001", "BUY", 3000, 5.0, 3000, 10000),))],
}

# line -> [(element, a phrase the reason must contain)]; element None: not an array
BAD_LINES = {
    2: [(None, "not JSON")],
    3: [(None, "book: asset_id missing")],
    4: [(None, "price outside (0, 1): '1.2'")],
    5: [(None, "price outside (0, 1): '0'")],
    6: [(None, "price is not a number: '-0.1'")],
    7: [(None, "price is not a number: 'abc'")],
    8: [(None, "finer than the 0.0001 tick: '0.00005'")],
    9: [(None, "size is negative or not finite: '-5'")],
    10: [(None, "size is not a number: 'NaN'")],
    11: [(None, "unknown side: 'HOLD'")],
    12: [(None, "price outside (0, 1): '1.5'")],
    13: [(None, "not an object: int")],
    14: [(None, "not an object: str")],
    15: [(1, "size is not a number: 'x'")],
    17: [(None, "missing event_type")],
    18: [(None, "best price outside [0, 1]: '1.5'")],
}
BAD_FILE_GOOD = {1: 1, 15: 2, 19: 1}
"""Lines of bad_lines.jsonl holding good messages, and how many."""


def test_every_valid_shape_parses_to_the_expected_messages(valid_lines):
    assert len(valid_lines) == len(VALID_LINES)
    for line_no, text in enumerate(valid_lines, 1):
        assert parse_line(text, line_no) == VALID_LINES[line_no], f"line {line_no}"


def test_bytes_parse_like_text(valid_lines):
    for line_no, text in enumerate(valid_lines, 1):
        assert parse_line(text.encode(), line_no) == VALID_LINES[line_no]


def _book_bytes(asset_id: bytes) -> bytes:
    return (
        b'{"event_type":"book","asset_id":"' + asset_id + b'","market":"m","timestamp":"1",'
        b'"bids":[{"price":"0.4","size":"10"}],"asks":[]}'
    )


@pytest.mark.parametrize("parse", [parse_line, parse_line_msgspec], ids=["stdlib", "msgspec"])
def test_bytes_that_are_not_utf8_are_rejected_never_repaired(parse):
    # Decoding with errors="replace" would turn both ids into "a\ufffd", one
    # book fed by two assets; each line must be one rejection instead.
    good = parse(_book_bytes(b"a1"), 1)
    assert [type(m) for m in good] == [BookMessage]
    for line_no, bad_id in ((2, b"a\xff"), (3, b"a\xfe"), (4, b"\xc3(")):
        [rejection] = parse(_book_bytes(bad_id), line_no)
        assert isinstance(rejection, Rejection)
        assert rejection.line == line_no
        assert rejection.reason.startswith("not UTF-8: byte 0x")
    [in_array] = parse(b"[" + _book_bytes(b"\xff") + b"]", 5)
    assert isinstance(in_array, Rejection) and "not UTF-8" in in_array.reason


def test_the_three_price_change_generations_give_the_same_change():
    current = (
        '{"event_type":"price_change","market":"m","price_changes":[{"asset_id":"a","price":"0.4",'
        '"size":"3","side":"SELL"}]}'
    )
    october = (
        '{"event_type":"price_change","market":"m","asset_id":"a",'
        '"changes":[{"price":".40","size":"3","side":"SELL"}]}'
    )
    august = (
        '{"event_type":"price_change","market":"m","asset_id":"a","price":"0.400","size":"3","side":"SELL"}'
    )
    parsed = [parse_line(text) for text in (current, october, august)]
    assert (
        parsed[0]
        == parsed[1]
        == parsed[2]
        == [PriceChangeMessage("m", 0, (PriceChange("a", "SELL", 4000, 3.0),))]
    )


def test_empty_optional_fields_are_accepted():
    # Bug fixed here: "market": "" or "hash": "" rejected a message whose
    # optional field, had it been left out, would have been accepted.
    [message] = parse_line('{"event_type":"book","asset_id":"a","market":"","hash":"","bids":[],"asks":[]}')
    assert message == BookMessage("a", "", 0, (), (), "")
    # ... but a required one may not be empty
    [rejection] = parse_line('{"event_type":"book","asset_id":"","bids":[],"asks":[]}', 3)
    assert rejection == Rejection(3, "book: asset_id missing or not a string")


def test_every_bad_line_is_rejected_with_its_line_number_and_reason(bad_lines):
    assert len(bad_lines) == 19
    for line_no, text in enumerate(bad_lines, 1):
        if not text:  # line 16: blank lines are the source's business, not the parser's
            assert line_no == 16
            continue
        items = parse_line(text, line_no)
        rejections = [item for item in items if isinstance(item, Rejection)]
        good = [item for item in items if not isinstance(item, Rejection)]
        assert len(good) == BAD_FILE_GOOD.get(line_no, 0), f"line {line_no}: {items}"
        expected = BAD_LINES.get(line_no, [])
        assert len(rejections) == len(expected), f"line {line_no}: {items}"
        for rejection, (element, phrase) in zip(rejections, expected, strict=True):
            assert rejection.line == line_no
            assert rejection.element == element
            assert phrase in rejection.reason, (line_no, rejection.reason)
            where = f"line {line_no}" if element is None else f"line {line_no}[{element}]"
            assert rejection.describe() == f"{where}: {rejection.reason}"


def test_an_array_keeps_the_good_elements_around_a_bad_one(bad_lines):
    items = parse_line(bad_lines[14], 15)
    assert [type(item) for item in items] == [PriceChangeMessage, Rejection, LastTradePriceMessage]
    assert items[0].changes == (PriceChange("5001", "BUY", 3900, 7.0),)
    assert items[1] == Rejection(15, "price_change: size is not a number: 'x'", 1)


def test_a_price_change_with_one_bad_entry_is_one_rejection(bad_lines):
    # Its two good entries must not survive as a smaller message.
    assert parse_line(bad_lines[11], 12) == [Rejection(12, "price_change: price outside (0, 1): '1.5'")]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "not JSON"),
        ("not json at all", "not JSON"),
        ('{"event_type": "book"', "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("null", "not an object: NoneType"),
        ("3.5", "not an object: float"),
        ("true", "not an object: bool"),
        ('{"event_type": 5}', "missing event_type"),
        ('{"event_type": ""}', "missing event_type"),
        ('{"event_type":"book","asset_id":"a","asks":[]}', "bids missing"),
        ('{"event_type":"book","asset_id":"a","bids":{},"asks":[]}', "bids is not a list"),
        ('{"event_type":"book","asset_id":"a","bids":["0.5"],"asks":[]}', "level is not an object"),
        (
            '{"event_type":"book","asset_id":"a","bids":[{"price":"0.5"}],"asks":[]}',
            "size is not a decimal string",
        ),
        ('{"event_type":"book","asset_id":7,"bids":[],"asks":[]}', "asset_id missing or not a string"),
        ('{"event_type":"book","asset_id":"a","bids":[],"asks":[],"timestamp":"soon"}', "timestamp"),
        ('{"event_type":"price_change","market":"m"}', "no price_changes, changes or price"),
        ('{"event_type":"price_change","price_changes":[]}', "changes missing or empty"),
        ('{"event_type":"price_change","price_changes":{"a":1}}', "changes missing or empty"),
        ('{"event_type":"price_change","price_changes":[7]}', "change is not an object"),
        (
            '{"event_type":"price_change","changes":[{"price":"0.5","size":"1","side":"BUY"}]}',
            "asset_id missing",
        ),
        (
            '{"event_type":"price_change","price_changes":[{"asset_id":"a","price":"0.5","size":"1"}]}',
            "unknown side",
        ),
        (
            '{"event_type":"price_change","asset_id":"a","price":"0.5","size":"1","side":"BUY","best_bid":"x"}',
            "best price is not a number",
        ),
        (
            '{"event_type":"last_trade_price","asset_id":"a","price":"1","size":"1","side":"BUY"}',
            "outside (0, 1)",
        ),
        (
            '{"event_type":"tick_size_change","asset_id":"a","old_tick_size":"0.01","new_tick_size":"2"}',
            "new_tick_size: tick size is not a multiple of 0.0001 in (0, 1): '2'",
        ),
        (
            '{"event_type":"tick_size_change","asset_id":"a","old_tick_size":"x","new_tick_size":"0.001"}',
            "old_tick_size: tick size is not a multiple of 0.0001 in (0, 1): 'x'",
        ),
    ],
)
def test_invalid_messages(text, phrase):
    [rejection] = parse_line(text, 9)
    assert isinstance(rejection, Rejection)
    assert rejection.line == 9
    assert rejection.element is None
    assert phrase in rejection.reason


@pytest.mark.parametrize(
    "text",
    [
        # Each of these raised out of parse_line before the fixes in this branch.
        pytest.param(
            '{"event_type":"book","asset_id":"a","bids":[],"asks":[],"timestamp":Infinity}',
            id="timestamp-Infinity-OverflowError",
        ),
        pytest.param(
            '{"event_type":"book","asset_id":"a","bids":[{"price":"0.5","size":1'
            + "0" * 400
            + '}],"asks":[]}',
            id="size-huge-int-OverflowError",
        ),
        pytest.param(
            '{"event_type":"tick_size_change","asset_id":"a","old_tick_size":1'
            + "0" * 400
            + ',"new_tick_size":"0.1"}',
            id="tick-size-huge-int-OverflowError",
        ),
        pytest.param(
            '{"event_type":"book","asset_id":"a","bids":[{"price":"1e999999","size":"1"}],"asks":[]}',
            id="price-decimal-Overflow",
        ),
        pytest.param(
            '{"event_type":"price_change","asset_id":"a","price":"0.5","size":"1","side":"BUY",'
            '"best_ask":"1e999999"}',
            id="best-ask-decimal-Overflow",
        ),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep-nesting-RecursionError"),
    ],
)
def test_inputs_that_used_to_raise_are_rejections(text):
    [rejection] = parse_line(text, 4)
    assert isinstance(rejection, Rejection)
    assert rejection.line == 4


def test_parse_object_rejects_non_objects_with_the_element_index():
    assert parse_object([1], 3, 2) == Rejection(3, "not an object: list", 2)
    assert parse_object({"event_type": "whatever", "asset_id": 5}) == OtherMessage("whatever", "")


# ------------------------------------------------------------ hypothesis

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "0",
            "1",
            "0.5",
            ".48",
            "0.480",
            "-0.1",
            "1.2",
            "0.0005",
            "NaN",
            "1e999999",
            "",
            "BUY",
            "sell",
            "HOLD",
            "abc",
        ]
    ),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_FIELDS = [
    "asset_id",
    "market",
    "timestamp",
    "hash",
    "price",
    "size",
    "side",
    "best_bid",
    "best_ask",
    "old_tick_size",
    "new_tick_size",
]
_entry = st.fixed_dictionaries({}, optional={key: _json_scalars for key in _FIELDS})
_message_like = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(
            ["book", "price_change", "last_trade_price", "tick_size_change", "best_bid_ask", ""]
        )
    },
    optional={
        **{key: _json_scalars for key in _FIELDS},
        "bids": st.lists(_entry, max_size=3) | _json_values,
        "asks": st.lists(_entry, max_size=3),
        "buys": st.lists(_entry, max_size=3),
        "price_changes": st.lists(_entry, max_size=3) | _json_values,
        "changes": st.lists(_entry, max_size=3),
    },
)


def _check_parsed(items, line_no, expected_count):
    assert len(items) == expected_count
    for item in items:
        if isinstance(item, Rejection):
            assert item.line == line_no
            assert item.reason
        else:
            assert type(item) in (
                BookMessage,
                PriceChangeMessage,
                LastTradePriceMessage,
                TickSizeChangeMessage,
                OtherMessage,
            )


def _expected_count(text):
    try:
        decoded = json.loads(text)
    except ValueError:
        return 1
    return len(decoded) if isinstance(decoded, list) else 1


@given(st.text())
def test_parse_line_never_raises_on_text(text):
    _check_parsed(parse_line(text, 5), 5, _expected_count(text))


@settings(max_examples=300)
@given(st.one_of(_json_values, _message_like, st.lists(_message_like, max_size=3)))
def test_parse_line_never_raises_on_json(value):
    text = json.dumps(value)  # NaN and Infinity included, as Python's decoder accepts them
    items = parse_line(text, 11)
    _check_parsed(items, 11, len(value) if isinstance(value, list) else 1)
    objects = value if isinstance(value, list) else [value]
    for index, (item, obj) in enumerate(zip(items, objects, strict=True)):
        if isinstance(item, Rejection):
            assert item.element == (index if isinstance(value, list) else None)
        elif isinstance(item, PriceChangeMessage):  # built whole, never from a subset
            entries = obj.get("price_changes", obj.get("changes", [obj]))
            assert len(item.changes) == len(entries)


# ------------------------------------------------------------ what a new user tried

_BOOK = '{{"event_type":"book","asset_id":"a","market":"m","timestamp":{ts},"bids":[{bids}],"asks":[]}}'
_CHANGE = (
    '{{"event_type":"price_change","market":"m","timestamp":"1","price_changes":'
    '[{{"asset_id":"a","price":"{price}","size":"{size}","side":"BUY"}}]}}'
)


@pytest.mark.parametrize("parse", [parse_line, parse_line_msgspec], ids=["stdlib", "msgspec"])
@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        pytest.param(_CHANGE.format(price="0.4_8", size="1"), "price is not a number", id="price-underscore"),
        pytest.param(
            _CHANGE.format(price="0.48", size="1_000"), "size is not a number", id="size-underscore"
        ),
        pytest.param(_CHANGE.format(price="0.48", size=" 5"), "size is not a number", id="size-space-before"),
        pytest.param(_CHANGE.format(price="0.48", size="5 "), "size is not a number", id="size-space-after"),
        pytest.param(_CHANGE.format(price="0.48 ", size="5"), "price is not a number", id="price-space"),
        pytest.param(
            _CHANGE.format(price="0.\u0664\u0668", size="5"), "price is not a number", id="price-arabic"
        ),
        pytest.param(_CHANGE.format(price="0.48", size="\u0665"), "size is not a number", id="size-arabic"),
        pytest.param(_BOOK.format(ts="true", bids=""), "timestamp", id="timestamp-bool"),
        pytest.param(_BOOK.format(ts="1760000000000.5", bids=""), "timestamp", id="timestamp-fraction"),
        pytest.param(
            _BOOK.format(ts='"1760000000000.5"', bids=""), "timestamp", id="timestamp-fraction-text"
        ),
        pytest.param(_BOOK.format(ts='"1_760"', bids=""), "timestamp", id="timestamp-underscore"),
        pytest.param(_BOOK.format(ts='" 1760"', bids=""), "timestamp", id="timestamp-space"),
        pytest.param(_BOOK.format(ts='"\u0661\u0667"', bids=""), "timestamp", id="timestamp-arabic"),
        pytest.param(
            _BOOK.format(ts='"1"', bids='{"price":"0.5","size":"1e308"},{"price":"0.5","size":"1e308"}'),
            "add up to infinity",
            id="snapshot-sizes-overflow",
        ),
    ],
)
def test_numbers_only_python_reads_are_rejected_by_both_parsers(parse, text, phrase):
    [rejection] = parse(text, 3)
    assert isinstance(rejection, Rejection), rejection
    assert phrase in rejection.reason
    assert rejection.line == 3


@pytest.mark.parametrize("parse", [parse_line, parse_line_msgspec], ids=["stdlib", "msgspec"])
def test_two_large_sizes_at_two_prices_are_fine(parse):
    # Only repeated prices add up: 1e308 at 0.5 and at 0.4 is a valid (if odd) book.
    text = _BOOK.format(ts='"1"', bids='{"price":"0.5","size":"1e308"},{"price":"0.4","size":"1e308"}')
    [book] = parse(text)
    assert isinstance(book, BookMessage)
    assert [size for _, size in book.bids] == [1e308, 1e308]


@pytest.mark.parametrize("parse", [parse_line, parse_line_msgspec], ids=["stdlib", "msgspec"])
def test_lines_that_are_not_utf8_never_become_an_asset(parse):
    # Read with replacement characters, these two different byte strings
    # were one asset id "\ufffd\ufffd", and their levels landed in one book.
    first = b'{"event_type":"book","asset_id":"\xff\xfe","bids":[{"price":"0.4","size":"1"}],"asks":[]}'
    second = b'{"event_type":"book","asset_id":"\xfe\xff","bids":[{"price":"0.6","size":"2"}],"asks":[]}'
    for line_no, raw in enumerate((first, second), 1):
        [rejection] = parse(raw, line_no)
        assert rejection == Rejection(line_no, f"not UTF-8: byte 0x{raw[33]:02x} at position 33")


@pytest.mark.parametrize("parse", [parse_line, parse_line_msgspec], ids=["stdlib", "msgspec"])
def test_a_book_carries_its_tick_size(parse):
    text = (
        '{"event_type":"book","asset_id":"a","market":"m","timestamp":"1","hash":"ab",'
        '"bids":[{"price":"0.9995","size":"3"}],"asks":[],"tick_size":"0.0001","last_trade_price":""}'
    )
    [book] = parse(text)
    assert (book.tick_size, book.bids) == (1, (PriceLevel(9995, 3.0),))


@pytest.mark.parametrize(
    ("line", "route"),
    [
        ('{"event_type":"book","asset_id":"71","market":"0xab","bids":[],"asks":[]}', ("0xab", "71", "book")),
        (
            '{ "market" : "0xab" , "price_changes" : [ {"asset_id": "9"}, {"asset_id": "8"} ] }',
            ("0xab", "9", ""),
        ),
        (
            b'{"market":"0xab","asset_id":"5","changes":[{"price":"0.5"}]}',
            ("0xab", "5", ""),
        ),  # 2024-10 generation
        ('{"market":"0x\\u0061b","asset_id":"7"}', ("0xab", "7", "")),  # escapes are decoded, not feared
        ('{"event_type":"book","asset_id":"71","bids":[{"market":"x"}]}', None),  # no top-level market
        ('{"market":"0xab","event_type":"tick_size_change"}', None),  # no asset: the full path decides
        ('[{"event_type":"book","asset_id":"71","market":"0xab"}]', None),  # arrays take the full path
        (b'{"market":"\xff","asset_id":"7"}', None),  # not UTF-8
        ('{"market":"0xab","asset_id":"7"', None),  # broken JSON
        ('{"market":7,"asset_id":"7"}', None),  # odd types
    ],
)
def test_peek_route_finds_the_market_first_asset_and_kind_or_declines(line, route):
    assert peek_route(line) == route
