"""Exact prices: decimal strings on the wire, integer ticks of 0.0001 inside.

A prediction-market price is a probability, so it lives strictly inside
(0, 1). Binary floats cannot represent most decimal prices exactly
(``0.1 + 0.2 != 0.3``), which makes them unsafe as dictionary or sort keys:
two spellings of the same price could land on two levels. Every price is
therefore converted once, at the edge, to an ``int`` number of ticks::

    >>> price_to_ticks("0.48")
    4800
    >>> price_to_ticks(".48") == price_to_ticks("0.480") == 4800
    True
    >>> ticks_to_price(510), ticks_to_price(9995)
    ('0.051', '0.9995')

0.0001 is the finest tick size Polymarket uses; a market trades on a
coarser grid (0.1, 0.01 or 0.001) most of the time, and ``tick_to_ticks``
reads a market's tick size into the same unit (0.01 is 100 ticks).

What counts as a number is the feed's grammar, not Python's: ``Decimal``
and ``float`` accept "0.4_8", "1_000", " 0.5 " and Arabic-Indic digits,
none of which an exchange ever sends, and which would let two spellings
of garbage land on one level. A price or size must be ASCII digits with at
most one point (a size may carry a sign or an exponent, as JSON numbers
do); anything else is invalid input.

The special best-price values of the feed are ticks too: ``best_bid`` "0"
(no bids) is ``EMPTY_BID_TICKS`` and ``best_ask`` "1" (no asks) is
``EMPTY_ASK_TICKS``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

__all__ = [
    "TICKS_PER_UNIT",
    "MIN_TICKS",
    "MAX_TICKS",
    "EMPTY_BID_TICKS",
    "EMPTY_ASK_TICKS",
    "InvalidValue",
    "price_to_ticks",
    "tick_to_ticks",
    "best_to_ticks",
    "ticks_to_price",
    "parse_size",
]

TICKS_PER_UNIT = 10_000
"""One tick is 0.0001: the finest tick size Polymarket uses."""

MIN_TICKS = 1
MAX_TICKS = TICKS_PER_UNIT - 1
EMPTY_BID_TICKS = 0
"""``best_bid`` "0" on the wire: the bid side is empty."""
EMPTY_ASK_TICKS = TICKS_PER_UNIT
"""``best_ask`` "1" on the wire: the ask side is empty."""

_UNIT = Decimal(TICKS_PER_UNIT)
_TICK = Decimal(1) / _UNIT
_PRICE_SPELLING = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
"""Unsigned decimal: "0.48", ".48", "1", "4.8e-1". No "_", no spaces, ASCII only."""
_SIZE_SPELLING = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
"""A size may carry a sign (so that "-5" is rejected as negative, not as garbage)."""


class InvalidValue(ValueError):
    """A wire value that cannot be a price or a size; ``str()`` is the reason."""


def _decimal_ticks(text: object, field: str) -> int:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise InvalidValue(f"{field} is not a decimal string: {text!r}")
    if isinstance(text, str) and _PRICE_SPELLING.fullmatch(text) is None:
        raise InvalidValue(f"{field} is not a number: {text!r}")
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise InvalidValue(f"{field} is not a number: {text!r}") from None
    if not value.is_finite():
        raise InvalidValue(f"{field} is not finite: {text!r}")
    if value.adjusted() > 6:
        # Far outside any price: "1e999990" would overflow the decimal
        # context or take seconds to become an int, so stop it here.
        raise InvalidValue(f"{field} is out of range: {text!r}")
    # quantize, not ``value * 10000``: a product is rounded to the context's
    # 28 digits, which would let "0.4800000000000000000000000000001" pass.
    on_grid = value.quantize(_TICK)
    if on_grid != value:
        raise InvalidValue(f"{field} is finer than the 0.0001 tick: {text!r}")
    return int(on_grid * _UNIT)


def price_to_ticks(text: str) -> int:
    """Convert a wire price ("0.48", ".48", "0.480") to ticks of 0.0001.

    O(1) after the first sight of a spelling: the feed repeats a few hundred
    price strings, so results are memoised (bounded; errors are not cached).
    Raises ``InvalidValue`` for anything outside (0, 1) or off the tick grid.

    >>> price_to_ticks("0.051"), price_to_ticks("0.9995")
    (510, 9995)
    >>> price_to_ticks("1")
    Traceback (most recent call last):
    ...
    orderbook_lab.core.prices.InvalidValue: price outside (0, 1): '1'
    """
    try:
        return _cached_price_ticks(text)
    except TypeError:  # unhashable JSON value (list, object): not a price
        raise InvalidValue(f"price is not a decimal string: {text!r}") from None


@lru_cache(maxsize=8192)
def _cached_price_ticks(text: str) -> int:
    ticks = _decimal_ticks(text, "price")
    if not MIN_TICKS <= ticks <= MAX_TICKS:
        raise InvalidValue(f"price outside (0, 1): {text!r}")
    return ticks


def best_to_ticks(text: str) -> int:
    """Convert a ``best_bid``/``best_ask`` field: like a price, but the
    closed range [0, 1] is allowed, since "0" and "1" mean an empty side.

    >>> best_to_ticks("0"), best_to_ticks("1"), best_to_ticks("0.5")
    (0, 10000, 5000)
    """
    try:
        return _cached_best_ticks(text)
    except TypeError:
        raise InvalidValue(f"best price is not a decimal string: {text!r}") from None


@lru_cache(maxsize=1024)
def _cached_best_ticks(text: str) -> int:
    ticks = _decimal_ticks(text, "best price")
    if not EMPTY_BID_TICKS <= ticks <= EMPTY_ASK_TICKS:
        raise InvalidValue(f"best price outside [0, 1]: {text!r}")
    return ticks


def ticks_to_price(ticks: int) -> str:
    """Canonical decimal string of a tick count: no trailing zeros.

    >>> [ticks_to_price(t) for t in (5000, 4800, 510, 1)]
    ['0.5', '0.48', '0.051', '0.0001']
    """
    return _CANONICAL[ticks]


_CANONICAL = ["0"] + ["0." + f"{t:04d}".rstrip("0") for t in range(MIN_TICKS, MAX_TICKS + 1)] + ["1"]


def tick_to_ticks(text: object) -> int:
    """A market's tick size ("0.01") in ticks of 0.0001. A tick size is a
    price: a positive multiple of 0.0001 below 1 (Polymarket uses 0.1,
    0.01, 0.001 and 0.0001). Raises ``InvalidValue`` otherwise.

    >>> [tick_to_ticks(t) for t in ("0.1", "0.01", "0.001", "0.0001")]
    [1000, 100, 10, 1]
    """
    try:
        return price_to_ticks(text)
    except InvalidValue:
        raise InvalidValue(f"tick size is not a multiple of 0.0001 in (0, 1): {text!r}") from None


def parse_size(text: object) -> float:
    """A wire size ("16623.83") as a float; sizes are not keys, so a float
    is exact enough. Negative, non-finite or non-numeric sizes are invalid.

    >>> parse_size("30"), parse_size("0")
    (30.0, 0.0)
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise InvalidValue(f"size is not a decimal string: {text!r}")
    if isinstance(text, str) and _SIZE_SPELLING.fullmatch(text) is None:
        raise InvalidValue(f"size is not a number: {text!r}")
    try:
        size = float(text)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer beyond float
        raise InvalidValue(f"size is not a number: {text!r}") from None
    if not size >= 0.0 or size == float("inf"):
        raise InvalidValue(f"size is negative or not finite: {text!r}")
    return size or 0.0  # "-0" is zero: one zero, whichever parser read it
