"""Phase 5's actors, driven by hand in one process: the mailbox priority
policy, causal delivery (held back, then released), violations counted
when delivery is by arrival, chains stopped at --max-hops, bounded
mailboxes that count their drops, and implied quotes between complements."""

from __future__ import annotations

import json

import pytest

from orderbook_lab.core.clock import SYSTEM_CLOCK
from orderbook_lab.core.complements import implied_quote
from orderbook_lab.core.parser import parse_line
from orderbook_lab.engines import RunConfig
from orderbook_lab.engines._actor.clocks import MatrixClock
from orderbook_lab.engines._actor.system import UPDATES_PER_TURN, ActorSettings, ActorSystem
from orderbook_lab.engines._actor.updates import Introduce, Update, summary_id
from orderbook_lab.engines._pipeline import Pipeline

MARKET = "0xmarket"
YES, NO, SUMMARY = "111", "222", summary_id(MARKET)


def _system(worker: int = 0, on_step=None, **settings) -> ActorSystem:
    pipeline = Pipeline(RunConfig(), SYSTEM_CLOCK)
    return ActorSystem(worker, pipeline, ActorSettings(**settings), on_step=on_step)


def _introduce(system: ActorSystem, owners=(0, 0, 0)) -> None:
    system.introduce(Introduce(MARKET, (YES, NO, SUMMARY), owners))


def _parsed(event_type: str, **fields) -> object:
    """One wire line of ``MARKET``, parsed."""
    line = json.dumps({"event_type": event_type, "market": MARKET, "timestamp": "1700000000000", **fields})
    [message] = parse_line(line)
    return message


def _book(asset: str, bids, asks) -> object:
    levels = {
        name: [{"price": p, "size": "10"} for p in prices]
        for name, prices in (("bids", bids), ("asks", asks))
    }
    return _parsed("book", asset_id=asset, hash="0" * 40, **levels)


def _both(changes) -> object:
    """One price_change, possibly for both tokens, as the feed sends them."""
    return _parsed(
        "price_change",
        price_changes=[
            {"asset_id": asset, "price": price, "size": size, "side": side, "hash": "0" * 40}
            for asset, price, side, size in changes
        ],
    )


def _change(asset: str, price: str, side: str, size: str = "5") -> object:
    return _both([(asset, price, side, size)])


def _relay_from_no(clock: MatrixClock, hops: int = 1) -> Update:
    """A relay from NO (member 1) to YES (member 0), stamped by NO's clock."""
    return Update(NO, YES, MARKET, "relay", (), clock.stamp_send(0), hops, 0, 0)


def test_the_priority_policy_lets_neither_mailbox_starve():
    steps: list[str] = []
    system = _system(on_step=lambda actor, kind: steps.append(kind), update_load=0.0, update_hops=1)
    _introduce(system, owners=(0, 1, 0))  # NO lives elsewhere: its updates come "from the coordinator"
    no_clock = MatrixClock(3, 1)
    for _ in range(10):
        system.post_update(_relay_from_no(no_clock))
    system.post_market(0, True, _book(YES, ["0.40"], ["0.60"]))
    for price in ("0.41", "0.42"):
        system.post_market(0, True, _change(YES, price, "BUY"))
    system.run()

    turn = ["update"] * UPDATES_PER_TURN + ["market"]
    assert steps[: 2 * len(turn)] == turn * 2  # updates first, but a market message every turn
    assert steps.count("market") == 3 and steps.count("update") == 10
    # A flood of market messages does not shut updates out either.
    steps.clear()
    for price in ("0.43", "0.44", "0.45"):
        system.post_market(0, True, _change(YES, price, "BUY"))
    system.post_update(_relay_from_no(no_clock))
    system.run()
    assert steps[0] == "update"


def test_an_update_that_arrives_before_its_predecessor_is_held_then_released():
    system = _system(update_load=0.0)
    _introduce(system, owners=(0, 1, 0))
    no_clock = MatrixClock(3, 1)
    first, second = _relay_from_no(no_clock), _relay_from_no(no_clock)

    system.post_update(second)  # the network reordered them
    system.run()
    assert (system.buffered, system.applied, system.violations) == (1, 0, 0)
    system.post_update(first)
    system.run()
    assert (system.buffered, system.applied, system.violations) == (1, 2, 0)
    assert system.counters().held_at_end == 0


def test_a_summary_waits_for_the_report_that_happened_before():
    """YES reports to the summary, then quotes NO; NO's report (caused by
    the quote) reaches the summary first: it is held until YES's arrives."""
    system = _system()
    _introduce(system, owners=(1, 2, 0))  # only the summary lives here
    yes, no = MatrixClock(3, 0), MatrixClock(3, 1)
    yes_report = Update(
        YES, SUMMARY, MARKET, "opportunity", ("bids_over_one", 1, 1), yes.stamp_send(2), 1, 0, 0
    )
    quote_stamp = yes.stamp_send(1)
    no.deliver(quote_stamp, 0)
    no_report = Update(NO, SUMMARY, MARKET, "opportunity", ("bids_over_one", 1, 1), no.stamp_send(2), 2, 0, 0)

    system.post_update(no_report)
    system.run()
    assert system.opportunities == 0 and system.buffered == 1
    system.post_update(yes_report)
    system.run()
    assert system.opportunities == 2 and system.violations == 0


