"""``MessageSource``: the stream of wire lines every engine consumes.

A source yields ``Frame``s: one wire line (what one websocket frame or one
line of a recording holds), its 1-based line number, and ``produced_ns``,
the moment the feed emitted it. Lines come from a seeded market simulator
(``MessageSource.synthetic``) or from a JSONL file
(``MessageSource.from_file``: plain lines or a recording, see
``core/recording.py``); either way the source can pace them.

Pacing (``rate`` > 0, lines per second) follows a drift-free schedule: line
i is due at ``start + i / rate``, however late earlier lines were. When the
consumer is slower than the schedule, the source falls behind; the lag is
recorded, and ``produced_ns`` stays the scheduled moment, because that is
when the exchange sent the message whether or not we were ready to read it.
Latency measured from that stamp therefore includes the time a message
waited for a busy consumer (no "coordinated omission").

A load ramp (``rate_ramp=(FROM, TO)``) lets the pace itself change, to show
how a pipeline behaves as the load climbs past what it can serve. The pace
moves in a straight line from ``rate * FROM`` to ``rate * TO`` lines per
second over the ramp's span T: r(t) = rate * (FROM + (TO - FROM) * t / T).
Line i is due when the lines sent so far, the area under r, reach i, which
is a quadratic in t. The schedule stays drift-free and stamped the same way
as a constant ``rate``. T is the run's ``duration_s`` when there is one;
otherwise it is the time the ramp takes to send ``total_messages`` lines,
T = 2 * messages / (rate * (FROM + TO)). The pace is counted in lines, like
``rate``: an array line of snapshots is one line however many messages it
holds, so a stream that starts with arrays ends a little before T, a little
short of the final pace. After T the pace stays at ``rate * TO``.

A recording can instead be replayed at its own pace (``speed`` > 0): line i
is due at ``start + (t_i - t_0) / speed``, where t is the time the line was
received (its envelope's ``recv_ms``) or, on a plain line, its message's
``timestamp``. Speed 1 is the recorded pace, 2 twice as fast. The schedule
is drift-free and stamped the same way as ``rate``'s. Times never run
backwards: a line stamped earlier than the one before it (or not stamped at
all) is due together with that one.

The simulator is deterministic: the same ``SourceConfig`` gives the same
lines, byte for byte, on any machine and at any rate. Markets hold two
complementary outcome tokens (YES/NO): a YES bid at p rests on the NO book
as an ask at 1 - p, and every ``price_change`` carries both tokens, like
the live feed. Assets are ``book``-snapshotted first (in arrays, like the
feed's first frame), then updated; fresh snapshots and trades are mixed in.

Markets trade at every tick size Polymarket uses: about half at 0.01,
three in ten at 0.001 and the rest at 0.0001, those near 0 or 1 where a
fine grid matters. As on the exchange, a market whose price leaves
[0.04, 0.96] moves to a ten times finer tick (``tick_size_change``, sent
for both tokens) and moves back once the price is inside [0.05, 0.95]
again; levels placed on the finer grid stay where they are, off the
coarser one, until they are changed or removed.

    >>> lines = list(MessageSource.synthetic(SourceConfig(messages=50, assets=4, seed=3)).wire_lines())
    >>> lines == list(MessageSource.synthetic(SourceConfig(messages=50, assets=4, seed=3)).wire_lines())
    True
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from math import exp as _exp
from math import isfinite as _isfinite
from math import log as _log
from math import sqrt as _sqrt
from pathlib import Path
from typing import Literal

import msgspec

from .clock import SYSTEM_CLOCK, Clock
from .metrics import LatencyHistogram
from .prices import _CANONICAL, EMPTY_ASK_TICKS, EMPTY_BID_TICKS, MAX_TICKS, TICKS_PER_UNIT, ticks_to_price
from .recording import RecordingReader, RecordingStats, pace_basis

__all__ = ["SourceConfig", "Frame", "MessageSource", "Popularity"]

Popularity = Literal["uniform", "zipf"]


@dataclass(frozen=True)
class SourceConfig:
    """What the simulator generates.

    ``messages`` is the exact number of messages (an array line of k
    snapshots counts k); ``None`` means endless (stop it with a duration).
    ``popularity`` chooses which market each update touches: every market
    equally, or by Zipf's law (market k is picked with weight 1/k).
    """

    messages: int | None = 10_000
    assets: int = 10
    seed: int = 1
    popularity: Popularity = "uniform"
    snapshot_batch: int = 16


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One wire line with where it came from and when it was produced.

    ``text`` is a ``str`` from the simulator and ``bytes`` from a file
    (undecoded: the parser checks the UTF-8). A frozen struct, untracked by
    the garbage collector (it holds two ints and a string, so it can never
    be part of a cycle): one is built per line, in C, for about a third of
    what a ``NamedTuple`` costs."""

    line_no: int
    produced_ns: int
    text: str | bytes


