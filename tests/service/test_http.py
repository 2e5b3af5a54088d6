"""Every answer of the endpoints, without an engine: status and asks are stand-ins."""

import io
import json
import socket

import pytest
from status_factory import status, worker

from orderbook_lab.core.book import BookView
from orderbook_lab.core.messages import PriceLevel
from orderbook_lab.engines._pool import QueryTimeout
from orderbook_lab.service.http import Endpoints, HttpService
from orderbook_lab.service.logs import open_log
from orderbook_lab.service.metrics import metrics_registry

VIEW = BookView(
    "A1",
    PriceLevel(4800, 30.0),
    PriceLevel(5200, 25.0),
    400,
    0.5,
    [PriceLevel(4800, 30.0), PriceLevel(4750, 5.0)],
    [PriceLevel(5200, 25.0)],
    True,
)


class Engine:
    """What the endpoints use of an engine: a status and ``ask``."""

    def __init__(self, live=None, answer=VIEW):
        self.live = live or status()
        self.answer = answer
        self.asked = []

    def live_status(self):
        return self.live

    def ask(self, asset_id, depth, timeout_s=None):
        self.asked.append((asset_id, depth))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer if asset_id == "A1" else None


@pytest.fixture
def log_text():
    stream = io.StringIO()
    sink = open_log(None, level="debug", stream=stream)
    yield sink, stream
    sink.close()


def endpoints(engine, sink, started=True) -> Endpoints:
    return Endpoints(
        status=engine.live_status,
        ask=engine.ask,
        started=lambda: started,
        registry=metrics_registry(engine.live_status),
        log=sink.logger(component="http"),
        ask_timeout_s=0.5,
    )


def body(response) -> dict:
    return json.loads(response.body)


def test_a_book_comes_back_with_canonical_prices_and_a_correlation_id(log_text):
    sink, stream = log_text
    engine = Engine()
    response = endpoints(engine, sink).respond("GET", "/books/A1?depth=2")
    assert response.status == 200
    document = body(response)
    assert document["bids"] == [["0.48", 30.0], ["0.475", 5.0]]
    assert document["asks"] == [["0.52", 25.0]]
    assert (document["best_bid"], document["spread"], document["mid"]) == (["0.48", 30.0], "0.04", 0.5)
    assert response.headers["X-Correlation-Id"] == document["corr_id"]
    assert engine.asked == [("A1", 2)]
    sink.close()
    (logged,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (logged["event"], logged["asset"], logged["corr_id"], logged["status"]) == (
        "book_request",
        "A1",
        document["corr_id"],
        200,
    )


def test_an_actor_engines_answer_carries_its_complement():
    from orderbook_lab.core.complements import MarketView
    from orderbook_lab.service.http import book_document

    document = book_document(MarketView(VIEW, 12, "A2", 4700, None, 11, None))
    assert document["bids"][0] == ["0.48", 30.0]
    assert document["complement"] == {
        "asset_id": "A2",
        "implied_bid": "0.47",
        "implied_ask": None,
        "version": 12,
        "implied_version": 11,
        "crossing": False,
    }


def test_a_crossed_book_has_a_negative_spread():
    from orderbook_lab.service.http import book_document

    assert book_document(VIEW._replace(spread=-100))["spread"] == "-0.01"


@pytest.mark.parametrize(
    ("target", "answer", "live", "code"),
    [
        ("/books/NOPE", VIEW, None, 404),
        ("/books/", VIEW, None, 404),
        ("/books/A1?depth=0", VIEW, None, 400),
        ("/books/A1?depth=ten", VIEW, None, 400),
        ("/books/A1?depth=1001", VIEW, None, 400),
        ("/books/A1", QueryTimeout("slow"), None, 504),
        ("/books/A1", VIEW, status(running=False), 503),
        ("/nowhere", VIEW, None, 404),
    ],
)
def test_bad_requests_get_a_clear_json_error(log_text, target, answer, live, code):
    response = endpoints(Engine(live, answer), log_text[0]).respond("GET", target)
    assert response.status == code
    assert body(response)["status"] == code
    assert body(response)["error"]


def test_methods_other_than_get_are_405_with_allow():
    sink = open_log(None, stream=io.StringIO())
    try:
        response = endpoints(Engine(), sink).respond("POST", "/health/live")
    finally:
        sink.close()
    assert response.status == 405
    assert response.headers["Allow"] == "GET"


def test_readiness_is_503_with_reasons_while_degraded(log_text):
    sink, _ = log_text
    assert endpoints(Engine(), sink, started=False).respond("GET", "/health/ready").status == 503
    degraded = Engine(status(worker(0, breaker="open"), worker(1)))
    response = endpoints(degraded, sink).respond("GET", "/health/ready")
    assert response.status == 503
    assert body(response)["reasons"] == ["worker 0's breaker is open"]
    assert endpoints(Engine(), sink).respond("GET", "/health/ready").status == 200
    assert endpoints(Engine(), sink, started=False).respond("GET", "/health/live").status == 200


def test_an_unexpected_failure_is_a_500_without_a_traceback(log_text):
    sink, stream = log_text
    engine = Engine(answer=ZeroDivisionError("secret detail"))
    response = endpoints(engine, sink).respond("GET", "/books/A1")
    assert response.status == 500
    assert b"Traceback" not in response.body and b"secret" not in response.body
    sink.close()
    assert "ZeroDivisionError" in stream.getvalue()  # the log has it


def test_metrics_are_prometheus_text(log_text):
    response = endpoints(Engine(), log_text[0]).respond("GET", "/metrics")
    assert response.status == 200
    assert response.content_type.startswith("text/plain")
    assert b'orderbook_lab_messages_total{outcome="processed"} 200.0' in response.body


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def test_the_server_answers_its_own_errors_in_json_too(log_text):
    service = HttpService(endpoints(Engine(), log_text[0]), "127.0.0.1", 0, log_text[0].logger())
    service.start()
    try:
        code, rest = raw(service.port, b"FROB /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert code == 405
        assert json.loads(rest)["status"] == 405
        code, rest = raw(service.port, b"GET /a b HTTP/1.1\r\n\r\n")  # a space in the path
        assert code == 400
        assert json.loads(rest)["status"] == 400
        code, rest = raw(service.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (code, json.loads(rest)) == (200, {"live": True})
    finally:
        service.close()
        service.close()
