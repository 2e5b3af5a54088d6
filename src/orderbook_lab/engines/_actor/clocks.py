"""Causal order for point-to-point updates: a matrix clock per actor.

An update must not be applied before anything that happened before it was
sent (Lamport's *happened-before*): if YES's quote made NO report an
opportunity, the market summary must see YES's own report from before that
quote first. Networks (and this lab's coordinator, with
``--reorder-updates``) may deliver out of that order, so the receiver holds
an early update back until its causal predecessors have been applied.

Why a *matrix*: a vector clock ``V[k]`` counts the events of each actor,
which orders *broadcasts*: every actor receives every message, so "I have
seen k's message number V[k]" is a question each receiver can answer. Here
each update goes to one actor. A receiver that waited for every event the
vector names would wait forever for messages sent to someone else. So each
update carries ``SENT[k][j]``: how many updates actor k had sent to actor j
as far as the sender knows (the algorithm of Raynal, Schiper and Toueg,
1991). Receiver ``i`` may apply it once it has applied, from every k, at
least ``SENT[k][i]`` updates: exactly the ones addressed to *it* that
happened before. A Lamport clock (one integer) is cheaper still, but it
only says "maybe before": it orders everything, related or not, and cannot
tell a receiver which sender it is still waiting for.

Actors only talk inside a market (its two tokens and its summary), so a
matrix is 3 x 3 = 9 integers per update, and a clock lives per actor.

    >>> yes, no, summary = (MatrixClock(3, i) for i in range(3))
    >>> first = yes.stamp_send(2)        # YES reports to the summary...
    >>> quote = yes.stamp_send(1)        # ...then quotes NO
    >>> no.deliverable(quote), no.deliver(quote, 0)
    (True, None)
    >>> report = no.stamp_send(2)        # NO reacts: this report follows YES's
    >>> summary.deliverable(report)      # arrives first: held back
    False
    >>> summary.deliver(first, 0); summary.deliverable(report)
    True
"""

from __future__ import annotations

__all__ = ["MatrixClock"]


class MatrixClock:
    """The causal clock of actor ``me`` in a group of ``size`` actors.

    ``sent`` is the flattened ``size x size`` matrix (row = sender, column =
    receiver); ``delivered[k]`` counts the updates from k applied here.
    Every method is O(size²) at most: 9 integers for a market.
    """

    __slots__ = ("size", "me", "sent", "delivered")

    def __init__(self, size: int, me: int) -> None:
        if not 0 <= me < size:
            raise ValueError(f"actor {me} is not in a group of {size}")
        self.size = size
        self.me = me
        self.sent = [0] * (size * size)
        self.delivered = [0] * size

    def stamp_send(self, to: int) -> tuple[int, ...]:
        """The stamp for an update to actor ``to`` (what was sent before
        it), then count it as sent."""
        stamp = tuple(self.sent)
        self.sent[self.me * self.size + to] += 1
        return stamp

    def deliverable(self, stamp: tuple[int, ...]) -> bool:
        """True once every update addressed here that happened before
        ``stamp`` has been applied here (FIFO per sender included)."""
        size, me, delivered = self.size, self.me, self.delivered
        return all(delivered[sender] >= stamp[sender * size + me] for sender in range(size))

    def deliver(self, stamp: tuple[int, ...], sender: int) -> None:
        """Record that the update ``stamp`` from ``sender`` is applied here:
        what it knew joins what this actor knows."""
        self.delivered[sender] += 1
        sent = self.sent
        for index, count in enumerate(stamp):
            if count > sent[index]:
                sent[index] = count
        sent[sender * self.size + self.me] = max(
            sent[sender * self.size + self.me], stamp[sender * self.size + self.me] + 1
        )