class MessageSource:
    """A paced, counted stream of wire lines (see the module docstring).

    ``lines`` is any iterable of wire text (``""`` or ``b""`` for a line
    that holds no message); ``rate`` is lines per second (0 = as fast as
    the consumer pulls); ``speed`` replays a ``RecordingReader``'s lines at
    their recorded pace times ``speed`` (0 = off; not with ``rate``);
    ``duration_s`` ends the stream after that much time even if ``lines``
    has more; ``rate_ramp`` turns ``rate`` into a linear ramp (module
    docstring), and needs ``rate`` > 0 and a length to ramp over
    (``duration_s`` or ``total_messages``).
    """

    def __init__(
        self,
        lines: Iterable[str] | Iterable[bytes] | RecordingReader,
        *,
        rate: float = 0.0,
        speed: float = 0.0,
        duration_s: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        total_messages: int | None = None,
        rate_ramp: tuple[float, float] | None = None,
        live: bool = False,
    ) -> None:
        if rate > 0 and speed > 0:
            raise ValueError("pace by rate or by speed, not both")
        if speed > 0 and not isinstance(lines, RecordingReader):
            raise ValueError("speed paces a recording's own times: give a RecordingReader")
        self._ramp = (
            None if rate_ramp is None else _RampSchedule.for_run(rate, rate_ramp, duration_s, total_messages)
        )
        self._lines = lines
        self.rate = rate
        self.rate_ramp = rate_ramp
        self.speed = speed
        self.duration_s = duration_s
        self.clock = clock
        self.total_messages = total_messages
        """How many messages the stream will hold, when known in advance
        (for progress displays); ``None`` for files and endless streams."""
        self.lines_emitted = 0
        self.schedule_lag = LatencyHistogram()
        """How late each line left the source against its schedule (ns);
        empty when unpaced."""
        self.started_ns: int | None = None
        self.live = live
        """Lines that arrive when the exchange sends them (``live.feed``):
        nobody can hold them back, so they count as paced."""

    @property
    def paced(self) -> bool:
        """Whether frames leave on a schedule (``rate``, ``speed``, or a
        live feed's own): a consumer that falls behind cannot make it wait."""
        return self.rate > 0 or self.speed > 0 or self.live

    def stop(self) -> None:
        """Ask the lines to end, for a source that may wait for its next
        line (a live feed): safe from a signal handler and any thread. The
        consumer stops taking frames by itself; this only wakes it."""
        stop = getattr(self._lines, "stop", None)
        if stop is not None:
            stop()

    def recording_stats(self) -> RecordingStats | None:
        """Gaps and timed frames of a file's lines; ``None`` for other sources."""
        lines = self._lines
        return lines.stats() if isinstance(lines, RecordingReader) else None

    # -------------------------------------------------------- constructors

    @classmethod
    def synthetic(
        cls,
        config: SourceConfig,
        *,
        rate: float = 0.0,
        duration_s: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rate_ramp: tuple[float, float] | None = None,
    ) -> MessageSource:
        """A simulated feed (see ``SourceConfig``); ``rate_ramp`` as in the
        constructor (a ``ValueError`` says what a ramp is missing)."""
        return cls(
            _MarketSimulator(config).lines(),
            rate=rate,
            duration_s=duration_s,
            clock=clock,
            total_messages=config.messages,
            rate_ramp=rate_ramp,
        )

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        rate: float = 0.0,
        speed: float = 0.0,
        duration_s: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> MessageSource:
        """Replay a JSONL file: plain wire lines, a recording, or both (see
        ``core/recording.py``). Lines are read as bytes. Blank and gap
        lines are skipped but keep their number, so reports match the file.

        ``speed`` > 0 needs times to pace by: a ``ValueError`` says so when
        the file's first lines have neither receive times nor timestamps.
        """
        path = Path(path)
        if speed > 0:
            with path.open("rb") as handle:
                if pace_basis(handle) is None:
                    raise ValueError(
                        f"{path.name} has no receive times (recv_ms) and no message timestamps to pace "
                        "--speed by; record it with `orderbook-lab record`, or pace it with --rate"
                    )
        # Bytes, not text: decoding here would have to repair bad UTF-8 (two
        # different bad asset ids would become one book); the parser rejects it.
        return cls(RecordingReader(path), rate=rate, speed=speed, duration_s=duration_s, clock=clock)

    # ------------------------------------------------------------ streams

    def wire_lines(self) -> Iterator[str | bytes]:
        """The raw lines, unpaced and unstamped (what ``source --out``
        writes); a recording's frames, unwrapped."""
        for text in self._lines:
            if text:  # a blank line of a file is ""
                yield text

    def __iter__(self) -> Iterator[Frame]:
        """Paced frames; see the module docstring for the schedule."""
        return self.frames()

    def frames(self, clock: Clock | None = None) -> Iterator[Frame]:
        """Paced frames that wait on ``clock`` (default: the source's own).

        A caller that must not block, such as an event loop, passes a clock
        whose ``sleep_until_ns`` returns at once and waits for each frame's
        ``produced_ns`` itself: the schedule, the stamps and the lag
        measured stay exactly those of blocking iteration.
        """
        clock = clock if clock is not None else self.clock
        now = clock.now_ns
        start = self.started_ns = now()
        deadline = None if self.duration_s is None else start + int(self.duration_s * 1e9)
        interval = 1e9 / self.rate if self.rate > 0 else 0.0
        if self.speed > 0:
            yield from self._recorded_pace(clock, start, deadline)
            return
        if not interval and deadline is None:  # flat out: the loop without pacing
            yield from self._unpaced(now)
            return
        ramp = self._ramp
        for line_no, text in enumerate(self._lines, 1):
            if not text:  # a blank line of a file: numbered, not sent
                continue
            if interval:
                if ramp is None:
                    due = start + int(self.lines_emitted * interval)
                else:
                    offset = ramp.offset_ns(self.lines_emitted)
                    if offset is None:  # ramped down to a pace of 0: nothing more is due
                        return
                    due = start + offset
                if deadline is not None and due >= deadline:
                    return
                self._wait_until(clock, due)
                produced = due
            else:
                produced = now()
                if deadline is not None and produced >= deadline:
                    return
            self.lines_emitted += 1
            yield Frame(line_no, produced, text)

    def _recorded_pace(self, clock: Clock, start: int, deadline: int | None) -> Iterator[Frame]:
        """Line i due at ``start + (t_i - t_0) / speed`` (module docstring)."""
        assert isinstance(self._lines, RecordingReader)
        ns_per_ms = 1e6 / self.speed
        first_ms = last_ms = None
        for line_no, (text, at_ms) in enumerate(self._lines.timed(), 1):
            if not text:  # a blank or gap line: numbered, not sent
                continue
            if at_ms is None or (last_ms is not None and at_ms < last_ms):
                at_ms = last_ms  # no time, or an earlier one: due with the line before
            if at_ms is None:  # nothing timed yet: due at the start
                due = start
            else:
                if first_ms is None:
                    first_ms = at_ms
                last_ms = at_ms
                due = start + int((at_ms - first_ms) * ns_per_ms)
            if deadline is not None and due >= deadline:
                return
            self._wait_until(clock, due)
            self.lines_emitted += 1
            yield Frame(line_no, due, text)

    def _wait_until(self, clock: Clock, due: int) -> None:
        """Sleep until a line is due, or record how late it already is."""
        current = clock.now_ns()
        if current < due:
            clock.sleep_until_ns(due)
        else:
            self.schedule_lag.record(current - due)

    def _unpaced(self, now) -> Iterator[Frame]:
        emitted = self.lines_emitted
        try:
            for line_no, text in enumerate(self._lines, 1):
                if text:  # a blank line of a file: numbered, not sent
                    emitted += 1
                    yield Frame(line_no, now(), text)
        finally:
            self.lines_emitted = emitted


