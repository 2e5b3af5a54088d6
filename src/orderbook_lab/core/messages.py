"""Typed market-channel messages: what the parser produces and the book applies.

Each wire ``event_type`` becomes one frozen, tagged ``msgspec.Struct``; the
``Message`` union is every kind the book understands. Past the parser there
are no dicts and no decimal strings: prices are ``int`` ticks of 0.0001
(see ``prices``), sizes are ``float``, sides are ``"BUY"`` (bids) or
``"SELL"`` (asks) as on the wire, timestamps are unix milliseconds.

Structs are immutable, cheap to build (about the cost of a tuple) and can be
pickled or encoded by msgspec without any adapter, which later phases use.
They are declared ``gc=False``: frozen, and holding only scalars and tuples
of them, they can never close a reference cycle, so the garbage collector
need not track the several a run builds per message.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import msgspec

__all__ = [
    "Side",
    "PriceLevel",
    "BookMessage",
    "PriceChange",
    "PriceChangeMessage",
    "LastTradePriceMessage",
    "TickSizeChangeMessage",
    "OtherMessage",
    "Message",
    "Line",
]

Side = Literal["BUY", "SELL"]
"""``BUY`` changes the bid side of a book, ``SELL`` the ask side."""


class PriceLevel(NamedTuple):
    """One price level: ``price`` in ticks of 0.0001 and the total ``size``
    resting there."""

    price: int
    size: float


class BookMessage(msgspec.Struct, frozen=True, gc=False, array_like=True, tag="book"):
    """A full snapshot of one asset's book: it replaces the book.

    ``bids`` and ``asks`` keep the wire order (any order is allowed);
    a price may appear twice, and then the sizes add up. Each level is a
    plain ``(price_ticks, size)`` tuple, not a ``PriceLevel``: a snapshot's
    levels are read once, by ``dict(levels)``, and CPython builds a dict
    from exact tuples about three times faster than from a tuple subclass
    (they compare equal to ``PriceLevel``s all the same). ``tick_size`` is
    the market's tick in ticks of 0.0001 (100 for 0.01) when the message
    carried one, else ``None``.
    """

    asset_id: str
    market: str
    timestamp_ms: int
    bids: tuple[tuple[int, float], ...]
    asks: tuple[tuple[int, float], ...]
    hash: str = ""
    tick_size: int | None = None


class PriceChange(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Set the total size at (asset, side, price); ``size == 0`` removes it.

    ``best_bid``/``best_ask`` are the feed's view of the book after the
    change, in ticks (0 and 10000 mean an empty side), or ``None`` when the
    message did not carry them.
    """

    asset_id: str
    side: Side
    price: int
    size: float
    best_bid: int | None = None
    best_ask: int | None = None


class PriceChangeMessage(msgspec.Struct, frozen=True, gc=False, array_like=True, tag="price_change"):
    """One or more level changes, possibly for several assets (the feed sends
    both tokens of a market together). Applied whole or not at all."""

    market: str
    timestamp_ms: int
    changes: tuple[PriceChange, ...]


class LastTradePriceMessage(msgspec.Struct, frozen=True, gc=False, array_like=True, tag="last_trade_price"):
    """A trade print. Recorded; it changes no level."""

    asset_id: str
    market: str
    timestamp_ms: int
    price: int
    size: float
    side: Side


class TickSizeChangeMessage(msgspec.Struct, frozen=True, gc=False, array_like=True, tag="tick_size_change"):
    """The market's tick size changed (in ticks of 0.0001: 0.01 is 100).
    It sets the grid later prices are checked against; it moves no level,
    since levels resting off a new, coarser grid stay until the feed
    changes them."""

    asset_id: str
    market: str
    timestamp_ms: int
    old_tick_size: int
    new_tick_size: int


class OtherMessage(msgspec.Struct, frozen=True, gc=False, array_like=True, tag="other"):
    """A well-formed event of a type the book does not use
    (``best_bid_ask``, ``new_market``, ...): counted, never an error."""

    event_type: str
    asset_id: str = ""


Message = BookMessage | PriceChangeMessage | LastTradePriceMessage | TickSizeChangeMessage | OtherMessage


class Line(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="line"):
    """A wire line as it was read, not parsed yet: what the dispatcher sends
    a worker that parses for itself (``--parse-in worker``: it only peeked
    at the line to route it, ``parser.peek_route``), and what the event log
    records for it. ``line_no`` goes with any rejection."""

    line_no: int
    text: bytes
    """UTF-8 as read (a simulated line is encoded once, by the dispatcher)."""
