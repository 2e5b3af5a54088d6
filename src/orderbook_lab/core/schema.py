"""Schema evolution: versioned wire structs for messages between processes.

Why schemas evolve
------------------
In this lab a parent and its workers start from the same code, so the
positional (``array_like``) structs of ``messages`` are safe between them.
Outside a lab, processes upgrade one at a time: during a rolling deploy a
worker on new code reads frames from a parent still on old code, and the
other way round, and a file written last month is read by today's code. A
wire format that works only when both ends run the same build turns every
upgrade into stopping everything at once. Two promises avoid that:

* backward compatibility: a new reader reads old bytes (v2 reads v1);
* forward compatibility: an old reader reads new bytes (v1 reads v2).

What msgspec gives
------------------
A ``msgspec.Struct`` encodes as a map (field name -> value) unless it is
``array_like``. For a map, decoding is by name, and:

* a field with a default may be missing: the decoder fills in the default
  (a new reader of old bytes);
* keys the struct does not declare are skipped, in C, without building
  anything (an old reader of new bytes; ``forbid_unknown_fields=True``
  would make them an error instead);
* ``msgspec.field(name=...)`` (or ``rename=``) parts a field's attribute
  from its key, so code can rename what the wire keeps;
* tagged unions: one key (here ``kind``) names the struct, so one decoder,
  built once, reads every kind and builds the right class.

The rules this module keeps
---------------------------
1. Every message carries ``v``, the schema version of the process that
   wrote it (required: a payload without it is malformed).
2. A new version only adds fields with defaults, and renames in code only.
   Then both promises hold with no code at all.
3. A change that cannot be read both ways (a new required field, a key
   renamed on the wire, a new type or unit) is not a new version of a kind
   but a new kind (a new tag, say ``book.2``). Old readers refuse it by
   name, with an error at ``$.kind``, instead of misreading it.
4. ``v`` is how a rollout is known to be over: once no process sees
   ``v == 1``, v1's leftovers may go.

v1 to v2
--------
v2 adds ``seq`` to every kind: the writer's count of the messages it sent
on a stream (0, 1, 2, ...), so a reader on the far side of a pipe can see a
lost, repeated or reordered message. Its default, ``None``, is what a v1
writer means: it did not number its messages.

v2 renames ``timestamp_ms`` to ``ts_ms``, in code. On the wire the key stays
``timestamp_ms``, because on a map wire the key *is* the contract: a v1
reader requires that key, and a new key would be, to v1, a required field
gone missing (``tests/core/test_schema.py`` shows the error). The shorter
key would have saved 7 bytes a message; v2 cannot have them without
breaking v1 readers, which rule 3 says takes a new kind.

So the migration is declared, not coded, and in one place: v2's structs (the
default of ``seq`` in their base, the key of ``ts_ms``). The v2 decoder
applies it to v1 bytes as it reads them; ``upgrade`` applies it to a v1
object by going through the same wire form, so the two cannot disagree.
``v`` is kept as read: a v2 reader that sees ``v == 1`` knows that ``seq``
is ``None`` because the writer had no such field.

What ``array_like`` costs you
-----------------------------
A positional struct is an array of its values, without their names: fewer
bytes, and no key to match on the way in. msgspec even lets it grow at the
end: a missing trailing field takes its default and extra trailing values
are ignored, so appending a field keeps both promises. But the position is
the contract: a field can never be removed, reordered or inserted in the
middle, and when one is, an old reader takes the newcomer's value for the
field that used to sit there, silently whenever the types agree. (A rename
is free: names never reach the wire.) A map buys that freedom with its
names, paid in every message, in bytes and in decode time. ``schema_costs``
measures what they cost on the seeded stream.

    >>> from orderbook_lab.core.messages import PriceChange, PriceChangeMessage
    >>> message = PriceChangeMessage("0xm", 1760000000000, (PriceChange("a1", "BUY", 4800, 30.0),))
    >>> old = encode(to_v1(message))             # a v1 process writes
    >>> read = decode_v2(old)                    # a v2 process reads
    >>> read.v, read.ts_ms, read.seq             # the writer's version, the renamed field, the default
    (1, 1760000000000, None)
    >>> to_message(read) == message
    True
    >>> back = decode_v1(encode(to_v2(message, seq=41)))   # and the other way round
    >>> back.v, back.timestamp_ms, hasattr(back, "seq")
    (2, 1760000000000, False)
    >>> len(encode(message)), len(old), len(encode(to_v2(message, seq=41)))   # bytes: names cost
    (50, 129, 134)

Of those 134 bytes of v2, 82 are keys.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec

from .messages import (
    BookMessage,
    LastTradePriceMessage,
    Message,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    Side,
    TickSizeChangeMessage,
)

__all__ = [
    "WireLevel",
    "WireChange",
    "BookV1",
    "PriceChangeV1",
    "LastTradePriceV1",
    "TickSizeChangeV1",
    "OtherV1",
    "WireV1",
    "BookV2",
    "PriceChangeV2",
    "LastTradePriceV2",
    "TickSizeChangeV2",
    "OtherV2",
    "WireV2",
    "SchemaError",
    "to_v1",
    "to_v2",
    "to_message",
    "upgrade",
    "encode",
    "decode_v1",
    "decode_v2",
    "schema_costs",
]

_Version = Annotated[int, msgspec.Meta(ge=1)]
"""A schema version: 1, 2, ... (0 or less is a malformed payload)."""

# gc=False, as in ``messages``: frozen, and holding only scalars and tuples
# of frozen structs, a wire struct can never close a reference cycle.
# Every struct is map-encoded (no ``array_like``): that is the point.


class WireLevel(msgspec.Struct, frozen=True, gc=False):
    """One book level: ``price`` in ticks of 0.0001, total ``size``.
    The same in v1 and v2 (a message's ``v`` covers what it holds)."""

    price: int
    size: float


class WireChange(msgspec.Struct, frozen=True, gc=False):
    """One level change of a ``price_change`` (see ``messages.PriceChange``);
    the same in v1 and v2."""

    asset_id: str
    side: Side
    price: int
    size: float
    best_bid: int | None = None
    best_ask: int | None = None


class _V1(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag_field="kind"):
    """What every v1 kind carries besides its tag: the writer's version.
    Keyword-only: on a map wire order means nothing, and in code a field
    added later can never shift a positional argument."""

    v: _Version


class BookV1(_V1, kw_only=True, tag="book"):
    """v1 of ``messages.BookMessage``."""

    asset_id: str
    market: str
    timestamp_ms: int
    bids: tuple[WireLevel, ...]
    asks: tuple[WireLevel, ...]
    hash: str = ""
    tick_size: int | None = None


class PriceChangeV1(_V1, kw_only=True, tag="price_change"):
    """v1 of ``messages.PriceChangeMessage``."""

    market: str
    timestamp_ms: int
    changes: tuple[WireChange, ...]


class LastTradePriceV1(_V1, kw_only=True, tag="last_trade_price"):
    """v1 of ``messages.LastTradePriceMessage``."""

    asset_id: str
    market: str
    timestamp_ms: int
    price: int
    size: float
    side: Side


class TickSizeChangeV1(_V1, kw_only=True, tag="tick_size_change"):
    """v1 of ``messages.TickSizeChangeMessage``."""

    asset_id: str
    market: str
    timestamp_ms: int
    old_tick_size: int
    new_tick_size: int


class OtherV1(_V1, kw_only=True, tag="other"):
    """v1 of ``messages.OtherMessage`` (``event_type`` is the feed's)."""

    event_type: str
    asset_id: str = ""


WireV1 = BookV1 | PriceChangeV1 | LastTradePriceV1 | TickSizeChangeV1 | OtherV1
"""Every v1 kind: a tagged union, told apart by the ``kind`` key."""


class _V2(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag_field="kind"):
    """What every v2 kind carries besides its tag: the writer's version and,
    new in v2, ``seq`` (see the module docstring). Its default is the half
    of the migration that fills what a v1 writer never wrote."""

    v: _Version
    seq: int | None = None


# The other half of the migration, one line per timed kind: the attribute is
# ``ts_ms``, the key stays v1's.
_TIMESTAMP_KEY = "timestamp_ms"


class BookV2(_V2, kw_only=True, tag="book"):
    """v2 of ``messages.BookMessage``."""

    asset_id: str
    market: str
    ts_ms: int = msgspec.field(name=_TIMESTAMP_KEY)
    bids: tuple[WireLevel, ...]
    asks: tuple[WireLevel, ...]
    hash: str = ""
    tick_size: int | None = None


class PriceChangeV2(_V2, kw_only=True, tag="price_change"):
    """v2 of ``messages.PriceChangeMessage``."""

    market: str
    ts_ms: int = msgspec.field(name=_TIMESTAMP_KEY)
    changes: tuple[WireChange, ...]


class LastTradePriceV2(_V2, kw_only=True, tag="last_trade_price"):
    """v2 of ``messages.LastTradePriceMessage``."""

    asset_id: str
    market: str
    ts_ms: int = msgspec.field(name=_TIMESTAMP_KEY)
    price: int
    size: float
    side: Side


class TickSizeChangeV2(_V2, kw_only=True, tag="tick_size_change"):
    """v2 of ``messages.TickSizeChangeMessage``."""

    asset_id: str
    market: str
    ts_ms: int = msgspec.field(name=_TIMESTAMP_KEY)
    old_tick_size: int
    new_tick_size: int


class OtherV2(_V2, kw_only=True, tag="other"):
    """v2 of ``messages.OtherMessage``."""

    event_type: str
    asset_id: str = ""


WireV2 = BookV2 | PriceChangeV2 | LastTradePriceV2 | TickSizeChangeV2 | OtherV2
"""Every v2 kind: a tagged union with the same tags and key as ``WireV1``."""


class SchemaError(ValueError):
    """A payload this schema version cannot read: not MessagePack, an
    unknown kind, a missing or wrong field, a version below 1. The message
    names the reader's version and msgspec's path to the field (``$.v``)."""


def _levels(levels: tuple[tuple[int, float], ...]) -> tuple[WireLevel, ...]:
    return tuple([WireLevel(price, size) for price, size in levels])


def _changes(changes: tuple[PriceChange, ...]) -> tuple[WireChange, ...]:
    return tuple([WireChange(c.asset_id, c.side, c.price, c.size, c.best_bid, c.best_ask) for c in changes])


def to_v1(message: Message) -> WireV1:
    """The v1 wire struct of an internal message, as a v1 process writes it
    (``v == 1``). O(levels or changes). A ``TypeError`` for anything else.

        >>> from orderbook_lab.core.messages import OtherMessage
        >>> to_v1(OtherMessage("best_bid_ask", "a1"))
        OtherV1(v=1, event_type='best_bid_ask', asset_id='a1')
    """
    kind = type(message)
    if kind is PriceChangeMessage:
        return PriceChangeV1(
            v=1, market=message.market, timestamp_ms=message.timestamp_ms, changes=_changes(message.changes)
        )
    if kind is BookMessage:
        return BookV1(
            v=1,
            asset_id=message.asset_id,
            market=message.market,
            timestamp_ms=message.timestamp_ms,
            bids=_levels(message.bids),
            asks=_levels(message.asks),
            hash=message.hash,
            tick_size=message.tick_size,
        )
    if kind is LastTradePriceMessage:
        return LastTradePriceV1(
            v=1,
            asset_id=message.asset_id,
            market=message.market,
            timestamp_ms=message.timestamp_ms,
            price=message.price,
            size=message.size,
            side=message.side,
        )
    if kind is TickSizeChangeMessage:
        return TickSizeChangeV1(
            v=1,
            asset_id=message.asset_id,
            market=message.market,
            timestamp_ms=message.timestamp_ms,
            old_tick_size=message.old_tick_size,
            new_tick_size=message.new_tick_size,
        )
    if kind is OtherMessage:
        return OtherV1(v=1, event_type=message.event_type, asset_id=message.asset_id)
    raise TypeError(f"no wire schema for {kind.__name__}")


def to_v2(message: Message, seq: int | None = None) -> WireV2:
    """The v2 wire struct of an internal message, as a v2 process writes it
    (``v == 2``), numbered ``seq`` (``None``: not numbered). O(levels or
    changes). A ``TypeError`` for anything else.

        >>> from orderbook_lab.core.messages import OtherMessage
        >>> to_v2(OtherMessage("best_bid_ask", "a1"), seq=3)
        OtherV2(v=2, seq=3, event_type='best_bid_ask', asset_id='a1')
    """
    kind = type(message)
    if kind is PriceChangeMessage:
        return PriceChangeV2(
            v=2, seq=seq, market=message.market, ts_ms=message.timestamp_ms, changes=_changes(message.changes)
        )
    if kind is BookMessage:
        return BookV2(
            v=2,
            seq=seq,
            asset_id=message.asset_id,
            market=message.market,
            ts_ms=message.timestamp_ms,
            bids=_levels(message.bids),
            asks=_levels(message.asks),
            hash=message.hash,
            tick_size=message.tick_size,
        )
    if kind is LastTradePriceMessage:
        return LastTradePriceV2(
            v=2,
            seq=seq,
            asset_id=message.asset_id,
            market=message.market,
            ts_ms=message.timestamp_ms,
            price=message.price,
            size=message.size,
            side=message.side,
        )
    if kind is TickSizeChangeMessage:
        return TickSizeChangeV2(
            v=2,
            seq=seq,
            asset_id=message.asset_id,
            market=message.market,
            ts_ms=message.timestamp_ms,
            old_tick_size=message.old_tick_size,
            new_tick_size=message.new_tick_size,
        )
    if kind is OtherMessage:
        return OtherV2(v=2, seq=seq, event_type=message.event_type, asset_id=message.asset_id)
    raise TypeError(f"no wire schema for {kind.__name__}")


def _pairs(levels: tuple[WireLevel, ...]) -> tuple[tuple[int, float], ...]:
    # Plain tuples, as the parser builds them (see ``BookMessage``).
    return tuple([(level.price, level.size) for level in levels])


def _price_changes(changes: tuple[WireChange, ...]) -> tuple[PriceChange, ...]:
    return tuple([PriceChange(c.asset_id, c.side, c.price, c.size, c.best_bid, c.best_ask) for c in changes])


def _book(wire: BookV1 | BookV2, timestamp_ms: int) -> BookMessage:
    return BookMessage(
        wire.asset_id,
        wire.market,
        timestamp_ms,
        _pairs(wire.bids),
        _pairs(wire.asks),
        wire.hash,
        wire.tick_size,
    )


def _trade(wire: LastTradePriceV1 | LastTradePriceV2, timestamp_ms: int) -> LastTradePriceMessage:
    return LastTradePriceMessage(wire.asset_id, wire.market, timestamp_ms, wire.price, wire.size, wire.side)


def _tick(wire: TickSizeChangeV1 | TickSizeChangeV2, timestamp_ms: int) -> TickSizeChangeMessage:
    return TickSizeChangeMessage(
        wire.asset_id, wire.market, timestamp_ms, wire.old_tick_size, wire.new_tick_size
    )


# Wire class -> its internal message. The versions differ only in the
# timestamp's attribute; ``v`` and ``seq`` describe the wire, not the
# market, and have no place inside.
_TO_MESSAGE: dict[type, Callable[[Any], Message]] = {
    PriceChangeV1: lambda w: PriceChangeMessage(w.market, w.timestamp_ms, _price_changes(w.changes)),
    PriceChangeV2: lambda w: PriceChangeMessage(w.market, w.ts_ms, _price_changes(w.changes)),
    BookV1: lambda w: _book(w, w.timestamp_ms),
    BookV2: lambda w: _book(w, w.ts_ms),
    LastTradePriceV1: lambda w: _trade(w, w.timestamp_ms),
    LastTradePriceV2: lambda w: _trade(w, w.ts_ms),
    TickSizeChangeV1: lambda w: _tick(w, w.timestamp_ms),
    TickSizeChangeV2: lambda w: _tick(w, w.ts_ms),
    OtherV1: lambda w: OtherMessage(w.event_type, w.asset_id),
    OtherV2: lambda w: OtherMessage(w.event_type, w.asset_id),
}


def to_message(wire: WireV1 | WireV2) -> Message:
    """The internal message a wire struct of either version describes
    (``to_message(to_v1(m)) == m``, and the same for v2). O(levels or
    changes). A ``TypeError`` for anything else."""
    try:
        convert = _TO_MESSAGE[type(wire)]
    except KeyError:
        raise TypeError(f"not a wire message: {type(wire).__name__}") from None
    return convert(wire)


def upgrade(wire: WireV1) -> WireV2:
    """A v1 struct as v2 reads it: ``seq`` takes its default, ``ts_ms`` its
    value from ``timestamp_ms``, ``v`` stays 1 (who wrote it).

    It goes through the wire form (``msgspec.to_builtins``, then
    ``msgspec.convert``), so it follows v2's declarations exactly as the
    decoder does: ``upgrade(w) == decode_v2(encode(w))`` for every ``w``.
    About a decode's cost plus a pass over builtins; for objects in hand,
    never for bytes (``decode_v2`` reads v1 bytes directly).

        >>> from orderbook_lab.core.messages import OtherMessage
        >>> upgrade(to_v1(OtherMessage("new_market")))
        OtherV2(v=1, seq=None, event_type='new_market', asset_id='')
    """
    return msgspec.convert(msgspec.to_builtins(wire), WireV2)


_encode = msgspec.msgpack.Encoder().encode
_decode_v1 = msgspec.msgpack.Decoder(WireV1 | list[WireV1]).decode
_decode_v2 = msgspec.msgpack.Decoder(WireV2 | list[WireV2]).decode


def encode(wire: Any) -> bytes:
    """MessagePack bytes of a wire struct, a list of them, or anything
    msgspec encodes (an internal message encodes as its positional array).
    O(size)."""
    return _encode(wire)


def decode_v1(data: bytes) -> WireV1 | list[WireV1]:
    """Read a message (a map) or a list of them (an array) as a v1 process
    does: keys v1 does not know (v2's ``seq``) are skipped. A
    ``SchemaError`` if v1 cannot read it. O(size)."""
    try:
        return _decode_v1(data)
    except msgspec.DecodeError as error:  # ValidationError included
        raise SchemaError(f"schema v1 cannot read this payload: {error}") from error


def decode_v2(data: bytes) -> WireV2 | list[WireV2]:
    """Read a message (a map) or a list of them (an array) as a v2 process
    does: v1 bytes come back migrated (``seq`` is ``None``, ``ts_ms`` read
    from ``timestamp_ms``, ``v`` as written). A ``SchemaError`` if v2 cannot
    read it. O(size).

        >>> decode_v2(msgspec.msgpack.encode({"kind": "book.2", "v": 3}))
        Traceback (most recent call last):
        ...
        orderbook_lab.core.schema.SchemaError: schema v2 cannot read this payload: Invalid value 'book.2' - at `$.kind`
    """
    try:
        return _decode_v2(data)
    except msgspec.DecodeError as error:
        raise SchemaError(f"schema v2 cannot read this payload: {error}") from error


_decode_array = msgspec.msgpack.Decoder(list[Message]).decode


def schema_costs(messages: Sequence[Message], repeats: int = 5) -> dict[str, float]:
    """What versioned, map-encoded messages cost against today's positional
    ones, on ``messages`` (internal messages, say the seeded stream's).

    Each form encodes the whole list as one MessagePack array (as a frame
    carries many messages, so one call's overhead is spread) and decodes it
    with a typed decoder built once:

    ``array``
        the internal ``array_like`` structs, decoded as ``list[Message]``
        (today's IPC form, without the frame's per-message tuple);
    ``v1``, ``v2``
        the map-encoded wire structs, each read by its own version;
    ``v2_reads_v1``, ``v1_reads_v2``
        each version reading the other's bytes: the migration (defaults,
        the kept key) and the skipped keys.

    and, apart, what moving between internal messages and v2 structs costs
    (``v2_from_messages``: ``to_v2``; ``v2_to_messages``: ``to_message``),
    which a process that keeps ``messages`` inside pays on top, since
    ``array`` decodes straight into them.

    Returns plain numbers: ``messages``, ``repeats``, ``<form>_bytes_per_message``
    and ``<form>_{encode,decode}_ns_per_message`` (the reading pairs: decode
    only), ``v2_{from,to}_messages_ns_per_message``. Times are medians over
    ``repeats`` samples of one call each, taken round robin (a slow spell of
    a shared machine hits every form alike) with the garbage collector off,
    as ``timeit`` does. Before timing, every form's round trip is checked
    to give back ``messages`` (a ``SchemaError`` if not). Cost:
    O(repeats x size of the messages).
    """
    if not messages:
        raise ValueError("schema_costs needs at least one message")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    originals = list(messages)
    count = len(originals)
    v1 = [to_v1(message) for message in originals]
    v2 = [to_v2(message, seq) for seq, message in enumerate(originals)]
    array_bytes, v1_bytes, v2_bytes = _encode(originals), _encode(v1), _encode(v2)

    read_back = {
        "array": _decode_array(array_bytes),
        "v1": [to_message(w) for w in decode_v1(v1_bytes)],
        "v2": [to_message(w) for w in decode_v2(v2_bytes)],
        "v2_reads_v1": [to_message(w) for w in decode_v2(v1_bytes)],
        "v1_reads_v2": [to_message(w) for w in decode_v1(v2_bytes)],
    }
    for form, back in read_back.items():
        if back != originals:
            raise SchemaError(f"{form}: the round trip changed the messages")
    decoded_v2 = decode_v2(v2_bytes)

    timed: dict[str, Callable[[], object]] = {
        "array_encode": lambda: _encode(originals),
        "array_decode": lambda: _decode_array(array_bytes),
        "v1_encode": lambda: _encode(v1),
        "v1_decode": lambda: decode_v1(v1_bytes),
        "v2_encode": lambda: _encode(v2),
        "v2_decode": lambda: decode_v2(v2_bytes),
        "v2_reads_v1_decode": lambda: decode_v2(v1_bytes),
        "v1_reads_v2_decode": lambda: decode_v1(v2_bytes),
        "v2_from_messages": lambda: [to_v2(message, seq) for seq, message in enumerate(originals)],
        "v2_to_messages": lambda: [to_message(wire) for wire in decoded_v2],
    }
    samples: dict[str, list[int]] = {name: [] for name in timed}
    now = time.perf_counter_ns
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, run in timed.items():
                started = now()
                run()
                samples[name].append(now() - started)
    finally:
        if was_enabled:
            gc.enable()

    figures: dict[str, float] = {
        "messages": count,
        "repeats": repeats,
        "array_bytes_per_message": len(array_bytes) / count,
        "v1_bytes_per_message": len(v1_bytes) / count,
        "v2_bytes_per_message": len(v2_bytes) / count,
    }
    for name, taken in samples.items():
        figures[f"{name}_ns_per_message"] = statistics.median(taken) / count
    return figures
