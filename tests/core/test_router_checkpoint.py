"""A router restored from its checkpoint is the router it was taken of:
the same books and counters now, and after the same messages later, also
when the checkpoint crossed a pipe as MessagePack or pickle."""

from __future__ import annotations

import pickle

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook_lab.core.parser import Rejection, parse_line
from orderbook_lab.core.router import MessageRouter, RouterCheckpoint
from orderbook_lab.core.source import MessageSource, SourceConfig


def _messages(count: int, seed: int) -> list:
    source = MessageSource.synthetic(SourceConfig(messages=count, assets=6, seed=seed))
    return [m for frame in source for m in parse_line(frame.text) if type(m) is not Rejection]


_msgpack = msgspec.msgpack.Decoder(RouterCheckpoint)


@pytest.mark.parametrize(
    "cross",
    [
        lambda cp: cp,
        lambda cp: _msgpack.decode(msgspec.msgpack.encode(cp)),
        lambda cp: pickle.loads(pickle.dumps(cp)),
    ],
    ids=["in process", "msgpack", "pickle"],
)
@settings(max_examples=15, deadline=None)
@given(cut=st.integers(min_value=0, max_value=1500), seed=st.integers(min_value=0, max_value=50))
def test_restored_router_follows_the_original_message_for_message(cross, cut, seed):
    messages = _messages(1500, seed)
    original = MessageRouter()
    for message in messages[:cut]:
        original.apply(message)
    twin = MessageRouter.restored(cross(original.checkpoint()))
    assert twin.export() == original.export() and twin.stats() == original.stats()
    for message in messages[cut:]:
        original.apply(message)
        twin.apply(message)
    assert twin.export() == original.export()
    assert twin.stats() == original.stats()
    assert twin.assets() == original.assets()
