"""Books in shared memory: one writer per worker process, readers anywhere.

Phase 4 of the lab. Each worker owns a ``BookStore`` and publishes the
books it owns after each batch; any process opens a ``BookReader`` on the
run's prefix and reads any book lock-free, with no message to the worker.

* ``layout``: the bytes (directory, arenas, slots, payload).
* ``store``: the writer, seqlock writes and growth by moving.
* ``reader``: seqlock reads, bounded retries, staleness.
* ``segments``: names, resource-tracker ownership, ``cleanup``.
* ``stress``: a writer process and reader processes hammering one store,
  checking an invariant on every read (the test and experiment 4.2).

Typical use::

    prefix = new_prefix()                        # parent, once per run
    store = BookStore(prefix, worker=0)          # in worker 0
    store.publish_touched(router, batch)         # after each batch
    reader = BookReader(prefix, workers=2)       # in the parent
    reader.map_ahead()                           # before reads: map new segments
    snap = reader.read(asset_id, depth=10)       # snap.view(), snap.age_ns
    ...
    reader.close(); store.close()                # readers first
    cleanup(prefix)                              # parent, after joining workers
"""

from .reader import BookReader, ReadBusy, ReaderStats, ShmSnapshot
from .segments import cleanup, list_segments, new_prefix
from .store import BookStore, StoreStats, touched_assets

__all__ = [
    "BookReader",
    "BookStore",
    "ReadBusy",
    "ReaderStats",
    "ShmSnapshot",
    "StoreStats",
    "cleanup",
    "list_segments",
    "new_prefix",
    "touched_assets",
]