class _RampSchedule:
    """When each line of a linear load ramp is due (module docstring).

    With p0 = rate * FROM (lines/s at the start) and a = rate * (TO - FROM)
    / T (how fast the pace grows, lines/s per s), the lines sent by time t
    are N(t) = p0 * t + a * t**2 / 2. Line i is due when N(t) = i:

        t = 2 * i / (p0 + sqrt(p0**2 + 2 * a * i))

    the root of the quadratic written so it neither cancels (p0 large, a
    small) nor divides by zero (a == 0: t = i / p0; p0 == 0: t = sqrt(2 * i
    / a)). ``offset_ns`` is O(1) per line.

        >>> ramp = _RampSchedule(rate=100, ramp=(0.0, 2.0), span_s=1.0)  # 0 -> 200 lines/s in 1 s
        >>> [ramp.offset_ns(i) for i in (0, 25, 100)]                     # N(t) = 100 t**2
        [0, 500000000, 1000000000]
        >>> ramp.offset_ns(300)                                           # then 200 lines/s
        2000000000
    """

    __slots__ = ("_start_pace", "_growth", "_span_s", "_span_lines", "_end_pace", "_interval_ns")

    def __init__(self, *, rate: float, ramp: tuple[float, float], span_s: float) -> None:
        first, last = ramp
        self._start_pace = rate * first
        self._end_pace = rate * last
        self._span_s = span_s
        self._growth = (self._end_pace - self._start_pace) / span_s if span_s > 0 else 0.0
        self._span_lines = span_s * (self._start_pace + self._end_pace) / 2  # N(T)
        # A flat "ramp" is a constant rate: computed as ``rate`` computes it,
        # so FROM == TO == 1 gives the very stamps of a plain ``rate``.
        self._interval_ns = 1e9 / self._start_pace if first == last else None

    @classmethod
    def for_run(
        cls, rate: float, ramp: tuple[float, float], duration_s: float | None, total_messages: int | None
    ) -> _RampSchedule:
        """The schedule of a run, or a ``ValueError`` saying what to change."""
        first, last = ramp
        if not (rate > 0 and _isfinite(rate)):
            raise ValueError(
                "a rate ramp scales the rate: give a rate > 0 too (e.g. --rate 1000 --rate-ramp 0.1:1.5)"
            )
        if not (_isfinite(first) and _isfinite(last) and first >= 0 and last >= 0):
            raise ValueError(f"a rate ramp goes between two finite fractions >= 0, not {first:g}:{last:g}")
        if first + last <= 0:
            raise ValueError("a rate ramp from 0 to 0 sends nothing: make FROM or TO greater than 0")
        if duration_s is not None:
            span_s = duration_s
        elif total_messages is not None:
            span_s = 2 * total_messages / (rate * (first + last))
        else:
            raise ValueError("a rate ramp needs the run's length: give a duration or a message count")
        return cls(rate=rate, ramp=ramp, span_s=span_s)

    def offset_ns(self, index: int) -> int | None:
        """When line ``index`` (0-based) is due, in ns after the start;
        ``None`` if never (the ramp went down to a pace of 0 and is over)."""
        if self._interval_ns is not None:
            return int(index * self._interval_ns)
        if index <= 0:
            return 0
        if index <= self._span_lines:
            start_pace = self._start_pace
            root = _sqrt(max(start_pace * start_pace + 2 * self._growth * index, 0.0))
            return int(2e9 * index / (start_pace + root))
        if self._end_pace <= 0:
            return None
        return int((self._span_s + (index - self._span_lines) / self._end_pace) * 1e9)


