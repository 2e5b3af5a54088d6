"""Phase 5, the actor engine in worker processes: the same books as sync
under both placements, updates that cross processes through the
coordinator, causal order kept under a reordering network (and broken,
counted, without it), a cycle that ends, a tiny mailbox that drops and
counts, a slow actor, and combined views that agree with the final books.

Every engine comes from ``make_engine``, stopped even when the test fails,
and then no child process may be left (``conftest.stopped_at_end``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orderbook_lab.core.complements import MarketView, implied_quote
from orderbook_lab.engines import RunConfig, run_engine
from orderbook_lab.engines.actor import ActorEngine
from orderbook_lab.engines.sync import SyncEngine

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def make_engine(stopped_at_end):
    def make(**fields) -> ActorEngine:
        fields.setdefault("messages", 3000)
        fields.setdefault("assets", 12)
        fields.setdefault("seed", 5)
        fields.setdefault("processes", 2)
        return stopped_at_end(ActorEngine(RunConfig(engine="actor", **fields)))

    return make


def _run(engine: ActorEngine):
    return run_engine(engine, engine.config.synthetic_source())


def _sync_digest(config: RunConfig) -> str:
    sync_config = replace(config, engine="sync", processes=None)
    return run_engine(SyncEngine(sync_config), sync_config.synthetic_source()).digest


@pytest.mark.parametrize("placement", ["market", "asset"])
def test_same_books_as_sync_and_every_update_counted(make_engine, placement):
    engine = make_engine(placement=placement)
    stats = _run(engine)
    actor = stats.actor
    assert stats.digest == _sync_digest(engine.config)
    assert stats.conserved and stats.processed == stats.generated
    assert actor.updates_sent > 0 and actor.conserved
    assert actor.causal_violations == 0 and actor.stale_quotes_at_end == 0
    assert actor.actors == 12 and actor.summaries == 6
    if placement == "market":  # a market's tokens share a worker: nothing crosses
        assert actor.updates_via_coordinator == 0
    else:
        assert actor.updates_via_coordinator > actor.updates_sent // 2


def test_a_reordering_network_is_absorbed_by_the_causal_buffer(make_engine):
    engine = make_engine(placement="asset", reorder_updates=True, messages=4000)
    stats = _run(engine)
    actor = stats.actor
    assert actor.updates_buffered > 0  # the buffer did work...
    assert actor.causal_violations == 0 and actor.held_at_end == 0  # ...and nothing broke order
    assert actor.stale_quotes_at_end == 0
    assert stats.digest == _sync_digest(engine.config)


def test_without_the_buffer_reordering_breaks_causal_order_and_is_counted(make_engine):
    engine = make_engine(placement="asset", reorder_updates=True, delivery="arrival", messages=4000)
    actor = _run(engine).actor
    assert actor.causal_violations > 0
    assert actor.updates_buffered == 0


def test_a_cycle_terminates_and_counts_its_stopped_chains(make_engine):
    engine = make_engine(placement="asset", update_load=1.0, update_hops=0, max_hops=5, messages=1000)
    stats = _run(engine)
    actor = stats.actor
    assert actor.cycles_stopped > 0
    assert set(actor.hops) == {1, 2, 3, 4, 5}
    assert actor.conserved and actor.drain_rounds >= 1
    assert stats.digest == _sync_digest(engine.config)


def test_a_tiny_update_mailbox_drops_and_every_drop_is_counted(make_engine):
    engine = make_engine(update_load=5.0, update_queue_size=1, messages=1000)
    stats = _run(engine)
    actor = stats.actor
    assert actor.dropped_by_reason.get("mailbox_full", 0) > 0
    assert actor.updates_sent == actor.updates_applied + actor.updates_dropped + actor.held_at_end
    assert stats.conserved  # market messages are never the ones dropped
    assert stats.digest == _sync_digest(engine.config)


def test_no_updates_at_all_when_the_load_is_zero(make_engine):
    actor = _run(make_engine(update_load=0.0, messages=1000)).actor
    assert actor.updates_sent == 0 and actor.opportunities == 0


def test_a_slow_actor_is_reported(make_engine):
    probe = make_engine(messages=500)
    _run(probe)
    slow = sorted(probe.books())[0]
    stats = _run(make_engine(messages=500, slow_asset=slow, slow_ms=0.2))
    assert stats.actor.slow_asset is not None and stats.actor.slow_asset.asset == slow


def test_a_combined_view_never_holds_a_quote_newer_than_its_source(make_engine):
    engine = make_engine(placement="asset", messages=2000)
    engine.start()
    engine.run(engine.config.synthetic_source())
    books = engine._routes.book_assets
    views = {asset: engine.query(asset) for asset in books}
    for view in views.values():
        assert isinstance(view, MarketView)
        if view.complement is None:
            continue
        source = views[view.complement]
        assert view.implied_version <= source.version
        top = source.book
        expected = implied_quote(
            top.best_bid.price if top.best_bid else None, top.best_ask.price if top.best_ask else None
        )
        assert (view.implied_bid, view.implied_ask) == expected  # drained: the latest quote arrived
    engine.stop()
