"""The actors of one worker process, and the loop that gives each its turns.

An *actor* is state that only its own turns touch, plus two mailboxes:

* **market**: its share of the feed (``book``, its own changes of a
  ``price_change``, trades, tick sizes), in stream order. Never dropped:
  the book must end equal to ``sync``'s.
* **updates**: what other actors told it (``updates.Update``), bounded by
  ``--update-queue-size``; when full, an update is dropped and counted
  (``mailbox_full``). Dropping is safe here because every update carries
  state, not a command: the next implied quote replaces the lost one.

**Priority policy.** A turn takes up to ``UPDATES_PER_TURN`` updates, then
one market message; actors with work take turns round-robin. Updates go
first because they are small and carry what the other book knows (a quote
applied before the next market message lets that message be judged against
fresh information); the cap means a flood of updates still lets a market
message through every turn, and a flood of market messages still lets
``UPDATES_PER_TURN`` updates through. Neither mailbox can starve the other.

**Fire-and-forget.** ``send`` never waits: a local target gets the update
in its mailbox at once; a remote one goes to ``outbound``, which the host
hands to the coordinator with its reply. No actor ever waits for an
answer, so no cycle of waits (a deadlock) can form, whatever the pattern.

**Causal order.** Before an update reaches a mailbox, its matrix clock
stamp (``clocks``) must be deliverable: otherwise it is held back
(``updates_buffered``) until its causal predecessors have arrived. With
``--delivery arrival`` updates are applied as they come and every one that
arrives early is counted in ``causal_violations`` instead (the contrast
experiment 5.2 measures); so is an implied quote older than one already
applied.

**Crossings are judged at quiescence.** A token checks its book against
its complement's quote once its worker has emptied every mailbox, not
between two steps: see ``_settle`` for the phantom that avoids.

**Chains.** Every update carries its hop count; a reaction to an update
of h hops has h + 1, and one that would exceed ``--max-hops`` is not sent
but counted (``cycles_stopped``). A relay bouncing between two tokens
(A -> B -> A -> ...) therefore ends, however it was started.

Costs: a market message costs its book update plus a mailbox round trip
and a turn (about a microsecond); a ``price_change`` for both tokens of a
market is cut into one part per token, since each token's actor applies
its own changes. An update costs a matrix check (9 integers), a struct and,
across processes, the trip through the coordinator.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ...core.book import StateMachine
from ...core.complements import Crossing, MarketView, crossing, implied_quote
from ...core.messages import Message, PriceChangeMessage
from ...core.metrics import LatencyHistogram
from .._pipeline import Pipeline
from .._stats import ActorTallyStats
from .clocks import MatrixClock
from .updates import Introduce, Update, UpdateKind

__all__ = [
    "UPDATES_PER_TURN",
    "ActorCounters",
    "ActorSettings",
    "ActorSystem",
    "AssetActor",
    "SummaryActor",
]

UPDATES_PER_TURN = 4
"""Updates an actor applies before its next market message (see above)."""

_SUMMARY = 2
"""A market group's members: the two tokens (0, 1), then the summary."""

Delivery = Literal["causal", "arrival"]


@dataclass(frozen=True)
class ActorSettings:
    """The phase 5 options an actor system obeys (from ``RunConfig``)."""

    max_hops: int = 8
    mailbox_size: int = 1000
    update_load: float | None = None
    """``None``: the domain's updates (implied quotes when a top changes,
    opportunities). A number U: no domain updates; every market message
    starts U relay chains instead (0.5: every other message)."""
    update_hops: int = 1
    """Length of each relay chain; 0 = endless (stopped by ``max_hops``)."""
    delivery: Delivery = "causal"
    slow_asset: str | None = None

    @classmethod
    def from_config(cls, config) -> ActorSettings:
        return cls(
            max_hops=config.max_hops,
            mailbox_size=config.update_queue_size,
            update_load=config.update_load,
            update_hops=config.update_hops,
            delivery=config.delivery,
            slow_asset=config.slow_asset,
        )


