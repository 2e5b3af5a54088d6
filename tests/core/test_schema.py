"""``core/schema.py``: versioned wire structs, read in both directions.

v2 reads v1 (the default filled, the renamed field found under its old
key); v1 reads v2 (the extra key skipped); both give back the internal
messages; the tag picks the kind; what cannot be read is a ``SchemaError``
that says where; and ``schema_costs`` returns figures of the right shape
(never asserted for speed: only bytes, which are deterministic).
"""

from __future__ import annotations

import gc
import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook_lab.core.messages import (
    BookMessage,
    LastTradePriceMessage,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    TickSizeChangeMessage,
)
from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.schema import (
    BookV1,
    BookV2,
    LastTradePriceV1,
    LastTradePriceV2,
    OtherV1,
    OtherV2,
    PriceChangeV1,
    PriceChangeV2,
    SchemaError,
    TickSizeChangeV1,
    TickSizeChangeV2,
    WireChange,
    WireLevel,
    decode_v1,
    decode_v2,
    encode,
    schema_costs,
    to_message,
    to_v1,
    to_v2,
    upgrade,
)
from orderbook_lab.core.source import MessageSource, SourceConfig

_TS_MS = 1_760_000_000_123

# One message of every kind, with every optional field both set and unset.
SAMPLES = {
    "book": BookMessage("a1", "0xm", _TS_MS, ((4800, 30.0), (4700, 1.5)), ((5200, 10.0),), "ab12", 100),
    "book_bare": BookMessage("a1", "0xm", _TS_MS, (), ()),
    "price_change": PriceChangeMessage(
        "0xm",
        _TS_MS,
        (PriceChange("a1", "BUY", 4800, 30.0, 4800, 5200), PriceChange("a2", "SELL", 5200, 0.0)),
    ),
    "last_trade_price": LastTradePriceMessage("a1", "0xm", _TS_MS, 4900, 12.5, "SELL"),
    "tick_size_change": TickSizeChangeMessage("a1", "0xm", _TS_MS, 100, 10),
    "other": OtherMessage("best_bid_ask", "a1"),
}
V1_CLASS = {
    BookMessage: BookV1,
    PriceChangeMessage: PriceChangeV1,
    LastTradePriceMessage: LastTradePriceV1,
    TickSizeChangeMessage: TickSizeChangeV1,
    OtherMessage: OtherV1,
}
V2_CLASS = {
    BookMessage: BookV2,
    PriceChangeMessage: PriceChangeV2,
    LastTradePriceMessage: LastTradePriceV2,
    TickSizeChangeMessage: TickSizeChangeV2,
    OtherMessage: OtherV2,
}


@pytest.fixture(scope="module")
def stream() -> list:
    """The seeded stream's messages (snapshots, changes, trades, tick size
    changes) and one ``OtherMessage``, which the simulator never sends."""
    source = MessageSource.synthetic(SourceConfig(messages=1500, assets=6, seed=4))
    messages = [
        m
        for n, line in enumerate(source.wire_lines(), 1)
        for m in parse_line(line, n)
        if type(m) is not Rejection
    ]
    return [*messages, OtherMessage("new_market")]


def _raw(data: bytes):
    """What is on the wire, read without a schema."""
    return msgspec.msgpack.decode(data)


# v2 reads v1


@pytest.mark.parametrize("name", SAMPLES)
def test_v2_reads_v1_with_the_default_filled_and_the_renamed_field_mapped(name):
    message = SAMPLES[name]
    read = decode_v2(encode(to_v1(message)))
    assert type(read) is V2_CLASS[type(message)]
    assert read.v == 1  # as written: the reader knows who wrote it
    assert read.seq is None  # v1 never numbered its messages
    if hasattr(message, "timestamp_ms"):
        assert read.ts_ms == message.timestamp_ms
    assert to_message(read) == message


@pytest.mark.parametrize("name", SAMPLES)
def test_upgrade_migrates_an_object_exactly_as_the_decoder_migrates_bytes(name):
    wire = to_v1(SAMPLES[name])
    assert upgrade(wire) == decode_v2(encode(wire))
    assert to_message(upgrade(wire)) == SAMPLES[name]


# v1 reads v2


@pytest.mark.parametrize("name", SAMPLES)
def test_v1_reads_v2_and_skips_the_fields_it_does_not_know(name):
    message = SAMPLES[name]
    data = encode(to_v2(message, seq=17))
    assert _raw(data)["seq"] == 17  # the extra field is on the wire...
    read = decode_v1(data)
    assert type(read) is V1_CLASS[type(message)]
    assert not hasattr(read, "seq")  # ...and v1 steps over it
    assert read.v == 2
    assert to_message(read) == message


