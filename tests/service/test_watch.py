"""Events found by comparing two statuses, and the watcher that logs them."""

from status_factory import status, worker

from orderbook_lab.service.watch import StatusWatcher, changes


def test_the_first_reading_reports_readiness_only():
    assert changes(None, status(), started=True) == [{"event": "readiness", "ready": True, "reasons": []}]


def test_breaker_capacity_and_liveness_changes_are_events_of_their_worker():
    before = status(worker(0), worker(1))
    after = status(worker(0, breaker="open", capacity=32, wait_ms=80.0), worker(1, alive=False))
    found = changes(before, after, started=True)
    assert found == [
        {
            "event": "readiness",
            "ready": False,
            "reasons": ["worker 0's breaker is open", "worker 1 is not alive"],
        },
        {"event": "breaker", "worker": 0, "from_state": "closed", "to": "open"},
        {"event": "capacity", "worker": 0, "from_msgs": 64, "to_msgs": 32, "wait_ms": 80.0},
        {"event": "worker_alive", "worker": 1, "alive": False},
    ]


def test_nothing_changed_nothing_reported():
    assert changes(status(), status(), started=True) == []


class _Log:
    def __init__(self, context=None, lines=None):
        self.context = context or {}
        self.lines = [] if lines is None else lines

    def bind(self, **more):
        return _Log({**self.context, **more}, self.lines)

    def info(self, event, **fields):
        self.lines.append(("info", event, {**self.context, **fields}))

    warning = error = info


def test_the_watcher_logs_each_change_with_its_worker_bound():
    readings = iter([status(), status(worker(0, breaker="open"), worker(1))])
    log = _Log()
    watcher = StatusWatcher(lambda: next(readings), lambda: True, log)
    watcher.poll()
    watcher.poll()
    assert [(event, fields.get("worker")) for _, event, fields in log.lines] == [
        ("readiness", None),
        ("readiness", None),
        ("breaker", 0),
    ]
