"""Readiness and the status document, from hand-made statuses."""

import json

from status_factory import status, worker

from orderbook_lab.service.health import readiness, status_document


def test_ready_only_once_started_and_running():
    assert readiness(status(running=False), started=False).reasons == ("the engine is starting",)
    assert not readiness(status(running=False), started=True).ready
    assert readiness(status(), started=True).ready


def test_each_kind_of_degradation_is_a_reason():
    verdict = readiness(
        status(
            worker(0, breaker="open"),
            worker(1, alive=False),
            worker(2, last_report_s=3.5),
            worker(3, breaker="half-open", last_report_s=None),
        ),
        started=True,
    )
    assert not verdict.ready
    assert verdict.reasons == (
        "worker 0's breaker is open",
        "worker 1 is not alive",
        "worker 2 last reported 3.5 s ago (more than 3 s)",
    )


def test_a_worker_that_never_reported_is_not_stale():
    assert readiness(status(worker(0, last_report_s=None)), started=True).ready


def test_the_status_document_is_json_with_a_row_per_worker():
    document = status_document(status(worker(0), worker(1, breaker="open")), started=True)
    assert json.loads(json.dumps(document)) == document
    assert document["ready"] is False
    assert document["engine"]["counts"] == {
        "generated": 250,
        "processed": 200,
        "dropped": 48,
        "invalid": 2,
        "dropped_by_reason": {"shed:change": 30, "worker_fault": 18},
    }
    assert [w["breaker"] for w in document["workers"]] == ["closed", "open"]
    assert set(document["workers"][0]) >= {
        "alive",
        "breaker",
        "depth",
        "capacity",
        "wait_ms",
        "last_report_s",
    }
