"""One worker's loop body: primary parts count and work, extra parts only
update books, controls come after the updates of their frame."""

from orderbook_lab.core.clock import ManualClock
from orderbook_lab.core.messages import BookMessage, PriceChange, PriceChangeMessage, PriceLevel
from orderbook_lab.engines import RunConfig
from orderbook_lab.engines._worker import Drain, Query, Stop, WorkerCore


def _book(asset: str) -> BookMessage:
    return BookMessage(asset, "m", 1, (PriceLevel(400, 1.0),), (PriceLevel(600, 1.0),))


def test_primary_parts_count_and_extra_parts_only_update_books():
    clock = ManualClock(1_000)
    core = WorkerCore(3, RunConfig(), clock=clock)
    extra_part = PriceChangeMessage("m", 2, (PriceChange("b", "BUY", 450, 2.0),))
    reply, stop = core.handle(([(0, True, _book("a")), (0, False, extra_part)], []), received_ns=1_000)
    assert (reply.worker, reply.updates, reply.answers, stop) == (3, 2, [], False)
    assert core.pipeline.processed == 1
    assert core.pipeline.router.query("b").best_bid == PriceLevel(450, 2.0)
    assert core.pipeline.router.stats().orphan_updates == 1


def test_a_query_sees_the_updates_before_it_in_the_same_frame():
    core = WorkerCore(0, RunConfig(), clock=ManualClock(50))
    reply, _ = core.handle(([(0, True, _book("a"))], [Query(7, "a", 1, 10), Query(8, "zzz", 1, 10)]), 40)
    first, second = reply.answers
    assert first.corr_id == 7 and first.view.best_bid == PriceLevel(400, 1.0)
    assert (first.received_ns, first.answered_ns) == (40, 50)
    assert second.corr_id == 8 and second.view is None


def test_drain_and_stop():
    core = WorkerCore(1, RunConfig(), clock=ManualClock())
    reply, stop = core.handle(([(0, True, _book("a"))], [Drain(5)]), 0)
    assert reply.drained == 5 and reply.report is None and not stop
    reply, stop = core.handle(([], [Stop()]), 0)
    assert stop
    report = reply.report
    assert (report.worker, report.frames, report.parts, report.processed, report.largest_frame) == (
        1,
        2,
        1,
        1,
        1,
    )
    assert list(report.books) == ["a"]


def test_after_frame_sees_the_messages_of_its_frame():
    seen = []

    class Publishing(WorkerCore):
        def after_frame(self, messages):
            seen.append([getattr(m, "asset_id", None) for m in messages])

    core = Publishing(0, RunConfig(), clock=ManualClock())
    core.handle(([(0, True, _book("a")), (0, True, _book("b"))], []), 0)
    core.handle(([], [Drain(1)]), 0)
    assert seen == [["a", "b"], []]
