"""The Gamma lookup for --top, against a local HTTP server on 127.0.0.1."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_market import FakeGamma, free_port, gamma_markets

from orderbook_lab.live.gamma import GammaError, parse_markets, top_markets


def test_top_markets_asks_for_the_most_active_open_markets():
    with FakeGamma(gamma_markets(("1", "2"), ("3", "4"), ("5", "6"))) as gamma:
        markets = top_markets(gamma.url, 2)
    assert [m.token_ids for m in markets] == [("1", "2"), ("3", "4")]
    assert [m.question for m in markets] == ["Market 0?", "Market 1?"]
    [path] = gamma.paths
    parts = urlsplit(path)
    assert parts.path == "/markets"
    assert parse_qs(parts.query) == {
        "active": ["true"],
        "closed": ["false"],
        "order": ["volume24hr"],
        "ascending": ["false"],
        "limit": ["2"],
    }


def test_clob_token_ids_are_a_json_string_inside_the_json():
    body = json.dumps(
        [
            {"question": "string, as the API sends it", "clobTokenIds": '["11", "12"]'},
            {"question": "no order book", "clobTokenIds": None},
            {"question": "no field at all"},
            {"question": "malformed string", "clobTokenIds": '["13", '},
            {"question": "not strings", "clobTokenIds": "[13, 14]"},
            {"question": "a real list also works", "clobTokenIds": ["15", "16"]},
            "not a market",
        ]
    ).encode()
    assert [(m.question, m.token_ids) for m in parse_markets(body)] == [
        ("string, as the API sends it", ("11", "12")),
        ("a real list also works", ("15", "16")),
    ]


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        (b"<html>not json</html>", 200, "not JSON"),
        (b'{"error": "nope"}', 200, "expected a JSON list"),
        (b"[]", 200, "no open market"),
        (json.dumps([{"clobTokenIds": None}]).encode(), 200, "no open market"),
        (b"oops", 503, "HTTP 503"),
    ],
)
def test_every_failure_is_a_one_line_gamma_error(body, status, phrase):
    with FakeGamma(body, status) as gamma, pytest.raises(GammaError, match=phrase) as caught:
        top_markets(gamma.url, 5)
    assert "\n" not in str(caught.value)


def test_an_unreachable_gamma_is_a_gamma_error():
    with pytest.raises(GammaError, match="cannot reach"):
        top_markets(f"http://127.0.0.1:{free_port()}", 5, timeout_s=5)
