"""``orderbook-lab serve`` end to end: a real process, its endpoints, its stop."""

import json
import subprocess

import pytest
from serve_process import ServeProcess, cli_command

from orderbook_lab.core.messages import BookMessage
from orderbook_lab.core.parser import parse_line
from orderbook_lab.engines import RunConfig

pytestmark = pytest.mark.timeout(180)


def ready(serve: ServeProcess):
    code, body = serve.get_json("/health/ready")
    return body if code == 200 else None


def test_endpoints_of_a_running_service_and_a_clean_stop_on_sigterm(tmp_path):
    log_file = tmp_path / "serve.jsonl"
    args = [
        "--assets",
        "4",
        "--rate",
        "400",
        "--processes",
        "2",
        "--log-file",
        str(log_file),
        "--log-sample",
        "1",
    ]
    with ServeProcess(args) as serve:
        serve.wait_serving()
        assert serve.get_json("/health/live") == (200, {"live": True})
        serve.until(lambda: ready(serve))
        status = serve.until(lambda: _processed(serve))
        assert status["ready"] is True and len(status["workers"]) == 2
        assert all(w["alive"] and w["breaker"] == "closed" for w in status["workers"])

        code, headers, metrics = serve.get("/metrics")
        assert code == 200 and headers["Content-Type"].startswith("text/plain")
        assert b'orderbook_lab_messages_total{outcome="processed"}' in metrics
        assert b'orderbook_lab_queue_depth{worker="1"}' in metrics

        asset = first_asset(assets=4, seed=1)
        code, book = serve.until(
            lambda: (answer := serve.get_json(f"/books/{asset}?depth=3"))[0] == 200 and answer
        )
        assert code == 200, book
        assert book["asset_id"] == asset and len(book["bids"]) <= 3
        assert all(
            isinstance(price, str) and price.startswith("0.") for price, _size in book["bids"] + book["asks"]
        )

        assert serve.get_json("/books/no-such-asset")[0] == 404
        assert serve.get_json(f"/books/{asset}?depth=-1")[0] == 400
        assert serve.get("/nothing-here")[0] == 404
        assert serve.get("/health/live", method="POST")[0] == 405

        assert serve.terminate() == 0
        out = "".join(serve.stdout)
        assert "messages processed" in out and "books digest" in out
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] in ("readiness", "service_started") and "service_started" in names
    assert names[-1] == "service_stopped"
    started = next(e for e in events if e["event"] == "service_started")
    assert (started["phase"], started["workers"]) == (8, 2)
    request = next(e for e in events if e["event"] == "book_request" and e["status"] == 200)
    assert request["asset"] == asset and request["corr_id"] == book["corr_id"]


def _processed(serve: ServeProcess):
    document = serve.get_json("/health/status")[1]
    return document if document["engine"]["counts"]["processed"] > 0 else None


def first_asset(assets: int, seed: int) -> str:
    """The asset of the stream's first snapshot: the same seed gives the
    same stream, so this is a book the service has (or soon will)."""
    source = RunConfig(messages=50, assets=assets, seed=seed).synthetic_source()
    for line_no, text in enumerate(source.wire_lines(), 1):
        for message in parse_line(text, line_no):
            if isinstance(message, BookMessage):
                return message.asset_id
    raise AssertionError("no snapshot in the first 50 messages")


def test_readiness_drops_to_503_when_a_worker_breaker_opens():
    args = ["--assets", "4", "--rate", "500", "--processes", "2", "--fault-rate", "1", "--fault-worker", "0"]
    with ServeProcess(args) as serve:
        serve.wait_serving()

        def degraded():
            code, body = serve.get_json("/health/ready")
            return body if code == 503 and "worker 0's breaker is open" in body["reasons"] else None

        body = serve.until(degraded)
        assert body["ready"] is False
        metrics = serve.get("/metrics")[2]
        assert b'orderbook_lab_breaker_open{worker="0"} 1.0' in metrics
        assert serve.terminate() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "1"], "serve needs an engine with worker"),
        (["--engine", "asyncio"], "serve needs an engine with worker"),
        (["--phase", "9"], "less than or equal to 8"),
        (["--speed", "2"], "--speed paces a replay"),
    ],
)
def test_engines_without_workers_and_bad_options_are_refused_in_one_line(args, message):
    done = subprocess.run([*cli_command(), "serve", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
