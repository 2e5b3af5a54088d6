"""Events from snapshots: what changed between two ``LiveStatus`` readings.

The engines do not log (a log call per message in the dispatcher would
cost more than the book update), so the service learns about breakers and
capacity decisions the way a dashboard does: it reads the status once a
second and compares it with the previous reading. ``changes`` is that
comparison, a pure function; ``StatusWatcher`` is the thread that calls
it and logs what it finds.

The price of polling: two transitions within one second look like one
(a breaker that opened and closed again between readings is not seen),
and an event's time is the reading's, up to a second late. An engine
event hook would remove both; the engine side has none yet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..engines._stats import LiveStatus
from .health import readiness

__all__ = ["POLL_EVERY_S", "StatusWatcher", "changes"]

POLL_EVERY_S = 1.0
"""As often as the workers report: reading faster would see nothing new."""


def changes(before: LiveStatus | None, after: LiveStatus, started: bool) -> list[dict[str, Any]]:
    """The events that turn ``before`` into ``after``, each a dict with an
    ``event`` name and the fields to log (``worker`` where it is about one).
    ``before`` is ``None`` for the first reading. O(workers)."""
    found: list[dict[str, Any]] = []
    was = None if before is None else readiness(before, started)
    now = readiness(after, started)
    if was is None or was.ready != now.ready:
        found.append({"event": "readiness", "ready": now.ready, "reasons": list(now.reasons)})
    previous = {} if before is None else {w.worker: w for w in before.workers}
    for worker in after.workers:
        old = previous.get(worker.worker)
        if old is None:
            continue
        if old.breaker != worker.breaker:
            found.append(
                {"event": "breaker", "worker": worker.worker, "from_state": old.breaker, "to": worker.breaker}
            )
        if old.capacity != worker.capacity:
            found.append(
                {
                    "event": "capacity",
                    "worker": worker.worker,
                    "from_msgs": old.capacity,
                    "to_msgs": worker.capacity,
                    "wait_ms": round(worker.wait_ms, 3),
                }
            )
        if old.alive != worker.alive:
            found.append({"event": "worker_alive", "worker": worker.worker, "alive": worker.alive})
    return found


class StatusWatcher:
    """A daemon thread that reads ``status()`` every ``POLL_EVERY_S`` and
    logs each change (``changes``) through ``log``; ``started()`` says
    whether the engine's workers are up. ``stop()`` ends and joins it,
    after one last reading (so the run's end is logged)."""

    def __init__(
        self,
        status: Callable[[], LiveStatus],
        started: Callable[[], bool],
        log: Any,
        every_s: float = POLL_EVERY_S,
    ) -> None:
        self._status = status
        self._started = started
        self._log = log
        self._every_s = every_s
        self._stopping = threading.Event()
        self._previous: LiveStatus | None = None
        self._thread = threading.Thread(target=self._loop, name="status-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poll(self) -> list[dict[str, Any]]:
        """Read once, log and return the changes since the last reading."""
        status = self._status()
        found = changes(self._previous, status, self._started())
        self._previous = status
        for change in found:
            fields = dict(change)
            event = fields.pop("event")
            log = self._log.bind(worker=fields.pop("worker")) if "worker" in fields else self._log
            bad_news = fields.get("ready") is False or fields.get("to") == "open"
            (log.warning if bad_news else log.info)(event, **fields)
        return found

    def _loop(self) -> None:
        # The wait is the polling period, not synchronisation: stop() wakes it.
        while not self._stopping.wait(self._every_s):
            try:
                self.poll()
            except Exception as error:  # a failed reading must not end the watching
                self._log.error("status_read_failed", error=repr(error))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join()
            self.poll()
