"""Phase 5, the ``actor`` engine: one actor per asset, books that talk.

Phase 3's worker processes host the actors (``_actor/host.py``): each
asset's book belongs to one actor, which alone applies its market messages
and reacts to what its complement tells it. When a token's top of book
changes, its actor sends the other token of the market the quote it
implies (``core/complements.py``); the receiver keeps it and, if its own
book crosses that quote, reports the opportunity to the market's summary
actor. Every update is fire-and-forget and carries a matrix clock, so each
receiver applies updates in causal order (``_actor/clocks.py``).

**Where the coordinator lives: in the main process.** Updates between
actors of one worker never leave it. An update for another worker rides in
the sender's ``Reply`` to the parent, and the parent puts it in the next
frame to the target's worker. The main process is the natural place:
it already owns the routing table (the only complete map of actor ->
worker, since it places every asset as it first appears), it already has
one channel to and one from every worker, and its reader thread sees
every reply as it arrives. A coordinator process of its own would add a
hop and a second copy of the table; sharding it would need the table in
every shard. The price is the one phase 3 measured: the main process is
also the dispatcher, so forwarding competes with parsing (the lesson
measures it with ``--placement asset``).

Nothing here waits for an update: the reader thread only files the update
in the target worker's mail, and the main loop attaches mail to the next
frame it sends that worker, or sends it on its own once it is
``_MAX_MAIL_AGE_NS`` old. The mail needs no bound of its own: updates are
only made by frames, a worker has at most ``queue_frames`` frames in
hand, and each message makes a bounded number of updates (``--max-hops``).
At the end of the stream the parent drains in rounds until a round
produces no mail: every chain is at most ``--max-hops`` long, so that
takes at most ``max_hops + 1`` rounds.

``--placement market`` keeps a market's tokens (and its summary) on one
worker; ``--placement asset`` spreads assets evenly without regard to
markets, so nearly every update crosses processes through the coordinator.
"""

from __future__ import annotations

import random
from dataclasses import replace

from ..core.complements import implied_quote
from ..core.metrics import LatencyHistogram
from ._actor.host import ActorHost, ActorWorkerReport
from ._actor.system import ActorCounters
from ._actor.updates import Introduce, summary_id
from ._pool import _MAX_BATCH_AGE_NS
from ._routing import AssetRoutes
from ._stats import ActorStats
from ._worker import Reply, WorkerCore
from .base import EngineError, RunConfig, RunStats
from .multiprocessing import MultiprocessingEngine

__all__ = ["ActorEngine"]

_MAX_MAIL_AGE_NS = _MAX_BATCH_AGE_NS
"""Mail for a worker leaves on its own once its oldest update is this old
(it leaves sooner with any frame to that worker)."""
_BUSIEST_SHOWN = 5


