"""Which assets to record: the most active markets, from the Gamma API.

Polymarket's Gamma API lists markets with their metadata. One request asks
for the open ones, most traded first::

    GET {gamma}/markets?active=true&closed=false&order=volume24hr&ascending=false&limit=N

Each market names its two outcome tokens (the assets of the market
channel) in ``clobTokenIds``, which is a JSON array *encoded as a string*
inside the JSON: ``"clobTokenIds": "[\\"123\\", \\"456\\"]"``. It takes a
second decode. Markets without tokens (not traded on the order book) are
skipped.

The request uses the standard library's ``urllib``, which blocks: the
recorder runs it in a thread (``asyncio.to_thread``), so the event loop
is free meanwhile. Every failure (unreachable, an HTTP error, an answer
that is not the expected JSON) is a ``GammaError`` with a one-line reason.

    >>> [m.token_ids for m in parse_markets(b'[{"question": "Q?", "clobTokenIds": "[\\\\"1\\\\", \\\\"2\\\\"]"}]')]
    [('1', '2')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

__all__ = ["GammaError", "Market", "markets_url", "parse_markets", "top_markets"]

_TIMEOUT_S = 15.0
_MAX_BODY_BYTES = 64 * 1024 * 1024


class GammaError(Exception):
    """The market list could not be had; the message is one line for people."""


@dataclass(frozen=True)
class Market:
    """One market of the answer: its question and its outcome tokens."""

    question: str
    token_ids: tuple[str, ...]


def markets_url(gamma_url: str, top: int) -> str:
    """The query for the ``top`` open markets by 24-hour volume.

    >>> markets_url("http://127.0.0.1:8000/", 3)
    'http://127.0.0.1:8000/markets?active=true&closed=false&order=volume24hr&ascending=false&limit=3'
    """
    query = urlencode(
        {"active": "true", "closed": "false", "order": "volume24hr", "ascending": "false", "limit": top}
    )
    return f"{gamma_url.rstrip('/')}/markets?{query}"


def parse_markets(body: bytes) -> list[Market]:
    """The markets of a Gamma answer that have order-book tokens, in order."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GammaError("the market list is not JSON") from None
    if isinstance(answer, dict) and isinstance(answer.get("data"), list):  # the paginated shape
        answer = answer["data"]
    if not isinstance(answer, list):
        raise GammaError(f"expected a JSON list of markets, got {type(answer).__name__}")
    markets = []
    for item in answer:
        if not isinstance(item, dict):
            continue
        tokens = item.get("clobTokenIds")
        if isinstance(tokens, str):  # a JSON array encoded as a string: decode it once more
            try:
                tokens = json.loads(tokens)
            except ValueError:
                continue
        if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
            continue  # not on the order book, or malformed: nothing to subscribe to
        question = item.get("question")
        markets.append(Market(question if isinstance(question, str) else "", tuple(tokens)))
    return markets


def top_markets(gamma_url: str, top: int, *, timeout_s: float = _TIMEOUT_S) -> list[Market]:
    """The ``top`` most active open markets that have tokens (blocking:
    call it in a thread from async code). Raises ``GammaError``."""
    url = markets_url(gamma_url, top)
    request = Request(url, headers={"Accept": "application/json", "User-Agent": "orderbook-lab"})
    try:
        with urlopen(request, timeout=timeout_s) as response:
            body = response.read(_MAX_BODY_BYTES)
    except HTTPError as error:
        error.close()  # it holds the response, and with it the socket
        raise GammaError(f"{gamma_url} answered HTTP {error.code} {error.reason}") from None
    except URLError as error:
        raise GammaError(f"cannot reach {gamma_url}: {error.reason}") from None
    except (OSError, ValueError) as error:  # a timeout, a reset, a malformed URL
        raise GammaError(f"cannot reach {gamma_url}: {error}") from None
    markets = parse_markets(body)[:top]
    if not markets:
        raise GammaError(f"{gamma_url} listed no open market with order-book tokens")
    return markets
