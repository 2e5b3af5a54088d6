"""orderbook-lab: one prediction-market stream, many concurrency engines.

The public names are the ones DESIGN.md fixes; everything else lives in
``orderbook_lab.core`` (the pure state machine), ``orderbook_lab.engines``
(one module per ``--engine``) and ``orderbook_lab.cli``.
"""

from .core import (
    BookMessage,
    LastTradePriceMessage,
    MessageRouter,
    MessageSource,
    PriceChangeMessage,
    PriceLevel,
    StateMachine,
    TickSizeChangeMessage,
)

__all__ = [
    "BookMessage",
    "LastTradePriceMessage",
    "MessageRouter",
    "MessageSource",
    "PriceChangeMessage",
    "PriceLevel",
    "StateMachine",
    "TickSizeChangeMessage",
]

__version__ = "0.1.0"