class _Actor:
    """Mailboxes, causal clock and tallies shared by every kind of actor."""

    __slots__ = (
        "id",
        "market_box",
        "update_box",
        "held",
        "clock",
        "market",
        "members",
        "owners",
        "index",
        "scheduled",
        "applied",
        "dropped",
        "sent",
        "market_high_water",
        "update_high_water",
    )

    def __init__(self, actor_id: str) -> None:
        self.id = actor_id
        self.market_box: deque = deque()
        self.update_box: deque[Update] = deque()
        self.held: list[Update] = []
        """Updates that arrived before a causal predecessor."""
        self.clock: MatrixClock | None = None
        self.market = ""
        self.members: tuple[str, ...] = ()
        self.owners: tuple[int, ...] = ()
        self.index = -1
        self.scheduled = False
        self.applied = 0
        self.dropped = 0
        self.sent = 0
        self.market_high_water = 0
        self.update_high_water = 0

    def join(self, intro: Introduce, index: int) -> None:
        """Become member ``index`` of ``intro``'s market group."""
        if self.clock is None:
            self.clock = MatrixClock(len(intro.members), index)
        self.market, self.members, self.owners, self.index = intro.market, intro.members, intro.owners, index


class AssetActor(_Actor):
    """One token: its book (in the host's router), its version, the quote
    its complement implies, and whether the two cross."""

    __slots__ = (
        "book",
        "version",
        "top",
        "implied",
        "crossing",
        "recheck",
        "load_credit",
        "slow",
    )

    def __init__(self, actor_id: str, slow: bool = False) -> None:
        super().__init__(actor_id)
        self.book: StateMachine | None = None
        """The book in the host's router, once it exists; only this actor's
        turns change it."""
        self.version = 0
        """Market messages applied to this book."""
        self.top: tuple[int | None, int | None] | None = None
        self.implied: tuple[int | None, int | None, int] = (None, None, 0)
        """(implied bid, implied ask, the complement's version it came from)."""
        self.crossing: Crossing | None = None
        self.recheck: tuple[int, int | None] | None = None
        """(hops, origin) of the opportunity a crossing found now would
        report; set when the top or the quote changed, judged once the
        actor has caught up (see ``_settle``)."""
        self.load_credit = 0.0
        self.slow = slow


class SummaryActor(_Actor):
    """A market's summary: collects the opportunities its tokens report."""

    __slots__ = ("opportunities", "last")

    def __init__(self, actor_id: str) -> None:
        super().__init__(actor_id)
        self.opportunities = 0
        self.last: tuple | None = None


@dataclass(frozen=True)
class ActorCounters:
    """What one worker's actors did; the parent adds them up."""

    actors: int
    summaries: int
    sent: int
    sent_local: int
    sent_remote: int
    applied: int
    dropped: dict[str, int]
    buffered: int
    held_at_end: int
    violations: int
    stale_quotes: int
    stopped: int
    opportunities: int
    update_latency: LatencyHistogram
    chain_latency: dict[int, LatencyHistogram]
    hops: dict[int, int]
    tallies: tuple[ActorTallyStats, ...]
    quotes: dict[str, tuple[str | None, int | None, int | None]] = field(repr=False)
    """Asset -> (its complement, implied bid, implied ask) held at the end."""
    tops: dict[str, tuple[int | None, int | None]] = field(repr=False)
    """Asset -> its final (best bid, best ask), in ticks."""