def test_delivery_by_arrival_counts_what_breaks_causal_order():
    system = _system(delivery="arrival")
    _introduce(system, owners=(0, 1, 0))
    no_clock = MatrixClock(3, 1)
    older = Update(NO, YES, MARKET, "implied_quote", (4000, 6000, 1), no_clock.stamp_send(0), 1, 0, 0)
    newer = Update(NO, YES, MARKET, "implied_quote", (4100, 6000, 2), no_clock.stamp_send(0), 1, 0, 0)
    system.post_update(newer)
    system.post_update(older)
    system.run()
    # The newer one was early (1 violation); the older one, applied after it,
    # would have turned the view back in time: refused and counted.
    assert system.violations == 2 and system.stale_quotes == 1
    assert system.assets[YES].implied == (4100, 6000, 2)


def test_a_top_change_sends_the_complement_its_implied_quote():
    system = _system()
    _introduce(system)
    system.post_market(0, True, _book(YES, ["0.40", "0.38"], ["0.45"]))
    system.post_market(0, True, _book(NO, ["0.50"], ["0.70"]))
    system.run()
    yes_view, no_view = system.view(YES, 5), system.view(NO, 5)
    assert (no_view.implied_bid, no_view.implied_ask) == implied_quote(4000, 4500) == (5500, 6000)
    assert (yes_view.implied_bid, yes_view.implied_ask) == implied_quote(5000, 7000) == (3000, 5000)
    assert no_view.implied_version == yes_view.version == 1
    assert system.sent == system.applied == 2  # one quote each way, nothing else changed
    # A change below the top moves no quote.
    system.post_market(0, True, _change(YES, "0.38", "BUY", "1"))
    system.run()
    assert system.sent == 2


def test_a_book_that_crosses_its_complements_quote_reports_to_the_summary():
    system = _system()
    _introduce(system)
    system.post_market(0, True, _book(YES, ["0.40"], ["0.45"]))
    system.post_market(0, True, _book(NO, ["0.62"], ["0.70"]))  # 0.40 + 0.62 > 1
    system.run()
    assert system.opportunities >= 1
    assert system.summaries[SUMMARY].last[0] == "bids_over_one"
    assert system.view(NO, 5).crossing == "bids_over_one"


def test_no_crossing_is_judged_between_the_two_halves_of_one_message():
    """YES's whole book moves up a level and NO's mirror moves down in the
    same message. Half-way (YES's new bid against NO's old bid) the two
    books cross; the exchange never showed that state, so nothing is reported."""
    system = _system()
    _introduce(system)
    system.post_market(0, True, _book(YES, ["0.40"], ["0.45"]))
    system.post_market(0, True, _book(NO, ["0.55"], ["0.60"]))  # mirrors
    system.run()
    assert system.opportunities == 0
    system.post_market(1, True, _both([
        (YES, "0.46", "BUY", "5"), (YES, "0.45", "SELL", "0"), (YES, "0.48", "SELL", "5"),
        (NO, "0.54", "SELL", "5"), (NO, "0.55", "BUY", "0"), (NO, "0.52", "BUY", "5"),
    ]))  # fmt: skip
    system.run()
    assert system.opportunities == 0
    assert system.view(NO, 5).crossing is None and system.assets[NO].implied[:2] == (5200, 5400)


def test_a_cycle_between_two_tokens_stops_at_max_hops():
    system = _system(update_load=1.0, update_hops=0, max_hops=6)  # endless relays: A -> B -> A ...
    _introduce(system)
    for price in ("0.41", "0.42", "0.43"):
        system.post_market(0, True, _change(YES, price, "BUY"))
    system.run()
    assert system.stopped == 3  # one chain per message, each stopped
    assert system.hops == {h: 3 for h in range(1, 7)}
    assert system.sent == system.applied == 18


def test_a_full_update_mailbox_drops_and_counts():
    system = _system(update_load=5.0, mailbox_size=2)
    _introduce(system)
    system.post_market(0, True, _change(YES, "0.41", "BUY"))
    system.run()
    counters = system.counters()
    assert counters.sent == 5
    assert counters.dropped == {"mailbox_full": 3}
    assert counters.sent == counters.applied + sum(counters.dropped.values()) + counters.held_at_end


def test_a_token_introduced_after_its_book_quotes_at_once():
    system = _system()
    system.post_market(0, True, _book(YES, ["0.40"], ["0.45"]))
    system.run()
    assert system.sent == 0  # no complement known yet
    _introduce(system)
    system.run()
    assert system.sent == 1 and system.assets[NO].implied[:2] == (5500, 6000)


@pytest.mark.parametrize("owners", [(0, 1, 0), (1, 0, 1)])
def test_updates_for_other_workers_go_out_in_order(owners):
    system = _system()
    _introduce(system, owners=owners)
    local = YES if owners[0] == 0 else NO
    for price in ("0.40", "0.41", "0.42"):
        system.post_market(0, True, _change(local, price, "BUY"))
    system.run()
    outbound = system.take_outbound()
    assert [u.payload[1] for u in outbound] == [6000, 5900, 5800]
    assert all(u.source == local and u.hops == 1 for u in outbound)
    assert system.take_outbound() == []
