"""Wire JSON to typed messages, and every way a line can be wrong.

One line of a recording (or one websocket frame) holds one market-channel
object, or a JSON array of them. ``parse_line`` turns it into a list whose
items are either a ``Message`` or a ``Rejection``; nothing raises. A message
is validated whole before it is built, so a ``price_change`` with one bad
entry is rejected as a unit and never half-applied.

Accepted spellings (real recordings differ from the documentation):

* ``book`` levels in any order; ``bids``/``asks`` (or the older
  ``buys``/``sells``) as ``[{"price": "0.48", "size": "30"}, ...]``;
* three generations of ``price_change``: ``price_changes: [...]`` with
  per-entry ``asset_id``; a top-level ``asset_id`` with ``changes: [...]``;
  and the flat form with ``asset_id``, ``price``, ``side``, ``size``;
* prices written ".48", "0.48" or "0.480"; ``best_bid`` "0" and
  ``best_ask`` "1" for an empty side;
* unknown event types become ``OtherMessage``: counted, not rejected.

>>> [type(m).__name__ for m in parse_line('{"event_type": "book", "asset_id": "a", '
...     '"bids": [{"price": ".48", "size": "30"}], "asks": []}')]
['BookMessage']
>>> print(parse_line('{"event_type": "book"', 7)[0].describe())
line 7: not JSON: Expecting ',' delimiter
"""

from __future__ import annotations

import json
from typing import Any, Callable, NamedTuple, Union

from .messages import (
    BookMessage,
    LastTradePriceMessage,
    Message,
    OtherMessage,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)
from .prices import InvalidValue, best_to_ticks, parse_size, price_to_ticks

__all__ = ["Rejection", "Parsed", "parse_line", "parse_object"]


class Rejection(NamedTuple):
    """Why one message (or one unreadable line) was not applied.

    ``line`` is the 1-based line number (0 when the input had none);
    ``element`` is the position inside a JSON array line, else ``None``.
    """

    line: int
    reason: str
    element: int | None = None

    def describe(self) -> str:
        where = f"line {self.line}"
        if self.element is not None:
            where += f"[{self.element}]"
        return f"{where}: {self.reason}"


Parsed = Union[Message, Rejection]

_SIDES = {"BUY": "BUY", "SELL": "SELL", "buy": "BUY", "sell": "SELL"}
_decode = json.JSONDecoder().decode