class ActorSystem:
    """Every actor hosted by one worker, their mailboxes and their turns.

    Feed it with ``introduce``, ``post_market`` and ``post_update``, then
    call ``run`` until every mailbox is empty; updates for actors on other
    workers collect in ``outbound``. Pure: no threads, no processes, so a
    test drives it by hand (``tests/engines/test_actor_system.py``).
    """

    def __init__(
        self,
        worker: int,
        pipeline: Pipeline,
        settings: ActorSettings,
        *,
        slow_work: Callable[[], object] | None = None,
        io_s: float = 0.0,
        on_step: Callable[[str, str], None] | None = None,
    ) -> None:
        self.worker = worker
        self.pipeline = pipeline
        self.router = pipeline.router
        self.settings = settings
        self._now = pipeline.clock.now_ns
        self._slow_work = slow_work
        self._has_work = pipeline.config.work_ms > 0
        self._io_s = io_s
        self._on_step = on_step
        """Test hook: called with (actor id, "update" | "market") per step."""
        self.assets: dict[str, AssetActor] = {}
        self.summaries: dict[str, SummaryActor] = {}
        self.ready: deque[_Actor] = deque()
        self._unsettled: list[AssetActor] = []
        self.outbound: list[Update] = []
        self.sent = 0
        self.sent_local = 0
        self.sent_remote = 0
        self.applied = 0
        self.dropped: dict[str, int] = {}
        self.buffered = 0
        self.violations = 0
        self.stale_quotes = 0
        self.stopped = 0
        self.opportunities = 0
        self.update_latency = LatencyHistogram()
        self.chain_latency: dict[int, LatencyHistogram] = {}
        self.hops: dict[int, int] = {}

    # ------------------------------------------------------------ intake

    def introduce(self, intro: Introduce) -> None:
        """Join the local members of a market's group; each token that
        already has a top sends it to its new complement at once."""
        joined = []
        for index, member in enumerate(intro.members):
            if intro.owners[index] != self.worker:
                continue
            if index == _SUMMARY:
                actor: _Actor = self.summaries.setdefault(member, SummaryActor(member))
            else:
                actor = self._asset(member)
                joined.append(actor)
            actor.join(intro, index)
        for actor in joined:
            if actor.top is not None and self.settings.update_load is None:
                self._quote(actor)

    def post_market(self, produced_ns: int, primary: bool, message: Message) -> None:
        """Put a message (or, for a ``price_change`` naming several tokens,
        each token's part) in its actor's market mailbox. O(changes)."""
        if type(message) is PriceChangeMessage:
            changes = message.changes
            asset = changes[0].asset_id
            if len(changes) == 1 or all(change.asset_id == asset for change in changes):
                self._enqueue(self._asset(asset), (produced_ns, primary, message, True))
                return
            # Each token's actor applies its own changes of the shared message
            # (``MessageRouter.apply_part``): no copy of the message is made.
            tokens = (
                (asset, changes[1].asset_id)
                if len(changes) == 2
                else dict.fromkeys(c.asset_id for c in changes)
            )
            for asset in tokens:
                self._enqueue(self._asset(asset), (produced_ns, primary, message, False))
                primary = False  # the first part counts the message, as in _routing
            return
        self._enqueue(self._asset(message.asset_id), (produced_ns, primary, message, True))

    def post_update(self, update: Update) -> None:
        """Deliver an update to its local target, in causal order (or, with
        ``--delivery arrival``, as it comes, counting what is early)."""
        actor = self.assets.get(update.target) or self.summaries.get(update.target)
        if actor is None or actor.clock is None:
            self._drop(None, "unknown_target")
            return
        if self.settings.delivery == "arrival":
            if not actor.clock.deliverable(update.clock):
                self.violations += 1
            self._accept(actor, update)
            return
        if actor.clock.deliverable(update.clock):
            self._accept(actor, update)
            if actor.held:
                self._release(actor)
        else:
            actor.held.append(update)
            self.buffered += 1

    def take_outbound(self) -> list[Update]:
        """Updates for actors on other workers, in the order they were sent."""
        outbound, self.outbound = self.outbound, []
        return outbound

    # ------------------------------------------------------------ turns

    def run(self) -> None:
        """Give turns until every mailbox is empty (updates held for a
        causal predecessor stay held). Round-robin, ``UPDATES_PER_TURN``
        updates then one market message per turn. Then judge the crossings
        of the tokens whose top or quote changed (``_settle``); a report it
        sends to a local summary starts another round."""
        ready = self.ready
        apply_update, apply_market = self._apply_update, self._apply_market
        while ready:
            while ready:
                actor = ready.popleft()
                updates, market = actor.update_box, actor.market_box
                taken = 0
                while updates and taken < UPDATES_PER_TURN:
                    apply_update(actor, updates.popleft())
                    taken += 1
                if market:
                    apply_market(actor, market.popleft())
                if updates or market:
                    ready.append(actor)
                else:
                    actor.scheduled = False
            if self._unsettled:
                unsettled, self._unsettled = self._unsettled, []
                for actor in unsettled:
                    self._settle(actor)

    def _apply_market(self, actor: AssetActor, item: tuple[int, bool, Message, bool]) -> None:
        """One market message (``whole``) or this token's part of one; then,
        if the book's top moved, the quote it implies goes to the complement.
        (The hottest path of the engine: one call per message part.)"""
        produced_ns, primary, message, whole = item
        if self._on_step is not None:
            self._on_step(actor.id, "market")
        router = self.router
        started = self._now() if primary else 0
        if whole:
            router.apply(message)
        else:
            router.apply_part(message, actor.id)
        if primary and self._has_work:
            self.pipeline.work()
        if actor.slow and self._slow_work is not None:
            self._slow_work()
        if primary:
            if self._io_s:
                time.sleep(self._io_s)
            self.pipeline.record(produced_ns, started)
        actor.version += 1
        load = self.settings.update_load
        if load is None:
            book = actor.book or router.get(actor.id)
            if book is None:  # an event that makes no book (a trade before any level)
                return
            actor.book = book
            bid, ask = book.best_bid(), book.best_ask()
            top = (None if bid is None else bid[0], None if ask is None else ask[0])
            if top != actor.top:
                actor.top = top
                if actor.clock is not None:
                    self._quote(actor)
                    self._mark(actor, 1, None)
        elif primary and load > 0 and actor.clock is not None:
            actor.load_credit += load
            while actor.load_credit >= 1.0:
                actor.load_credit -= 1.0
                self._send(actor, "relay", 1 - actor.index, (), 1, None)

    def _apply_update(self, actor: _Actor, update: Update) -> None:
        if self._on_step is not None:
            self._on_step(actor.id, "update")
        now = self._now()
        hops = update.hops
        self.update_latency.record(now - update.sent_ns)
        chain = self.chain_latency.get(hops)
        if chain is None:
            chain = self.chain_latency[hops] = LatencyHistogram()
        chain.record(now - update.origin_ns)
        self.hops[hops] = self.hops.get(hops, 0) + 1
        self.applied += 1
        actor.applied += 1
        kind = update.kind
        if kind == "implied_quote":
            assert isinstance(actor, AssetActor)
            bid, ask, version = update.payload
            if version < actor.implied[2]:  # older than one applied: out of causal order
                self.violations += 1
                self.stale_quotes += 1
                return
            actor.implied = (bid, ask, version)
            self._mark(actor, hops + 1, update.origin_ns)
        elif kind == "opportunity":
            assert isinstance(actor, SummaryActor)
            actor.opportunities += 1
            actor.last = update.payload
            self.opportunities += 1
        elif kind == "relay":
            chain_length = self.settings.update_hops
            if chain_length == 0 or hops < chain_length:
                self._send(actor, "relay", 1 - actor.index, (), hops + 1, update.origin_ns)

    # ------------------------------------------------------------ sending

    def _quote(self, actor: AssetActor) -> None:
        """Tell the complement the quote this book's top implies."""
        bid, ask = actor.top or (None, None)
        implied_bid, implied_ask = implied_quote(bid, ask)
        self._send(
            actor, "implied_quote", 1 - actor.index, (implied_bid, implied_ask, actor.version), 1, None
        )

    def _mark(self, actor: AssetActor, hops: int, origin_ns: int | None) -> None:
        """The book's top or the complement's quote changed: judge the
        crossing again once this worker is quiescent (the longest chain
        that led here sets the report's hops)."""
        if actor.recheck is None:
            self._unsettled.append(actor)
            actor.recheck = (hops, origin_ns)
        elif hops > actor.recheck[0]:
            actor.recheck = (hops, origin_ns)

    def _settle(self, actor: AssetActor) -> None:
        """Judge a token's crossing once its worker is quiescent (every
        mailbox empty).

        Why not at once: a ``price_change`` moves a market's two tokens at
        one feed moment, and each token's actor applies its own half.
        Judged between the halves, one token's new top meets the quote of
        the other's old one: a crossing the exchange never showed. Once
        the worker is quiescent, both halves of every message it was given
        are applied and their quotes exchanged, so with ``--placement
        market`` no judgement is torn within a message. With ``--placement
        asset`` the complement's quote for the same moment may still be on
        its way through the coordinator: what is judged then is a book
        against an older quote, and a crossing found may be a phantom
        (experiment 5.4 counts them)."""
        hops, origin_ns = actor.recheck or (1, None)
        actor.recheck = None
        implied_bid, implied_ask, version = actor.implied
        if not version or actor.top is None:
            return
        state = crossing(actor.top[0], actor.top[1], implied_bid, implied_ask)
        if state == actor.crossing:
            return
        actor.crossing = state
        if state is not None:
            own, implied = (
                (actor.top[0], implied_ask) if state == "bids_over_one" else (actor.top[1], implied_bid)
            )
            self._send(actor, "opportunity", _SUMMARY, (state, own, implied), hops, origin_ns)

    def _send(
        self, actor: _Actor, kind: UpdateKind, to: int, payload: tuple, hops: int, origin_ns: int | None
    ) -> None:
        if hops > self.settings.max_hops:
            self.stopped += 1
            return
        assert actor.clock is not None
        now = self._now()
        update = Update(
            actor.id,
            actor.members[to],
            actor.market,
            kind,
            payload,
            actor.clock.stamp_send(to),
            hops,
            now,
            now if origin_ns is None else origin_ns,
        )
        self.sent += 1
        actor.sent += 1
        if actor.owners[to] == self.worker:
            self.sent_local += 1
            self.post_update(update)
        else:
            self.sent_remote += 1
            self.outbound.append(update)

    # ------------------------------------------------------------ mailboxes

    def _asset(self, asset_id: str) -> AssetActor:
        actor = self.assets.get(asset_id)
        if actor is None:
            actor = self.assets[asset_id] = AssetActor(asset_id, slow=asset_id == self.settings.slow_asset)
        return actor

    def _enqueue(self, actor: AssetActor, item: tuple) -> None:
        box = actor.market_box
        box.append(item)
        if len(box) > actor.market_high_water:
            actor.market_high_water = len(box)
        if not actor.scheduled:
            actor.scheduled = True
            self.ready.append(actor)

    def _accept(self, actor: _Actor, update: Update) -> None:
        """The update is delivered (its clock joins the actor's); it waits
        in the mailbox for its turn, unless the mailbox is full."""
        assert actor.clock is not None
        actor.clock.deliver(update.clock, actor.members.index(update.source))
        box = actor.update_box
        if len(box) >= self.settings.mailbox_size:
            self._drop(actor, "mailbox_full")
            return
        box.append(update)
        if len(box) > actor.update_high_water:
            actor.update_high_water = len(box)
        if not actor.scheduled:
            actor.scheduled = True
            self.ready.append(actor)

    def _release(self, actor: _Actor) -> None:
        """Deliver every held update whose predecessors have now arrived."""
        clock, held = actor.clock, actor.held
        assert clock is not None
        progress = True
        while progress and held:
            progress = False
            for update in list(held):
                if clock.deliverable(update.clock):
                    held.remove(update)
                    self._accept(actor, update)
                    progress = True

    def _drop(self, actor: _Actor | None, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if actor is not None:
            actor.dropped += 1

    # ------------------------------------------------------------ reading

    def view(self, asset_id: str, depth: int) -> MarketView | None:
        """``asset_id``'s book and the quote its complement implies, as of
        the updates applied so far; ``None`` if it has no book."""
        book = self.router.query(asset_id, depth)
        if book is None:
            return None
        actor = self.assets.get(asset_id)
        if actor is None:
            return MarketView(book, 0, None, None, None, 0, None)
        complement = actor.members[1 - actor.index] if actor.members else None
        bid, ask, version = actor.implied
        return MarketView(book, actor.version, complement, bid, ask, version, actor.crossing)

    def counters(self) -> ActorCounters:
        tallies = tuple(
            ActorTallyStats(
                a.id, self.worker, a.applied, a.sent, a.dropped, a.market_high_water, a.update_high_water
            )
            for a in self.assets.values()
        )
        return ActorCounters(
            actors=len(self.assets),
            summaries=len(self.summaries),
            sent=self.sent,
            sent_local=self.sent_local,
            sent_remote=self.sent_remote,
            applied=self.applied,
            dropped=dict(self.dropped),
            buffered=self.buffered,
            held_at_end=sum(len(a.held) for a in (*self.assets.values(), *self.summaries.values())),
            violations=self.violations,
            stale_quotes=self.stale_quotes,
            stopped=self.stopped,
            opportunities=self.opportunities,
            update_latency=self.update_latency,
            chain_latency=self.chain_latency,
            hops=dict(self.hops),
            tallies=tallies,
            quotes={
                a.id: (a.members[1 - a.index] if a.members else None, a.implied[0], a.implied[1])
                for a in self.assets.values()
                if a.implied[2]
            },
            tops={a.id: a.top for a in self.assets.values() if a.top is not None},
        )
