"""Complementary books: what a market's YES token says about its NO token.

A binary market pays 1 to exactly one of its two tokens, so the two books
quote the same event from opposite sides. Someone who bids p for YES is,
economically, offering to sell NO at 1 - p: buy YES at p and a NO bought
at 1 - p together cost exactly the payout. So each book *implies* a quote
on its complement, in ticks of 0.0001::

    implied bid on NO = 1 - best ask on YES
    implied ask on NO = 1 - best bid on YES

    >>> implied_quote(best_bid=4800, best_ask=5200)
    (4800, 5200)
    >>> implied_quote(best_bid=4800, best_ask=None)   # no YES asks: no implied NO bid
    (None, 5200)

When a book and what its complement implies disagree the wrong way round,
money is left on the table. Buying both tokens for less than 1 (ask_yes +
ask_no < 1) or selling both for more than 1 (bid_yes + bid_no > 1) is
risk-free, and in terms of one book and the quote its complement implies:

    bid_yes + bid_no > 1   <=>   own best bid > implied ask
    ask_yes + ask_no < 1   <=>   own best ask < implied bid

    >>> crossing(own_bid=5300, own_ask=5500, implied_bid=4800, implied_ask=5200)
    'bids_over_one'
    >>> crossing(own_bid=4700, own_ask=5100, implied_bid=4800, implied_ask=5200) is None
    True

A market whose books are exact mirrors (the simulator's) never crosses;
a real feed, where the two books are separate queues of separate traders,
briefly can.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from .book import BookView
from .prices import TICKS_PER_UNIT

__all__ = ["Crossing", "MarketView", "crossing", "implied_quote"]

Crossing = Literal["bids_over_one", "asks_under_one"]


def implied_quote(best_bid: int | None, best_ask: int | None) -> tuple[int | None, int | None]:
    """``(implied bid, implied ask)`` on the complement of a book whose top
    is ``best_bid``/``best_ask`` (ticks; ``None`` for an empty side). O(1)."""
    return (
        None if best_ask is None else TICKS_PER_UNIT - best_ask,
        None if best_bid is None else TICKS_PER_UNIT - best_bid,
    )


def crossing(
    own_bid: int | None, own_ask: int | None, implied_bid: int | None, implied_ask: int | None
) -> Crossing | None:
    """Which risk-free trade a book and its complement's implied quote
    leave open, if any (see the module docstring). O(1)."""
    if own_bid is not None and implied_ask is not None and own_bid > implied_ask:
        return "bids_over_one"
    if own_ask is not None and implied_bid is not None and own_ask < implied_bid:
        return "asks_under_one"
    return None


class MarketView(NamedTuple):
    """One token's combined view: its own book plus what its complement
    implies, with the versions that make it checkable.

    ``version`` counts the market messages this book has applied;
    ``implied_version`` is the complement's version when it sent the quote
    held here (0: no quote yet). Causal consistency means the quote is
    never newer than the complement's book it came from: at any moment,
    ``implied_version`` <= the complement's ``version``.
    """

    book: BookView
    version: int
    complement: str | None
    implied_bid: int | None
    implied_ask: int | None
    implied_version: int
    crossing: Crossing | None