def parse_line(text: str | bytes, line_no: int = 0) -> list[Parsed]:
    """Parse one line: a JSON object or an array of objects.

    Returns one item per message (an array of three gives three items),
    each a ``Message`` or a ``Rejection``. A line that is not JSON at all is
    one rejected message. Cost: one ``json`` decode plus O(levels).
    """
    try:
        decoded = _decode(text if isinstance(text, str) else text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # nesting too deep: not a message
        reason = str(error).split(":")[0]
        return [Rejection(line_no, f"not JSON: {reason}")]
    if isinstance(decoded, list):
        return [parse_object(item, line_no, index) for index, item in enumerate(decoded)]
    return [parse_object(decoded, line_no)]


def parse_object(obj: Any, line_no: int = 0, element: int | None = None) -> Parsed:
    """Validate one decoded JSON value and build its typed message."""
    if not isinstance(obj, dict):
        return Rejection(line_no, f"not an object: {type(obj).__name__}", element)
    event_type = obj.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        return Rejection(line_no, "missing event_type", element)
    build = _BUILDERS.get(event_type, _other)
    try:
        return build(obj)
    except InvalidValue as error:
        return Rejection(line_no, f"{event_type}: {error}", element)


# ---------------------------------------------------------------- builders


def _text(obj: dict, key: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if isinstance(value, str) and value:
        return value
    if (value is None or value == "") and not required:
        return ""
    raise InvalidValue(f"{key} missing or not a string")


def _timestamp_ms(obj: dict) -> int:
    value = obj.get("timestamp")
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # Infinity is JSON to Python
        raise InvalidValue(f"timestamp is not unix milliseconds: {value!r}") from None


def _side(value: Any) -> str:
    side = _SIDES.get(value) if isinstance(value, str) else None
    if side is None:
        raise InvalidValue(f"unknown side: {value!r}")
    return side


def _levels(obj: dict, key: str, old_key: str) -> tuple[PriceLevel, ...]:
    raw = obj.get(key, obj.get(old_key))
    if raw is None:
        raise InvalidValue(f"{key} missing")
    if not isinstance(raw, list):
        raise InvalidValue(f"{key} is not a list")
    levels = []
    for level in raw:
        if not isinstance(level, dict):
            raise InvalidValue(f"{key} level is not an object: {level!r}")
        levels.append(PriceLevel(price_to_ticks(level.get("price")), parse_size(level.get("size"))))
    return tuple(levels)


def _book(obj: dict) -> BookMessage:
    return BookMessage(
        asset_id=_text(obj, "asset_id"),
        market=_text(obj, "market", required=False),
        timestamp_ms=_timestamp_ms(obj),
        bids=_levels(obj, "bids", "buys"),
        asks=_levels(obj, "asks", "sells"),
        hash=_text(obj, "hash", required=False),
    )


def _best(entry: dict, key: str) -> int | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    return best_to_ticks(value)


def _change(entry: Any, asset_id: str | None) -> PriceChange:
    if not isinstance(entry, dict):
        raise InvalidValue(f"change is not an object: {entry!r}")
    return PriceChange(
        asset_id if asset_id is not None else _text(entry, "asset_id"),
        _side(entry.get("side")),
        price_to_ticks(entry.get("price")),
        parse_size(entry.get("size")),
        _best(entry, "best_bid"),
        _best(entry, "best_ask"),
    )


def _price_change(obj: dict) -> PriceChangeMessage:
    if "price_changes" in obj:  # current feed: one entry per (asset, level)
        entries, asset_id = obj["price_changes"], None
    elif "changes" in obj:  # 2024-10 to 2025-09: one asset per message
        entries, asset_id = obj["changes"], _text(obj, "asset_id")
    elif "price" in obj:  # 2024-08: flat, a single change
        entries, asset_id = [obj], _text(obj, "asset_id")
    else:
        raise InvalidValue("no price_changes, changes or price")
    if not isinstance(entries, list) or not entries:
        raise InvalidValue("changes missing or empty")
    return PriceChangeMessage(
        market=_text(obj, "market", required=False),
        timestamp_ms=_timestamp_ms(obj),
        changes=tuple([_change(entry, asset_id) for entry in entries]),
    )


def _last_trade_price(obj: dict) -> LastTradePriceMessage:
    return LastTradePriceMessage(
        asset_id=_text(obj, "asset_id"),
        market=_text(obj, "market", required=False),
        timestamp_ms=_timestamp_ms(obj),
        price=price_to_ticks(obj.get("price")),
        size=parse_size(obj.get("size")),
        side=_side(obj.get("side")),
    )


def _tick_size(obj: dict, key: str) -> str:
    value = obj.get(key)
    try:
        tick = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidValue(f"{key} is not a number: {value!r}") from None
    if not 0.0 < tick < 1.0:
        raise InvalidValue(f"{key} outside (0, 1): {value!r}")
    return str(value)


def _tick_size_change(obj: dict) -> TickSizeChangeMessage:
    return TickSizeChangeMessage(
        asset_id=_text(obj, "asset_id"),
        market=_text(obj, "market", required=False),
        timestamp_ms=_timestamp_ms(obj),
        old_tick_size=_tick_size(obj, "old_tick_size"),
        new_tick_size=_tick_size(obj, "new_tick_size"),
    )


def _other(obj: dict) -> OtherMessage:
    asset_id = obj.get("asset_id")
    return OtherMessage(str(obj["event_type"]), asset_id if isinstance(asset_id, str) else "")


_BUILDERS: dict[str, Callable[[dict], Message]] = {
    "book": _book,
    "price_change": _price_change,
    "last_trade_price": _last_trade_price,
    "tick_size_change": _tick_size_change,
}