class ActorEngine(MultiprocessingEngine):
    """Worker processes hosting one actor per asset, coordinated by the
    main process (phase 5)."""

    name = "actor"
    core_factory: type[WorkerCore] = ActorHost

    def __init__(self, config: RunConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        scheme = "directory" if config.placement == "market" else "spread"
        if config.parse_in == "worker" and scheme != "directory":
            raise EngineError(
                "--parse-in worker sends whole lines to the worker of their market, which needs "
                "--placement market (a market's tokens together)"
            )
        self._routes = AssetRoutes(self.workers, scheme)
        self._actor_owner: dict[str, int] = {}
        """Actor id -> worker, for every member of an introduced market."""
        self._intros: list[list[Introduce]] = [[] for _ in range(self.workers)]
        self._introduced: list[list[Introduce]] = [[] for _ in range(self.workers)]
        """Every introduction each worker was given (phase 8 gives a
        restarted worker all of them again)."""
        self._mail: list[list] = [[] for _ in range(self.workers)]
        self._mail_born = [0] * self.workers
        self._mail_size = 0
        self._mail_high_water = 0
        self._forwarded = 0
        self._drain_rounds = 0
        self._shuffle = random.Random(config.seed ^ 0x0DE7).shuffle if config.reorder_updates else None

    def _calibrate(self) -> bool:
        return super()._calibrate() or bool(self.config.slow_asset)

    # ------------------------------------------------------------ the coordinator

    def _introduce_new_markets(self) -> None:
        """Tell every worker hosting a member of a newly paired market who
        its group is (main thread; before any frame that might need it)."""
        routes = self._routes
        while routes.new_pairs:
            market, first, second = routes.new_pairs.pop(0)
            summary = summary_id(market)
            owners = (routes.owner(first), routes.owner(second), routes.market_owner(market) or 0)
            intro = Introduce(market, (first, second, summary), owners)
            with self._cond:
                for actor, worker in zip(intro.members, owners, strict=True):
                    self._actor_owner[actor] = worker
            for worker in sorted(set(owners)):
                self._intros[worker].append(intro)

    def _send(self, worker: int, frame: tuple[list, list]) -> None:
        """Every frame to a worker carries its introductions and its mail
        first (introductions before the updates that need them)."""
        self._introduce_new_markets()
        intros = self._intros[worker]
        with self._cond:
            mail = self._mail[worker]
            if mail:
                self._mail[worker] = []
                self._mail_size -= len(mail)
        if intros or mail:
            self._intros[worker] = []
            self._introduced[worker].extend(intros)
            if self._shuffle is not None and len(mail) > 1:
                self._shuffle(mail)
            frame = (frame[0], [*intros, *mail, *frame[1]])
        super()._send(worker, frame)

    def _on_reply(self, reply: Reply) -> None:
        """File each outbound update in its target worker's mail (reader
        thread: never sends, never waits), then settle the reply as phase 3."""
        if reply.outbound:
            arrived = self.clock.now_ns()
            with self._cond:
                owners, mail, born = self._actor_owner, self._mail, self._mail_born
                for update in reply.outbound:
                    worker = owners[update.target]
                    if not mail[worker]:
                        born[worker] = arrived
                    mail[worker].append(update)
                self._forwarded += len(reply.outbound)
                self._mail_size += len(reply.outbound)
                if self._mail_size > self._mail_high_water:
                    self._mail_high_water = self._mail_size
        super()._on_reply(reply)

    def _restore_controls(self, worker: int) -> list:
        return list(self._introduced[worker])

    def _pump(self, batches: list[list], now_ns: int) -> None:
        """Send mail that has waited long enough, with whatever batch its
        worker has (main thread, once per source frame)."""
        if not self._mail_size:
            return
        for worker in range(self.workers):
            mail = self._mail[worker]  # read without the lock: a stale look only delays by a frame
            if mail and (now_ns - self._mail_born[worker] >= _MAX_MAIL_AGE_NS or len(mail) >= self.batch):
                batch, batches[worker] = batches[worker], []
                self._send(worker, (batch, []))

    def _drain(self, batches: list[list]) -> None:
        """Drain in rounds until a round leaves no mail: the updates a
        drained frame produced are delivered (and drained) too."""
        while True:
            super()._drain(batches)
            self._drain_rounds += 1
            with self._cond:
                if not self._mail_size:
                    return

    # ------------------------------------------------------------ results

    def _gather(self) -> RunStats:
        stats = super()._gather()
        reports = [self._reports[w] for w in range(self.workers)]
        assert all(isinstance(r, ActorWorkerReport) for r in reports)
        counters: list[ActorCounters] = [r.actors for r in reports]  # type: ignore[attr-defined]
        latency = LatencyHistogram()
        chains: dict[int, LatencyHistogram] = {}
        hops: dict[int, int] = {}
        dropped: dict[str, int] = {}
        for c in counters:
            latency.merge(c.update_latency)
            for h, histogram in c.chain_latency.items():
                chains.setdefault(h, LatencyHistogram()).merge(histogram)
            for h, count in c.hops.items():
                hops[h] = hops.get(h, 0) + count
            for reason, count in c.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
        tallies = [tally for c in counters for tally in c.tallies]
        busiest = sorted(tallies, key=lambda t: (-t.dropped, -t.update_high_water, -t.applied, t.asset))
        slow = next((t for t in tallies if t.asset == self.config.slow_asset), None)
        actor = ActorStats(
            placement=self.config.placement,
            delivery=self.config.delivery,
            coordinator="main process",
            actors=sum(c.actors for c in counters),
            summaries=sum(c.summaries for c in counters),
            max_hops=self.config.max_hops,
            update_queue_size=self.config.update_queue_size,
            updates_sent=sum(c.sent for c in counters),
            updates_local=sum(c.sent_local for c in counters),
            updates_via_coordinator=self._forwarded,
            updates_applied=sum(c.applied for c in counters),
            updates_dropped=sum(dropped.values()),
            dropped_by_reason=dropped,
            updates_buffered=sum(c.buffered for c in counters),
            held_at_end=sum(c.held_at_end for c in counters),
            update_latency_ms=latency.summary(1e6),
            chain_latency_ms={h: chains[h].summary(1e6) for h in sorted(chains)},
            hops=dict(sorted(hops.items())),
            causal_violations=sum(c.violations for c in counters),
            stale_quotes_at_end=_stale_quotes(counters) if self.config.update_load is None else 0,
            cycles_stopped=sum(c.stopped for c in counters),
            opportunities=sum(c.opportunities for c in counters),
            market_high_water=max((t.market_high_water for t in tallies), default=0),
            update_high_water=max((t.update_high_water for t in tallies), default=0),
            coordinator_high_water=self._mail_high_water,
            drain_rounds=self._drain_rounds,
            slow_asset=slow,
            busiest=tuple(busiest[:_BUSIEST_SHOWN]),
            tallies=tuple(tallies),
        )
        return replace(stats, actor=actor)


def _stale_quotes(counters: list[ActorCounters]) -> int:
    """Tokens whose held quote is not what their complement's final top
    implies: each is an update lost, or applied out of order."""
    tops = {asset: top for c in counters for asset, top in c.tops.items()}
    stale = 0
    for c in counters:
        for _asset, (complement, bid, ask) in c.quotes.items():
            top = tops.get(complement) if complement is not None else None
            if top is not None and implied_quote(*top) != (bid, ask):
                stale += 1
    return stale
