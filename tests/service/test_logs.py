"""JSON-line logs: bound context, sampling, and a writer that never blocks the caller."""

import io
import json
import logging
import threading
from logging.handlers import QueueHandler

import pytest

from orderbook_lab.service.logs import LogSink, open_log


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_each_event_is_one_json_line_with_its_bound_context(tmp_path):
    path = tmp_path / "logs" / "serve.jsonl"
    sink = open_log(path)
    log = sink.logger(component="http").bind(worker=1, asset="A1", corr_id="7f")
    log.info("book_request", status=200)
    log.debug("too_detailed")  # below the level
    sink.close()
    (event,) = lines_of(path.read_text())
    assert event["event"] == "book_request"
    assert (event["component"], event["worker"], event["asset"], event["corr_id"]) == ("http", 1, "A1", "7f")
    assert event["level"] == "info"
    assert event["status"] == 200
    assert event["timestamp"].endswith("Z")


def test_sampling_keeps_that_share_of_per_message_events_and_every_other_event():
    stream = io.StringIO()
    sink = open_log(None, sample=0.25, stream=stream)
    log = sink.logger(component="http")
    for n in range(100):
        log.info("book_request", n=n, sampled=True)
    log.info("service_started")
    sink.close()
    events = lines_of(stream.getvalue())
    kept = [e for e in events if e["event"] == "book_request"]
    assert [e["n"] for e in kept] == list(range(3, 100, 4))
    assert all(e["sample_rate"] == 0.25 for e in kept)
    assert events[-1]["event"] == "service_started"


def test_sampling_at_zero_logs_no_per_message_event():
    stream = io.StringIO()
    sink = open_log(None, sample=0.0, stream=stream)
    log = sink.logger(component="http")
    for _ in range(50):
        log.info("book_request", sampled=True)
    log.warning("breaker", worker=0, to="open")
    sink.close()
    assert [e["event"] for e in lines_of(stream.getvalue())] == ["breaker"]


class _StuckHandler(logging.Handler):
    """A destination as slow as a disk that has stopped answering: every
    write waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.unblock = threading.Event()
        self.written: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entered.set()
        self.unblock.wait()
        self.written.append(self.format(record))


def test_a_stuck_destination_never_blocks_the_thread_that_logs():
    stuck = _StuckHandler()
    sink = LogSink(stuck)
    assert isinstance(sink.handler, QueueHandler)  # the caller's side only enqueues
    log = sink.logger(component="service")
    logged = threading.Event()

    def caller() -> None:
        for n in range(20):
            log.info("event", n=n)
        logged.set()

    thread = threading.Thread(target=caller, daemon=True)
    try:
        thread.start()
        assert stuck.entered.wait(10)  # the writer thread is inside the stuck write ...
        assert logged.wait(10)  # ... and every call returned all the same
        assert stuck.written == []
    finally:
        stuck.unblock.set()
        sink.close()  # flushes the queue: nothing was lost
        thread.join(10)
    assert [json.loads(line)["n"] for line in stuck.written] == list(range(20))


def test_bad_settings_are_refused_before_any_thread_starts():
    with pytest.raises(ValueError, match="0 to 1"):
        open_log(None, sample=1.5, stream=io.StringIO())
    with pytest.raises(ValueError, match="log level"):
        open_log(None, level="loud", stream=io.StringIO())


def test_close_is_idempotent():
    sink = open_log(None, stream=io.StringIO())
    sink.close()
    sink.close()