# ------------------------------------------------------------ the simulator


class _Market:
    """The simulator's own model of one market: the YES book, plus the
    latent fair price the quotes drift around. The NO book is its mirror."""

    __slots__ = (
        "market_id",
        "yes_id",
        "no_id",
        "base_tick",
        "tick",
        "fair",
        "bids",
        "asks",
        "bid_sizes",
        "ask_sizes",
    )

    def __init__(self, market_id: str, yes_id: str, no_id: str | None, tick: int, fair: float) -> None:
        self.market_id = market_id
        self.yes_id = yes_id
        self.no_id = no_id
        self.base_tick = tick  # the tick away from the edges; ``tick`` is the current one
        self.tick = tick
        self.fair = fair
        self.bids: list[int] = []  # ascending: the best bid is last
        self.asks: list[int] = []  # ascending: the best ask is first
        self.bid_sizes: dict[int, str] = {}
        self.ask_sizes: dict[int, str] = {}

    def best_bid(self) -> int:
        return self.bids[-1] if self.bids else EMPTY_BID_TICKS

    def best_ask(self) -> int:
        return self.asks[0] if self.asks else EMPTY_ASK_TICKS

    def set_level(self, is_bid: bool, price: int, size: str) -> None:
        prices, sizes = (self.bids, self.bid_sizes) if is_bid else (self.asks, self.ask_sizes)
        if price not in sizes:
            bisect.insort(prices, price)
        sizes[price] = size

    def remove_level(self, is_bid: bool, price: int) -> None:
        prices, sizes = (self.bids, self.bid_sizes) if is_bid else (self.asks, self.ask_sizes)
        if price in sizes:
            del sizes[price]
            prices.remove(price)