def test_the_rename_is_in_code_only_the_wire_keeps_v1s_key():
    wire = to_v2(SAMPLES["price_change"], seq=0)
    keys = _raw(encode(wire)).keys()
    assert "timestamp_ms" in keys
    assert "ts_ms" not in keys
    assert wire.ts_ms == _TS_MS
    assert keys - {"seq"} == _raw(encode(to_v1(SAMPLES["price_change"]))).keys()


class _RenamedOnTheWire(msgspec.Struct, kw_only=True, tag_field="kind", tag="price_change"):
    """What a rename *on the wire* would have been: a new key for v1's
    required ``timestamp_ms``."""

    v: int
    market: str
    ts_ms: int
    changes: tuple[WireChange, ...]


def test_a_rename_on_the_wire_would_break_every_v1_reader():
    data = encode(_RenamedOnTheWire(v=2, market="m", ts_ms=_TS_MS, changes=()))
    with pytest.raises(SchemaError, match="missing required field `timestamp_ms`"):
        decode_v1(data)


# Round trips and the tagged union


def test_both_versions_give_back_the_stream(stream):
    v1 = decode_v1(encode([to_v1(m) for m in stream]))
    v2 = decode_v2(encode([to_v2(m, seq) for seq, m in enumerate(stream)]))
    assert [to_message(w) for w in v1] == stream
    assert [to_message(w) for w in v2] == stream
    assert [w.seq for w in v2] == list(range(len(stream)))


def test_each_version_reads_the_others_stream(stream):
    assert [to_message(w) for w in decode_v2(encode([to_v1(m) for m in stream]))] == stream
    assert [to_message(w) for w in decode_v1(encode([to_v2(m, 5) for m in stream]))] == stream


def test_the_tag_picks_the_kind(stream):
    kinds = {type(m) for m in stream}
    assert kinds == set(V1_CLASS)  # the stream holds every kind
    data = encode([to_v1(m) for m in stream])
    assert [type(w) for w in decode_v2(data)] == [V2_CLASS[type(m)] for m in stream]
    assert [type(w) for w in decode_v1(data)] == [V1_CLASS[type(m)] for m in stream]
    # On the wire, each item names its kind under one key, the same in both versions.
    assert [item["kind"] for item in _raw(data)] == [V2_CLASS[type(m)].__struct_config__.tag for m in stream]


def test_inner_structs_are_maps_too_and_the_same_in_both_versions():
    level = _raw(encode(to_v2(SAMPLES["book"])))["bids"][0]
    assert level == {"price": 4800, "size": 30.0}
    assert decode_v2(encode(to_v1(SAMPLES["book"]))).bids[0] == WireLevel(4800, 30.0)


def test_wire_structs_are_frozen_and_untracked_by_the_collector(stream):
    for wire in decode_v2(encode([to_v2(m) for m in stream[:50]])):
        assert not gc.is_tracked(wire)
        with pytest.raises(AttributeError):
            wire.v = 3


# What cannot be read


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"kind": "book.2", "v": 3}, "Invalid value 'book.2' - at `$.kind`"),
        ({"v": 1, "market": "m", "timestamp_ms": 1, "changes": []}, "missing required field `kind`"),
        (
            {"kind": "price_change", "market": "m", "timestamp_ms": 1, "changes": []},
            "missing required field `v`",
        ),
        (
            {"kind": "price_change", "v": 0, "market": "m", "timestamp_ms": 1, "changes": []},
            ">= 1 - at `$.v`",
        ),
        ({"kind": "price_change", "v": "2", "market": "m", "timestamp_ms": 1, "changes": []}, "at `$.v`"),
        (
            [{"kind": "other", "v": 1, "event_type": "x"}, {"kind": "other", "v": -1, "event_type": "x"}],
            "at `$[1].v`",
        ),
        ({"kind": "other", "v": 2, "event_type": 7}, "Expected `str`, got `int` - at `$.event_type`"),
    ],
    ids=["unknown kind", "no kind", "no version", "version 0", "version not an int", "bad item", "bad field"],
)
@pytest.mark.parametrize("decode", [decode_v1, decode_v2], ids=["v1", "v2"])
def test_what_cannot_be_read_is_a_schema_error_that_says_where(decode, payload, says):
    with pytest.raises(SchemaError, match=r"^schema v[12] cannot read this payload: ") as raised:
        decode(msgspec.msgpack.encode(payload))
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value.__cause__, msgspec.ValidationError)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xc1", "MessagePack data is malformed: invalid opcode"),
        (encode(to_v2(SAMPLES["book"]))[:-3], "Input data was truncated"),
        (b"", "Input data was truncated"),
    ],
    ids=["bad opcode", "cut short", "empty"],
)
def test_bytes_that_are_not_messagepack_are_a_schema_error(data, says):
    with pytest.raises(SchemaError) as raised:
        decode_v2(data)
    assert str(raised.value).startswith(f"schema v2 cannot read this payload: {says}")
    assert isinstance(raised.value.__cause__, msgspec.DecodeError)


