"""The core: messages, parsing, books, routing, the source and metrics.

Pure and single-threaded by design: nothing here knows about threads,
event loops or processes (a test checks the imports), so every engine can
compose the same pieces and reach the same books.

Dependencies point one way: ``prices`` <- ``messages`` <- ``parser`` <-
``book`` <- ``router``; ``source``, ``metrics`` and ``clock`` stand beside,
and ``recording`` (the file format ``record`` writes) under ``source``.
"""

from .book import BookView, StateMachine
from .clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
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
from .metrics import LatencyHistogram, Percentiles
from .parser import Rejection, parse_line, parse_object
from .prices import InvalidValue, price_to_ticks, ticks_to_price
from .router import MessageRouter, RouterStats, books_digest
from .source import Frame, MessageSource, SourceConfig

__all__ = [
    "SYSTEM_CLOCK",
    "BookMessage",
    "BookView",
    "Clock",
    "Frame",
    "InvalidValue",
    "LastTradePriceMessage",
    "LatencyHistogram",
    "ManualClock",
    "Message",
    "MessageRouter",
    "MessageSource",
    "OtherMessage",
    "Percentiles",
    "PriceChange",
    "PriceChangeMessage",
    "PriceLevel",
    "Rejection",
    "RouterStats",
    "SourceConfig",
    "StateMachine",
    "SystemClock",
    "TickSizeChangeMessage",
    "books_digest",
    "parse_line",
    "parse_object",
    "price_to_ticks",
    "ticks_to_price",
]
