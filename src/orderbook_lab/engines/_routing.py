"""Which worker owns which asset, and how a message is cut to match.

Routing is by asset, and it is *stable*: once an asset has a worker, every
message that touches that asset goes to that worker, for the whole run. The
book lives in one place, and its updates arrive in stream order through one
FIFO queue, so no book needs a lock and no update can overtake another.

Two placement schemes (``--routing``):

``hash``
    ``owner(asset_id, workers)``: BLAKE2b of the id, modulo the number of
    workers. A pure function: every process, every run, every machine
    agrees, with no table to share. (Python's ``hash()`` would not do: str
    hashes are salted per process by ``PYTHONHASHSEED``. CRC32 is stable,
    but its low bits are an XOR of input bits: a poor spread for ``mod P``.)
    Its weakness is lumpiness: with few busy keys, a hash is a coin toss
    per key (8 markets on 2 workers split 4/4 only about a quarter of the
    time); experiment 3.4 measures what that costs.

``spread`` (phase 5's ``--placement asset``)
    The opposite of ``directory`` for a market's tokens: the second token
    joins the least loaded worker *other than* the first's, so the two
    always live apart (with more than one worker) and whatever they say to
    each other crosses processes. A market's first token joins the least
    loaded worker, ties going round-robin, so first tokens (which own the
    primary part of a split message) alternate between workers.

``directory`` (the default)
    A table filled at first sight: a new asset joins the worker that holds
    its market's other token, else the worker with the fewest assets (ties
    to the lowest number). Balanced by construction for evenly busy assets,
    deterministic for a given stream (same stream, same table), and the
    ``market`` field is only a hint: routing itself is always by asset, so
    a message with a missing or odd market can never fork a book. The cost:
    the table lives in the parent, and whoever else needs to know an owner
    (a restarted worker, a peer) must be told.

A ``price_change`` message may carry changes for several assets (the feed
sends a market's YES and NO tokens together). ``AssetRoutes.parts`` cuts it
into one sub-message per owning worker, each keeping its changes in wire
order, so every book sees exactly the changes ``sync`` applies, in the same
order, and checks the feed's best bid/ask after them (the check is per
asset). The first part (the owner of the first change) is the *primary*:
its worker counts the message as processed and does its CPU work, so a
message is counted and worked on exactly once. With ``directory`` a
market's tokens live together and messages are not cut at all.

    >>> owner("12345", 4) == owner("12345", 4)
    True
    >>> routes = AssetRoutes(2)
    >>> [routes.place(asset, market) for asset, market in [("y1", "m1"), ("n1", "m1"), ("y2", "m2")]]
    [0, 0, 1]
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from ..core.messages import BookMessage, Message, PriceChangeMessage

__all__ = ["AssetRoutes", "Routing", "owner"]

Routing = Literal["directory", "hash", "spread"]


def owner(asset_id: str, workers: int) -> int:
    """The ``hash`` scheme's worker (0 .. workers-1) for ``asset_id``.
    About 0.5 µs; ``AssetRoutes`` caches it per asset."""
    digest = hashlib.blake2b(asset_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % workers


class AssetRoutes:
    """The parent's routing table: asset -> worker, filled as assets appear.

    ``parts`` is O(changes in the message) with one dict lookup per change
    (O(workers) the first time an asset appears, under ``directory``).
    ``book_assets`` lists the assets that have a book, in first-seen order
    (the order ``MessageRouter.assets`` gives), for picking queries.
    """

    def __init__(self, workers: int, scheme: Routing = "directory") -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        if scheme not in ("directory", "hash", "spread"):
            raise ValueError(f"unknown routing scheme {scheme!r}")
        self.workers = workers
        self.scheme = scheme
        self._owners: dict[str, int] = {}
        self._market_owner: dict[str, int] = {}
        self._assets_per_worker = [0] * workers
        self._next_tie = 0
        self._market_assets: dict[str, list[str]] = {}
        self.new_pairs: list[tuple[str, str, str]] = []
        """``(market, first token, second token)`` for each market whose
        second token was just placed; the actor engine takes them."""
        self._booked: set[str] = set()
        self.book_assets: list[str] = []
        self.split_messages = 0
        """``price_change`` messages that went to more than one worker."""

    def placed(self, asset_id: str) -> int | None:
        """The worker of an asset already placed, or ``None`` (never places)."""
        return self._owners.get(asset_id)

    def owner(self, asset_id: str) -> int:
        """The worker of an asset already placed (or placed now, without a hint)."""
        found = self._owners.get(asset_id)
        return found if found is not None else self.place(asset_id, "")

    def place(self, asset_id: str, market: str) -> int:
        """The asset's worker, placing it first if it is new."""
        found = self._owners.get(asset_id)
        if found is not None:
            return found
        counts = self._assets_per_worker
        if self.scheme == "hash":
            worker = owner(asset_id, self.workers)
        elif self.scheme == "directory":
            if market and market in self._market_owner:
                worker = self._market_owner[market]
            else:
                worker = counts.index(min(counts))
        else:
            worker = self._spread(self._market_owner.get(market) if market else None)
        if market:
            if market not in self._market_owner:
                self._market_owner[market] = worker
            tokens = self._market_assets.setdefault(market, [])
            tokens.append(asset_id)
            if len(tokens) == 2:
                self.new_pairs.append((market, tokens[0], tokens[1]))
        self._owners[asset_id] = worker
        self._assets_per_worker[worker] += 1
        return worker

    def _spread(self, avoid: int | None) -> int:
        """The least loaded worker other than ``avoid``; ties round-robin."""
        counts, workers = self._assets_per_worker, self.workers
        candidates = [w for w in range(workers) if w != avoid] or list(range(workers))
        fewest = min(counts[w] for w in candidates)
        tied = [w for w in candidates if counts[w] == fewest]
        start = self._next_tie % workers
        worker = min(tied, key=lambda w: (w - start) % workers)
        if avoid is None:  # the pointer moves with first tokens only, so they alternate
            self._next_tie = worker + 1
        return worker

    def _book(self, asset_id: str, market: str) -> int:
        if asset_id not in self._booked:
            self._booked.add(asset_id)
            self.book_assets.append(asset_id)
        return self.place(asset_id, market)

    def place_line(self, market: str, asset_id: str) -> int:
        """The worker of a whole unparsed line (``--parse-in worker``): its
        first asset's, placed by its market. Under ``directory`` a market's
        assets share a worker, so the line's other tokens are there too."""
        return self._book(asset_id, market)

    def parts(self, message: Message) -> list[tuple[int, Message]]:
        """``(worker, message part)`` pairs; the primary part comes first."""
        kind = type(message)
        if kind is PriceChangeMessage:
            changes, market = message.changes, message.market
            first = self._book(changes[0].asset_id, market)
            groups: dict[int, list] | None = None
            for index in range(1, len(changes)):
                change = changes[index]
                worker = self._book(change.asset_id, market)
                if groups is None:
                    if worker == first:
                        continue
                    groups = {first: list(changes[:index])}
                groups.setdefault(worker, []).append(change)
            if groups is None:
                return [(first, message)]
            self.split_messages += 1
            return [
                (worker, msgspec.structs.replace(message, changes=tuple(part)))
                for worker, part in groups.items()
            ]
        if kind is BookMessage:
            return [(self._book(message.asset_id, message.market), message)]
        # Trades, tick sizes and other events go with their asset (an
        # unknown event without one goes with the empty id: still stable).
        return [(self.place(message.asset_id, getattr(message, "market", "")), message)]

    def market_owner(self, market: str) -> int | None:
        """The worker of ``market``'s first token (where its summary lives)."""
        return self._market_owner.get(market)

    def assets_per_worker(self) -> list[int]:
        """How many assets each worker owns so far."""
        return list(self._assets_per_worker)
