"""What actors say to each other, and what the coordinator tells them.

Both cross process boundaries through the codec seam, so they are frozen
``array_like`` msgspec structs holding only scalars and tuples (no cycles:
``gc=False``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Introduce", "Update", "UpdateKind", "summary_id"]

UpdateKind = Literal["implied_quote", "opportunity", "relay"]
"""``implied_quote``: a token's top of book, as the quote it implies on its
complement (payload ``(implied_bid, implied_ask, source_version)``).
``opportunity``: a token saw its book cross its complement's implied quote
(payload ``(crossing, own_price, implied_price)``), sent to the market's
summary. ``relay``: experiment traffic passed from token to token
(``--update-load``, ``--update-hops``); payload ``()``."""


class Update(msgspec.Struct, frozen=True, array_like=True, gc=False, tag=True):
    """One fire-and-forget message from actor ``source`` to actor ``target``.

    ``clock`` is the sender's matrix clock stamp (``clocks.MatrixClock``)
    for the market's group; ``hops`` counts the updates in the chain up to
    and including this one (a reaction to an update of ``hops`` h has
    h + 1); ``origin_ns`` is when the chain's first update was sent and
    ``sent_ns`` when this one was (one monotonic clock per machine).
    """

    source: str
    target: str
    market: str
    kind: UpdateKind
    payload: tuple
    clock: tuple[int, ...]
    hops: int
    sent_ns: int
    origin_ns: int


class Introduce(msgspec.Struct, frozen=True, array_like=True, gc=False, tag=True):
    """The coordinator's word that ``market`` has both tokens: who the
    group's actors are (``members``: the two tokens, then the summary) and
    which worker hosts each (``owners``). Sent to every worker hosting one of
    them, ahead of the messages that need it."""

    market: str
    members: tuple[str, str, str]
    owners: tuple[int, int, int]


def summary_id(market: str) -> str:
    """The actor id of ``market``'s summary (asset ids are digits or hex,
    so the prefix cannot collide with one)."""
    return f"summary:{market}"
