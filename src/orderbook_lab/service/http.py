"""The service's HTTP side: metrics, health and books, beside the run.

The engine's main loop owns the main thread; HTTP gets a
``ThreadingHTTPServer`` in a daemon thread, one short-lived thread per
connection. That is the simplest server that never makes the engine wait:
every endpoint reads ``engine.live_status()`` (a copy taken under the
engine's lock, microseconds) or asks a book through ``engine.ask``, which
queues the query for the main loop and waits on a condition, not on the
loop. asyncio would buy nothing here (a handful of requests a second, no
long-lived connections) and would need the engine's calls, which block,
moved to threads anyway.

``Endpoints`` decides every answer from a method and a path, with no
socket, so each status code is tested directly; ``HttpService`` binds it
to a port. Answers are JSON (``/metrics`` is Prometheus's text format),
and anything unexpected is a JSON 500 whose body names no code: the
traceback goes to the log, never to the client.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from ..core.book import BookView
from ..core.complements import MarketView
from ..core.prices import ticks_to_price
from ..engines import EngineError
from ..engines._pool import QueryTimeout
from ..engines._stats import LiveStatus
from .health import readiness, status_document

__all__ = ["MAX_DEPTH", "Endpoints", "HttpService", "Response", "book_document"]

MAX_DEPTH = 1000
"""Most levels per side a ``/books`` request may ask for."""
_DEFAULT_DEPTH = 10
_JSON = "application/json"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, document: Any, **headers: str) -> Response:
    return Response(status, (json.dumps(document) + "\n").encode(), headers=headers)


def _error(status: HTTPStatus, message: str, **headers: str) -> Response:
    return _json(status, {"error": message, "status": int(status)}, **headers)


def _signed_price(ticks: int) -> str:
    # A crossed book has a negative spread; the canonical table is for 0..1.
    return ("-" if ticks < 0 else "") + ticks_to_price(abs(ticks))


def book_document(view: BookView | MarketView) -> dict[str, Any]:
    """A book's top and depth as JSON: prices as canonical decimal strings
    ("0.48", as ``--books-out`` writes them), sizes as numbers. The actor
    engines (phases 5-7) answer with a ``MarketView``: the book plus what
    its complement token implies, added under ``"complement"``."""

    def level(pair) -> list:
        return [ticks_to_price(pair[0]), pair[1]]

    market = view if isinstance(view, MarketView) else None
    book = view.book if market is not None else view
    document: dict[str, Any] = {
        "asset_id": book.asset_id,
        "best_bid": None if book.best_bid is None else level(book.best_bid),
        "best_ask": None if book.best_ask is None else level(book.best_ask),
        "spread": None if book.spread is None else _signed_price(book.spread),
        "mid": book.mid,
        "bids": [level(pair) for pair in book.bids],
        "asks": [level(pair) for pair in book.asks],
        "has_snapshot": book.has_snapshot,
    }
    if market is not None:
        document["complement"] = {
            "asset_id": market.complement,
            "implied_bid": None if market.implied_bid is None else ticks_to_price(market.implied_bid),
            "implied_ask": None if market.implied_ask is None else ticks_to_price(market.implied_ask),
            "version": market.version,
            "implied_version": market.implied_version,
            "crossing": market.crossing is not None,
        }
    return document


class Endpoints:
    """Every answer the service gives (see the module docstring).

    ``status`` and ``ask`` are the engine's ``live_status`` and ``ask``;
    ``started`` says whether its workers are up; ``registry`` holds the
    metrics; ``log`` is a bound structlog logger; ``ask_timeout_s`` is how
    long a book request waits for its worker.
    """

    def __init__(
        self,
        *,
        status: Callable[[], LiveStatus],
        ask: Callable[..., BookView | MarketView | None],
        started: Callable[[], bool],
        registry: CollectorRegistry,
        log: Any,
        ask_timeout_s: float = 1.0,
    ) -> None:
        self._status = status
        self._ask = ask
        self._started = started
        self._registry = registry
        self._log = log
        self._ask_timeout_s = ask_timeout_s
        self._ids = itertools.count(1)
        self._routes: dict[str, Callable[[], Response]] = {
            "/metrics": self._metrics,
            "/health/live": self._live,
            "/health/ready": self._ready,
            "/health/status": self._health_status,
        }

    def respond(self, method: str, target: str) -> Response:
        """The answer to ``method target`` (target: path and query)."""
        try:
            parts = urlsplit(target)
            known = parts.path in self._routes or parts.path.startswith("/books/")
            if not known:
                return _error(HTTPStatus.NOT_FOUND, f"no such endpoint: {parts.path}")
            if method != "GET":
                return _error(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not allowed; use GET", Allow="GET")
            if parts.path.startswith("/books/"):
                return self._book(parts.path[len("/books/") :], parts.query)
            return self._routes[parts.path]()
        except Exception:
            self._log.exception("request_failed", method=method, target=target[:200])
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (logged)")

    def _metrics(self) -> Response:
        return Response(HTTPStatus.OK, generate_latest(self._registry), content_type=CONTENT_TYPE_LATEST)

    def _live(self) -> Response:
        return _json(HTTPStatus.OK, {"live": True})

    def _ready(self) -> Response:
        verdict = readiness(self._status(), self._started())
        return _json(HTTPStatus.OK if verdict.ready else HTTPStatus.SERVICE_UNAVAILABLE, verdict.as_dict())

    def _health_status(self) -> Response:
        return _json(HTTPStatus.OK, status_document(self._status(), self._started()))

    def _book(self, raw_asset: str, query: str) -> Response:
        corr_id = f"{next(self._ids):x}"
        asset_id = unquote(raw_asset)
        log = self._log.bind(component="http", asset=asset_id, corr_id=corr_id)
        began = time.perf_counter()
        response = self._book_response(asset_id, query, corr_id)
        log.info(
            "book_request",
            status=response.status,
            duration_ms=round((time.perf_counter() - began) * 1e3, 3),
            sampled=True,
        )
        return response

    def _book_response(self, asset_id: str, query: str, corr_id: str) -> Response:
        headers = {"X-Correlation-Id": corr_id}
        if not asset_id or "/" in asset_id:
            return _error(HTTPStatus.NOT_FOUND, "name one asset: /books/{asset_id}", **headers)
        values = parse_qs(query, keep_blank_values=True).get("depth", [str(_DEFAULT_DEPTH)])
        try:
            depth = int(values[-1])
        except ValueError:
            depth = 0
        if not 1 <= depth <= MAX_DEPTH:
            return _error(
                HTTPStatus.BAD_REQUEST,
                f"depth must be a whole number from 1 to {MAX_DEPTH}, got {values[-1]!r}",
                **headers,
            )
        if not self._status().running:
            return _error(
                HTTPStatus.SERVICE_UNAVAILABLE, "the run is not under way: no books to ask", **headers
            )
        try:
            view = self._ask(asset_id, depth, timeout_s=self._ask_timeout_s)
        except QueryTimeout:
            return _error(
                HTTPStatus.GATEWAY_TIMEOUT,
                f"the worker of {asset_id} did not answer within {self._ask_timeout_s:g} s",
                **headers,
            )
        except (EngineError, RuntimeError):  # the run ended or failed while we asked
            return _error(
                HTTPStatus.SERVICE_UNAVAILABLE, "the run is not under way: no books to ask", **headers
            )
        if view is None:
            return _error(HTTPStatus.NOT_FOUND, f"no book for asset {asset_id}", **headers)
        return _json(HTTPStatus.OK, {**book_document(view), "corr_id": corr_id}, **headers)


class _Handler(BaseHTTPRequestHandler):
    """Turns each request into ``Endpoints.respond`` and writes the answer."""

    server: _Server
    protocol_version = "HTTP/1.1"
    error_content_type = _JSON

    def _answer(self) -> None:
        response = self.server.endpoints.respond(self.command, self.path)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The server's own errors (a malformed request line, an unknown
        method) in JSON like every other answer; an unknown method is a 405."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code = HTTPStatus.METHOD_NOT_ALLOWED
            message = f"{self.command} is not allowed; use GET"
        status = HTTPStatus(code)
        body = (json.dumps({"error": message or status.phrase, "status": int(status)}) + "\n").encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD" and code >= 200:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log.debug("http_request", client=self.client_address[0], line=format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung client must not keep the process alive at exit
    endpoints: Endpoints
    log: Any


class HttpService:
    """``Endpoints`` served on ``host:port`` (0: a free port, read back from
    ``port``) from a daemon thread. The socket is bound in the constructor,
    so a port in use is an ``OSError`` before anything else starts;
    ``close()`` stops serving and joins the thread (idempotent)."""

    def __init__(self, endpoints: Endpoints, host: str, port: int, log: Any) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.endpoints = endpoints
        self._server.log = log
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
        )
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
