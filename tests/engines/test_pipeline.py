"""The shared per-message path (parse, route, work, measure) and the query
schedule, which every engine reuses."""

from orderbook_lab.core.clock import ManualClock
from orderbook_lab.core.messages import BookMessage, OtherMessage
from orderbook_lab.core.source import Frame
from orderbook_lab.engines import RunConfig
from orderbook_lab.engines._pipeline import MAX_KEPT_REJECTIONS, Pipeline, QuerySchedule
from orderbook_lab.engines._work import CpuWork, iterations_per_ms

MS = 1_000_000
_BOOK = '{"event_type":"book","asset_id":"a","bids":[{"price":"0.4","size":"1"}],"asks":[]}'


def _pipeline(clock=None) -> Pipeline:
    return Pipeline(RunConfig(messages=None), clock or ManualClock())


def test_accept_counts_every_message_of_an_array_line():
    pipeline = _pipeline()
    messages = pipeline.accept(Frame(3, 0, f'[{_BOOK}, 7, {{"event_type":"new_market"}}]'))
    assert [type(m) for m in messages] == [BookMessage, OtherMessage]
    assert (pipeline.generated, pipeline.invalid) == (3, 1)
    assert [(r.line, r.element) for r in pipeline.rejections] == [(3, 1)]


def test_rejections_beyond_the_cap_are_counted_not_kept():
    pipeline = _pipeline()
    for line_no in range(1, MAX_KEPT_REJECTIONS + 6):
        assert pipeline.accept(Frame(line_no, 0, "{broken")) == []
    assert pipeline.invalid == MAX_KEPT_REJECTIONS + 5
    assert len(pipeline.rejections) == MAX_KEPT_REJECTIONS
    assert pipeline.rejections[0].line == 1


def test_apply_record_and_drop_keep_the_books_balanced():
    clock = ManualClock()
    pipeline = _pipeline(clock)
    frame = Frame(1, 0, f'[{_BOOK}, {{"event_type":"new_market"}}, {_BOOK}]')
    started = clock.now_ns()
    messages = pipeline.accept(frame)
    pipeline.apply(messages[0])
    clock.advance_ns(2 * MS)
    started = pipeline.record(frame.produced_ns, started)
    pipeline.apply(messages[1])
    clock.advance_ns(1 * MS)
    pipeline.record(frame.produced_ns, started)
    pipeline.drop("queue_full")  # the third one, discarded by a policy
    stats = pipeline.stats("test", None, startup_s=0.0, shutdown_s=0.0)
    assert (stats.generated, stats.processed, stats.dropped, stats.invalid) == (3, 2, {"queue_full": 1}, 0)
    assert stats.conserved
    assert stats.other == 1
    assert stats.latency_ms.max == 3.0  # end to end: produced at 0, applied at 3 ms
    assert stats.processing_us.max == 2000.0  # the first message took 2 ms
    assert stats.run_s == 0.003
    assert stats.throughput == 2 / 0.003


def test_query_schedule_is_due_on_a_fixed_grid():
    schedule = QuerySchedule(rate=100, seed=1, start_ns=5 * MS)
    assert schedule.enabled
    assert schedule.take_due(4 * MS) is None
    assert schedule.take_due(5 * MS) == 5 * MS
    assert schedule.take_due(5 * MS) is None
    # 40 ms later: the queries due at 15, 25, 35, 45 ms, in order, then none.
    due = []
    while (at := schedule.take_due(45 * MS)) is not None:
        due.append(at)
    assert due == [15 * MS, 25 * MS, 35 * MS, 45 * MS]
    assert schedule.issued == 5


def test_query_schedule_disabled_at_rate_zero():
    schedule = QuerySchedule(rate=0, seed=1, start_ns=0)
    assert not schedule.enabled
    assert schedule.take_due(10**12) is None


def test_query_picks_are_seeded():
    assets = [str(i) for i in range(50)]
    first = QuerySchedule(10, seed=3, start_ns=0)
    second = QuerySchedule(10, seed=3, start_ns=0)
    picks = [first.pick(assets) for _ in range(20)]
    assert picks == [second.pick(assets) for _ in range(20)]
    assert len(set(picks)) > 1
    assert first.pick([]) is None


def test_cpu_work_is_counted_in_iterations_not_time():
    assert CpuWork(0.0)._iterations == 0
    assert CpuWork(2.0, per_ms=1500.0)._iterations == 3000
    assert CpuWork(1e-9, per_ms=10.0)._iterations == 1  # any work at all is at least one step
    assert isinstance(CpuWork(0.5, per_ms=100.0)(), int)
    per_ms = iterations_per_ms()
    assert per_ms > 0 and per_ms == iterations_per_ms()  # calibrated once per process
