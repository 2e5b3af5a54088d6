"""The one seam where objects become bytes between processes.

Every frame a process engine sends (a batch of messages, a query, a reply,
a worker's final report) goes through ``Codec.encode`` and comes back
through ``Codec.decode``; nothing else in the engines calls ``pickle``.
``--codec`` picks the class: ``pickle`` (any object, no schema) or
``msgspec`` (typed MessagePack, phase 6), without touching an engine.

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

import msgspec

from ..core.metrics import LatencyHistogram
from .base import EngineError

__all__ = ["CODECS", "Codec", "MsgspecCodec", "PickleCodec", "get_codec"]


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


class MsgspecCodec:
    """msgspec's MessagePack, typed: the encoder and the decoder are built
    once per process, and the decoder is told what it decodes
    (``decodes``: a worker's frame type, or the parent's reply type), so it
    builds the message structs directly, with no dicts in between and no
    class lookups by name. Structs are ``array_like``: a message is an
    array of its fields, without their names. A ``LatencyHistogram`` (in
    the final reports) crosses as its sparse state.

        >>> from orderbook_lab.engines._worker import Drain, Query, Stop
        >>> codec = get_codec("msgspec", list[Query | Drain | Stop])
        >>> codec.decode(codec.encode([Drain(7), Stop()]))
        [Drain(token=7), Stop()]
    """

    name = "msgspec"

    def __init__(self, decodes: Any = Any) -> None:
        self._encode = msgspec.msgpack.Encoder(enc_hook=_enc_hook).encode
        self._decode = msgspec.msgpack.Decoder(decodes, dec_hook=_dec_hook).decode

    def encode(self, obj: Any) -> bytes:
        return self._encode(obj)

    def decode(self, data: bytes) -> Any:
        return self._decode(data)


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, LatencyHistogram):
        return obj.__getstate__()
    raise NotImplementedError(f"msgspec codec: cannot encode {type(obj).__name__}")


def _dec_hook(kind: type, obj: Any) -> Any:
    if kind is LatencyHistogram:
        histogram = LatencyHistogram()
        histogram.__setstate__(obj)
        return histogram
    raise NotImplementedError(f"msgspec codec: cannot decode {kind!r}")


CODECS: dict[str, type] = {"pickle": PickleCodec, "msgspec": MsgspecCodec}
"""Codec name (``--codec``) to its class."""


def get_codec(name: str, decodes: Any = Any) -> Codec:
    """The codec called ``name``, decoding ``decodes`` (a type; only a
    typed codec uses it); an ``EngineError`` if there is no such codec."""
    try:
        factory = CODECS[name]
    except KeyError:
        raise EngineError(f"no codec {name!r} (available: {', '.join(CODECS)})") from None
    return factory(decodes) if factory is MsgspecCodec else factory()
