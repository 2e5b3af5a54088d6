"""The one seam where objects become bytes between processes.

Every frame a process engine sends (a batch of messages, a query, a reply,
a worker's final report) goes through ``Codec.encode`` and comes back
through ``Codec.decode``; nothing else in the engines calls ``pickle``.
That is what lets phase 6 swap in msgspec by adding one class here and one
entry in ``CODECS``, without touching an engine.

Costs (experiment 3.3 measures them): inside a frame of 64, a
``price_change`` message pickles to about 300 bytes and costs about 2 µs
to encode and decode; alone it costs twice that. A frame also pays the
pipe's fixed cost (tens of µs for a write and the wake-up at the other end,
experiment 3.2) once for all its messages.

    >>> codec = get_codec("pickle")
    >>> codec.decode(codec.encode(([1, 2], "x")))
    ([1, 2], 'x')
"""

from __future__ import annotations

import pickle
from typing import Any, Protocol

from .base import EngineError

__all__ = ["CODECS", "Codec", "PickleCodec", "get_codec"]


class Codec(Protocol):
    """Turns frames into bytes and back. Both directions must be pure:
    a worker process builds its own codec from the name."""

    name: str

    def encode(self, obj: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class PickleCodec:
    """The standard library's pickle at its highest protocol (5): any
    picklable object, no schema. O(size of the object graph)."""

    name = "pickle"

    @staticmethod
    def encode(obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def decode(data: bytes) -> Any:
        return pickle.loads(data)


CODECS: dict[str, type] = {"pickle": PickleCodec}
"""Codec name (``--codec``) to its class. Phase 6 adds ``msgspec``."""


def get_codec(name: str) -> Codec:
    """The codec called ``name``; an ``EngineError`` if it is not built yet."""
    try:
        return CODECS[name]()
    except KeyError:
        raise EngineError(
            f"codec {name!r} is not available to process engines yet (available: {', '.join(CODECS)}); "
            "msgspec arrives with phase 6"
        ) from None
