"""The codec seam: everything a process engine sends goes through it."""

import pytest

from orderbook_lab.core.messages import PriceChange, PriceChangeMessage
from orderbook_lab.engines import EngineError
from orderbook_lab.engines._codec import CODECS, get_codec
from orderbook_lab.engines._worker import Query, Stop


def test_pickle_round_trips_a_frame():
    codec = get_codec("pickle")
    message = PriceChangeMessage("m", 1, (PriceChange("a", "BUY", 480, 1.5, 480, 520),))
    frame = ([(123, True, message)], [Query(1, "a", 10, 5), Stop()])
    data = codec.encode(frame)
    assert isinstance(data, bytes)
    assert codec.decode(data) == frame


def test_a_codec_not_built_yet_is_a_clear_error():
    assert set(CODECS) == {"pickle"}
    with pytest.raises(EngineError, match="msgspec arrives with phase 6"):
        get_codec("msgspec")