_MIN_LEVELS, _MAX_LEVELS = 3, 80
_TIMESTAMP_BASE_MS = 1_760_000_000_000
_FINE_BELOW, _FINE_ABOVE = 0.04 * TICKS_PER_UNIT, 0.96 * TICKS_PER_UNIT
"""Outside these prices a market trades at a ten times finer tick ..."""
_COARSE_FROM, _COARSE_TO = 0.05 * TICKS_PER_UNIT, 0.95 * TICKS_PER_UNIT
"""... and back at its own tick once inside these (so it does not flap)."""


class _MarketSimulator:
    """Deterministic generator of wire lines (see ``SourceConfig``).

    Event mix per update: about 1 % fresh ``book`` snapshots, 1 % trades,
    a tick size change when the price crosses an edge band, and otherwise
    a ``price_change`` that resizes a level near the top (most), adds a
    level, or removes one.
    """

    def __init__(self, config: SourceConfig) -> None:
        if config.assets < 1:
            raise ValueError("assets must be at least 1")
        self.config = config
        self.rng = random.Random(config.seed)
        self.markets = [self._new_market(index) for index in range((config.assets + 1) // 2)]
        if config.assets % 2:  # an odd count: the last market lists one token
            self.markets[-1].no_id = None
        count = len(self.markets)
        if config.popularity == "zipf":
            self._cumulative = list(itertools.accumulate(1.0 / (k + 1) for k in range(count)))
        else:
            self._cumulative = None
        self.timestamp_ms = _TIMESTAMP_BASE_MS

    # ---------------------------------------------------------- markets

    def _new_market(self, index: int) -> _Market:
        rng = self.rng
        kind = rng.random()
        if kind < 0.55:  # 0.01
            tick, fair = 100, rng.uniform(0.06, 0.94)
        elif kind < 0.85:  # 0.001
            tick, fair = 10, rng.uniform(0.06, 0.94)
        else:  # 0.0001, a market priced near certainty one way or the other
            tick, fair = 1, rng.uniform(0.002, 0.035)
            if rng.random() < 0.5:
                fair = 1.0 - fair
        fair *= TICKS_PER_UNIT
        market = _Market(
            "0x" + f"{rng.getrandbits(256):064x}",
            str(rng.getrandbits(250)),
            str(rng.getrandbits(250)),
            tick,
            fair,
        )
        self._fill(market)
        return market

    def _fill(self, market: _Market) -> None:
        """Give a market a fresh book of 5 to 40 levels a side."""
        rng, tick = self.rng, market.tick
        market.bids, market.asks, market.bid_sizes, market.ask_sizes = [], [], {}, {}
        center = round(market.fair / tick) * tick
        half_spread = tick * rng.randint(1, 3)
        for is_bid in (True, False):
            for _ in range(rng.randint(5, 40)):
                offset = half_spread + tick * int(-_log(1.0 - rng.random()) / 0.15)
                price = center - offset if is_bid else center + offset
                if 0 < price <= MAX_TICKS:
                    market.set_level(is_bid, price, self._size())

    def _size(self) -> str:
        # lognormvariate(5.0, 1.4), written out: the same draws, one call less.
        return f"{_exp(self.rng.normalvariate(5.0, 1.4)):.2f}"

    def _pick_market(self) -> _Market:
        rng = self.rng
        if self._cumulative is None:
            return self.markets[rng.randrange(len(self.markets))]
        point = rng.random() * self._cumulative[-1]
        return self.markets[bisect.bisect_left(self._cumulative, point)]

    def _hash(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    # ---------------------------------------------------------- wire text

    def _book_json(self, market: _Market, yes: bool) -> str:
        if yes:
            asset, bids, asks = market.yes_id, market.bids, market.asks
            bid_sizes, ask_sizes = market.bid_sizes, market.ask_sizes
            bid_prices = bids  # live feed order: bids ascending, asks descending
            ask_prices = asks[::-1]
        else:  # the mirror: NO bids are YES asks at 1 - p, and vice versa
            asset = market.no_id
            bid_sizes = {TICKS_PER_UNIT - p: s for p, s in market.ask_sizes.items()}
            ask_sizes = {TICKS_PER_UNIT - p: s for p, s in market.bid_sizes.items()}
            bid_prices = [TICKS_PER_UNIT - p for p in reversed(market.asks)]
            ask_prices = [TICKS_PER_UNIT - p for p in market.bids]
        bids_text = ",".join(f'{{"price":"{ticks_to_price(p)}","size":"{bid_sizes[p]}"}}' for p in bid_prices)
        asks_text = ",".join(f'{{"price":"{ticks_to_price(p)}","size":"{ask_sizes[p]}"}}' for p in ask_prices)
        return (
            f'{{"event_type":"book","asset_id":"{asset}","market":"{market.market_id}",'
            f'"bids":[{bids_text}],"asks":[{asks_text}],'
            f'"timestamp":"{self.timestamp_ms}","hash":"{self._hash()}",'
            f'"tick_size":"{ticks_to_price(market.tick)}"}}'
        )

    def _change_json(self, market: _Market, is_bid: bool, price: int, size: str) -> str:
        # Runs once per message: best prices, canonical price strings and
        # hashes are inlined (the same values, drawn in the same order, as
        # best_bid(), ticks_to_price() and _hash() give).
        canonical, draw = _CANONICAL, self.rng.getrandbits
        bids, asks = market.bids, market.asks
        best_bid = bids[-1] if bids else EMPTY_BID_TICKS
        best_ask = asks[0] if asks else EMPTY_ASK_TICKS
        entries = (
            f'{{"asset_id":"{market.yes_id}","price":"{canonical[price]}","size":"{size}",'
            f'"side":"{"BUY" if is_bid else "SELL"}","hash":"{draw(160):040x}",'
            f'"best_bid":"{canonical[best_bid]}","best_ask":"{canonical[best_ask]}"}}'
        )
        if market.no_id is not None:
            entries += (
                f',{{"asset_id":"{market.no_id}","price":"{canonical[TICKS_PER_UNIT - price]}",'
                f'"size":"{size}","side":"{"SELL" if is_bid else "BUY"}","hash":"{draw(160):040x}",'
                f'"best_bid":"{canonical[TICKS_PER_UNIT - best_ask]}",'
                f'"best_ask":"{canonical[TICKS_PER_UNIT - best_bid]}"}}'
            )
        return (
            f'{{"event_type":"price_change","market":"{market.market_id}",'
            f'"price_changes":[{entries}],"timestamp":"{self.timestamp_ms}"}}'
        )

    # ---------------------------------------------------------- events

    def _books(self, market: _Market) -> list[str]:
        texts = [self._book_json(market, True)]
        if market.no_id is not None:
            texts.append(self._book_json(market, False))
        return texts

    def _update(self) -> list[str]:
        """One simulated event: a list of single-message lines."""
        rng = self.rng
        market = self._pick_market()
        tick = market.tick
        market.fair = min(max(market.fair + rng.gauss(0.0, 0.4 * tick), 3 * tick), TICKS_PER_UNIT - 3 * tick)
        roll = rng.random()
        if roll < 0.01:
            self._fill(market)
            return self._books(market)
        if roll < 0.02 and market.bids and market.asks:
            is_bid = rng.random() < 0.5
            price = market.best_bid() if is_bid else market.best_ask()
            return [
                f'{{"event_type":"last_trade_price","asset_id":"{market.yes_id}",'
                f'"market":"{market.market_id}","price":"{ticks_to_price(price)}",'
                f'"side":"{"BUY" if is_bid else "SELL"}","size":"{self._size()}",'
                f'"fee_rate_bps":"0","timestamp":"{self.timestamp_ms}"}}'
            ]
        new_tick = self._tick_for(market)
        if new_tick != tick:
            market.tick = new_tick
            return [
                f'{{"event_type":"tick_size_change","asset_id":"{asset}",'
                f'"market":"{market.market_id}","old_tick_size":"{ticks_to_price(tick)}",'
                f'"new_tick_size":"{ticks_to_price(new_tick)}","timestamp":"{self.timestamp_ms}"}}'
                for asset in (market.yes_id, market.no_id)
                if asset is not None
            ]
        return [self._price_change(market)]

    @staticmethod
    def _tick_for(market: _Market) -> int:
        """The tick the market should trade at now (see the module docstring)."""
        fair, base = market.fair, market.base_tick
        fine = max(1, base // 10)
        if market.tick == base:
            return fine if not _FINE_BELOW <= fair <= _FINE_ABOVE else base
        return base if _COARSE_FROM <= fair <= _COARSE_TO else fine

    def _price_change(self, market: _Market) -> str:
        rng, tick = self.rng, market.tick
        is_bid = rng.random() < 0.5
        prices = market.bids if is_bid else market.asks
        op = rng.random()
        if prices and (op < 0.12 or len(prices) > _MAX_LEVELS) and len(prices) > _MIN_LEVELS:
            # Removal: mostly the level the fair price is moving through.
            moving_away = (market.fair > (market.best_bid() + market.best_ask()) / 2) != is_bid
            depth = (
                0
                if moving_away and rng.random() < 0.6
                else min(int(-_log(1.0 - rng.random()) / 0.3), len(prices) - 1)
            )
            price = prices[-1 - depth] if is_bid else prices[depth]
            market.remove_level(is_bid, price)
            return self._change_json(market, is_bid, price, "0")
        if prices and op < 0.85:  # resize a level near the top
            depth = min(int(-_log(1.0 - rng.random()) / 0.5), len(prices) - 1)
            price = prices[-1 - depth] if is_bid else prices[depth]
        else:  # a new level around the fair price, never crossing the book
            offset = tick * (1 + int(-_log(1.0 - rng.random()) / 0.25))
            anchor = round(market.fair / tick) * tick
            if is_bid:
                price = min(anchor - offset, market.best_ask() - tick)
            else:
                price = max(anchor + offset, market.best_bid() + tick)
            price = min(max(price, tick), (MAX_TICKS // tick) * tick)
            if (is_bid and price >= market.best_ask()) or (not is_bid and price <= market.best_bid()):
                price = prices[-1] if (is_bid and prices) else (prices[0] if prices else None)
                if price is None:
                    return self._change_json_remove_free(market)
        size = self._size()
        market.set_level(is_bid, price, size)
        return self._change_json(market, is_bid, price, size)

    def _change_json_remove_free(self, market: _Market) -> str:
        # Both sides are boxed in (a one-tick spread at the edge): resize
        # the best bid instead, which always exists in that case.
        price = market.bids[-1]
        size = self._size()
        market.set_level(True, price, size)
        return self._change_json(market, True, price, size)

    # ---------------------------------------------------------- the stream

    def lines(self) -> Iterator[str]:
        """Initial snapshots in arrays, then updates, until ``messages``."""
        remaining = self.config.messages
        batch = max(1, self.config.snapshot_batch)
        snapshots = [text for market in self.markets for text in self._books(market)]
        for start in range(0, len(snapshots), batch):
            chunk = snapshots[start : start + batch]
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            if not chunk:
                return
            yield "[" + ",".join(chunk) + "]"
            self.timestamp_ms += 1
        while remaining is None or remaining > 0:
            self.timestamp_ms += 1 + int(-_log(1.0 - self.rng.random()) / 0.5)
            for text in self._update():
                if remaining is not None:
                    if remaining == 0:
                        return
                    remaining -= 1
                yield text