def test_only_messages_have_a_wire_form():
    with pytest.raises(TypeError, match="no wire schema for str"):
        to_v1("book")
    with pytest.raises(TypeError, match="no wire schema for int"):
        to_v2(7)
    with pytest.raises(TypeError, match="not a wire message: PriceChangeMessage"):
        to_message(SAMPLES["price_change"])


# What the positional form allows (the module docstring's claims)


class _PairV1(msgspec.Struct, array_like=True):
    asset_id: str
    price: int


class _PairAppended(msgspec.Struct, array_like=True):
    asset_id: str
    price: int
    seq: int | None = None


class _PairInserted(msgspec.Struct, array_like=True):
    asset_id: str
    seq: int | None = None
    price: int = 0


def test_array_like_grows_at_the_end_in_both_directions():
    assert msgspec.msgpack.decode(encode(_PairAppended("a", 4800, 9)), type=_PairV1) == _PairV1("a", 4800)
    assert msgspec.msgpack.decode(encode(_PairV1("a", 4800)), type=_PairAppended) == _PairAppended("a", 4800)


def test_array_like_misreads_a_field_inserted_in_the_middle_silently():
    read = msgspec.msgpack.decode(encode(_PairV1("a", 4800)), type=_PairInserted)
    assert (read.seq, read.price) == (4800, 0)  # no error: the price became the seq


# Property: any price change survives every path


_changes = st.builds(
    PriceChange,
    asset_id=st.text(min_size=1, max_size=8),
    side=st.sampled_from(["BUY", "SELL"]),
    price=st.integers(0, 10_000),
    size=st.floats(0, 1e12, allow_nan=False),
    best_bid=st.none() | st.integers(0, 10_000),
    best_ask=st.none() | st.integers(0, 10_000),
)


@given(
    market=st.text(max_size=8),
    timestamp_ms=st.integers(0, 2**63 - 1),
    changes=st.lists(_changes, max_size=4).map(tuple),
    seq=st.none() | st.integers(0, 2**63 - 1),
)
def test_any_price_change_survives_both_versions_and_both_crossings(market, timestamp_ms, changes, seq):
    message = PriceChangeMessage(market, timestamp_ms, changes)
    v1, v2 = encode(to_v1(message)), encode(to_v2(message, seq))
    for read in (decode_v1(v1), decode_v2(v2), decode_v2(v1), decode_v1(v2)):
        assert to_message(read) == message
    assert decode_v2(v2).seq == seq


# schema_costs: shape only


def test_schema_costs_returns_finite_positive_figures_per_message(stream):
    figures = schema_costs(stream[:60], repeats=2)
    forms = ("array", "v1", "v2")
    expected = {"messages", "repeats"}
    expected |= {f"{form}_bytes_per_message" for form in forms}
    expected |= {f"{form}_{way}_ns_per_message" for form in forms for way in ("encode", "decode")}
    expected |= {"v2_reads_v1_decode_ns_per_message", "v1_reads_v2_decode_ns_per_message"}
    expected |= {"v2_from_messages_ns_per_message", "v2_to_messages_ns_per_message"}
    assert set(figures) == expected
    assert (figures["messages"], figures["repeats"]) == (60, 2)
    for key, value in figures.items():
        assert isinstance(value, int | float), key
        assert math.isfinite(value) and value > 0, key


def test_schema_costs_bytes_say_what_names_and_the_new_field_cost(stream):
    figures = schema_costs(stream[:60], repeats=1)
    # Sizes, not speed: the same messages always encode to the same bytes.
    assert (
        figures["array_bytes_per_message"] < figures["v1_bytes_per_message"] < figures["v2_bytes_per_message"]
    )
    assert figures["array_bytes_per_message"] == len(encode(stream[:60])) / 60


def test_schema_costs_leaves_the_collector_as_it_found_it(stream):
    assert gc.isenabled()
    schema_costs(stream[:5], repeats=1)
    assert gc.isenabled()
    gc.disable()
    try:
        schema_costs(stream[:5], repeats=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_schema_costs_needs_messages_and_at_least_one_repeat():
    with pytest.raises(ValueError, match="at least one message"):
        schema_costs([], repeats=1)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        schema_costs([SAMPLES["other"]], repeats=0)
