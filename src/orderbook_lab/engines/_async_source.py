"""The network side of the async engines: a ``MessageSource`` read as an
async generator of frames, with optional jitter and bursts.

The core source paces its lines by sleeping on a clock, and a sleep would
freeze the whole event loop. So the core source is iterated with a clock
that never sleeps (``_NoWaitClock``): it yields each frame stamped with its
scheduled time at once, and this adapter awaits that time with
``asyncio.sleep``, letting every other task run meanwhile. The lines, their
order, their ``produced_ns`` stamps and the schedule lag the source records
are exactly those of blocking iteration, so phase 2 reads the same stream
as phase 1.

Two network effects can be laid on a paced stream (``rate`` or ``speed``
> 0). Flat out every frame is already overdue, so they do not apply there.

* ``jitter_ms``: each frame arrives up to that much later than it was sent
  (uniform, seeded), never before the frame sent ahead of it: one TCP
  stream keeps order, so a late frame holds up the ones behind it. The
  stamp stays the send time, so the delay shows in latency.
* ``burst``: the feed sends ``burst`` frames at once, then stays quiet for
  as long as they would have taken. The mean rate is unchanged; the frames
  of a burst all carry the burst's send time.

Flat out, the adapter still awaits once per frame (``asyncio.sleep(0)``),
as a real socket read would: without that await the reader would never
let the consumers run between frames.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import msgspec

from ..core.clock import Clock
from ..core.source import Frame, MessageSource

__all__ = ["network_frames"]


class _NoWaitClock:
    """Reads the time of ``clock``; ``sleep_until_ns`` returns at once."""

    __slots__ = ("now_ns",)

    def __init__(self, clock: Clock) -> None:
        self.now_ns = clock.now_ns

    def sleep_until_ns(self, deadline_ns: int) -> None:
        return None


async def network_frames(
    source: MessageSource,
    *,
    clock: Clock,
    jitter_ms: float = 0.0,
    burst: int = 1,
    seed: int = 0,
) -> AsyncIterator[Frame]:
    """Frames of ``source`` as they arrive over the simulated network
    (see the module docstring). Waiting costs no CPU: other tasks run."""
    if burst < 1:
        raise ValueError(f"burst must be at least 1, not {burst}")
    frames = source.frames(_NoWaitClock(clock))
    if not source.paced:
        for frame in frames:
            yield frame
            await asyncio.sleep(0)
        return
    now = clock.now_ns
    rng = random.Random(seed ^ 0x0E7)
    jitter_ns = jitter_ms * 1e6
    arrived_ns = 0  # when the previous frame arrived: order is kept
    while True:
        group = [frame for _, frame in zip(range(burst), frames, strict=False)]
        if not group:
            return
        sent_ns = group[0].produced_ns
        for frame in group:
            arrival = sent_ns + int(rng.random() * jitter_ns) if jitter_ns else sent_ns
            arrived_ns = max(arrived_ns, arrival)
            delay_s = (arrived_ns - now()) / 1e9
            await asyncio.sleep(delay_s if delay_s > 0 else 0)
            yield (
                frame if frame.produced_ns == sent_ns else msgspec.structs.replace(frame, produced_ns=sent_ns)
            )
