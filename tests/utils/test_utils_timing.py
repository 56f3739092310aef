"""Histograms, counters, the metrics registry, @timed, stopwatches and profile tables."""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from godnb.utils.formatting import format_time
from godnb.utils.profile import (
    ProfileCollector,
    ProfileTable,
    TaskProfile,
    format_duration,
    format_profile_html,
    format_profile_text,
)
from godnb.utils.timing import (
    Counter,
    Histogram,
    HistogramSnapshot,
    MetricsRegistry,
    Stopwatch,
    metrics,
    timed,
    timer,
)

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def ticks(*values: float) -> Callable[[], float]:
    """A fake clock that returns ``values`` in turn."""
    it: Iterator[float] = iter(values)
    return lambda: next(it)


def run_threads(target: Callable[[], None], count: int = 8) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- Histogram -----------------------------------------------------------------------

def test_percentiles_interpolate_like_numpy() -> None:
    h = Histogram()
    for value in range(1, 101):
        h.observe(float(value))
    assert h.p50 == pytest.approx(50.5)
    assert h.p95 == pytest.approx(95.05)
    assert h.p99 == pytest.approx(99.01)
    assert h.percentile(0) == 1.0
    assert h.percentile(100) == 100.0
    assert h.percentiles(25, 75) == [pytest.approx(25.75), pytest.approx(75.25)]
    assert (h.count, h.sum, h.min, h.max, h.mean) == (100, 5050.0, 1.0, 100.0, 50.5)


def test_an_empty_histogram_reports_nan_and_a_none_snapshot() -> None:
    h = Histogram()
    assert math.isnan(h.p50)
    assert math.isnan(h.mean)
    assert math.isnan(h.min)
    assert h.snapshot() == HistogramSnapshot(count=0, sum=0.0)


def test_percentiles_follow_the_recent_window_and_totals_cover_everything() -> None:
    h = Histogram(maxlen=10)
    for value in range(100):
        h.observe(float(value))
    assert h.percentile(0) == 90.0  # the oldest sample still kept
    assert (h.count, h.min, h.max) == (100, 0.0, 99.0)
    assert h.mean == pytest.approx(49.5)


def test_snapshot_and_reset() -> None:
    h = Histogram()
    for value in (0.1, 0.2, 0.3):
        h.observe(value)
    snap = h.snapshot()
    assert snap.count == 3
    assert snap.p50 == pytest.approx(0.2)
    assert snap.max == 0.3
    with pytest.raises(ValidationError):
        snap.count = 5  # type: ignore[misc]
    h.reset()
    assert h.count == 0
    assert h.snapshot().p99 is None


@pytest.mark.parametrize("p", [-1, 101, "50", math.nan, True])
def test_percentile_must_be_between_0_and_100(p: object) -> None:
    with pytest.raises(ValueError, match=r"percentile must be a number from 0 to 100, got .*; "
                                         r"e\.g\. percentile\(95\)"):
        Histogram().percentile(p)  # type: ignore[arg-type]


@pytest.mark.parametrize("maxlen", [0, -3, 2.5])
def test_the_reservoir_size_is_validated(maxlen: object) -> None:
    with pytest.raises(ValueError, match="maxlen must be an int >= 1"):
        Histogram(maxlen)  # type: ignore[arg-type]


def test_observe_from_many_threads_loses_nothing() -> None:
    h = Histogram(maxlen=100)

    def work() -> None:
        for _ in range(5000):
            h.observe(1.0)

    run_threads(work)
    assert (h.count, h.sum, h.mean) == (40_000, 40_000.0, 1.0)


# --- Counter and the registry --------------------------------------------------------

def test_counter_counts_from_many_threads() -> None:
    c = Counter()

    def work() -> None:
        for _ in range(5000):
            c.inc()

    run_threads(work)
    assert c.value == 40_000
    c.inc(-40_000)
    assert c.value == 0
    assert repr(c) == "Counter(value=0)"


def test_registry_makes_metrics_once_per_name() -> None:
    reg = MetricsRegistry()
    assert reg.counter("jobs") is reg.counter("jobs")
    assert reg.histogram("latency") is reg.histogram("latency")


def test_a_name_belongs_to_one_kind_of_metric() -> None:
    reg = MetricsRegistry()
    reg.counter("jobs")
    with pytest.raises(ValueError, match="metric 'jobs' is already a counter; pick another name"):
        reg.histogram("jobs")
    reg.histogram("lat")
    with pytest.raises(ValueError, match="metric 'lat' is already a histogram"):
        reg.counter("lat")
    with pytest.raises(TypeError, match="a metric name must be a non-empty str"):
        reg.counter("")


def test_snapshot_is_sorted_and_reset_keeps_held_metrics_working() -> None:
    reg = MetricsRegistry()
    jobs = reg.counter("z.jobs")
    lat = reg.histogram("a.lat")
    jobs.inc(3)
    lat.observe(0.5)
    snap = reg.snapshot()
    assert snap.counters == {"z.jobs": 3}
    assert snap.histograms["a.lat"].mean == 0.5
    assert snap.model_dump()["histograms"]["a.lat"]["count"] == 1
    reg.reset()
    jobs.inc()
    assert reg.snapshot().counters == {"z.jobs": 1}
    assert reg.snapshot().histograms["a.lat"].count == 0


# --- @timed, Stopwatch, timer --------------------------------------------------------

def test_timed_records_each_call_into_the_named_histogram() -> None:
    reg = MetricsRegistry()

    @timed(name="work", registry=reg, clock=ticks(0.0, 1.5, 10.0, 10.25))
    def work(x: int) -> int:
        return x + 1

    assert work(1) == 2
    assert work(2) == 3
    h = reg.histogram("work")
    assert (h.count, h.sum) == (2, 1.75)
    assert work.__name__ == "work"


def test_timed_records_failures_too() -> None:
    reg = MetricsRegistry()

    @timed(registry=reg, clock=ticks(0.0, 2.0))
    def boom() -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        boom()
    name = f"{__name__}.test_timed_records_failures_too.<locals>.boom"
    assert reg.histogram(name).sum == 2.0


def test_bare_timed_uses_the_module_registry() -> None:
    @timed
    def quick() -> str:
        return "done"

    name = f"{__name__}.test_bare_timed_uses_the_module_registry.<locals>.quick"
    before = metrics.histogram(name).count
    assert quick() == "done"
    assert metrics.histogram(name).count == before + 1


def test_timed_async_functions_time_the_awaited_call() -> None:
    reg = MetricsRegistry()

    @timed(name="fetch", registry=reg, clock=ticks(5.0, 5.5))
    async def fetch() -> int:
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(fetch()) == 7
    assert reg.histogram("fetch").sum == 0.5
    assert asyncio.iscoroutinefunction(fetch)


def test_stopwatch_on_a_fake_clock() -> None:
    hist = Histogram()
    sw = Stopwatch(clock=ticks(10.0, 10.5, 12.0), histogram=hist)
    sw.start()
    assert sw.running
    assert sw.elapsed == 0.5
    assert sw.stop() == 2.0
    assert sw.elapsed == 2.0
    assert not sw.running
    assert hist.sum == 2.0


def test_stopping_a_stopwatch_that_is_not_running_says_how_to_use_it() -> None:
    with pytest.raises(RuntimeError, match=r"not running; call start\(\) first"):
        Stopwatch().stop()


def test_timer_is_a_context_manager_that_keeps_the_elapsed_time() -> None:
    with timer(clock=ticks(1.0, 4.0)) as t:
        pass
    assert t.elapsed == 3.0


# --- formatting ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (math.nan, "-"),
        (0.0, "0 s"),
        (4e-10, "0 ns"),
        (850e-9, "850 ns"),
        (12.34e-6, "12.3 µs"),
        (0.0012, "1.2 ms"),
        (0.9999996e-3, "1.0 ms"),
        (0.25, "250.0 ms"),
        (0.99996, "1.00 s"),
        (3.4, "3.40 s"),
        (59.999, "1m 00s"),
        (125, "2m 05s"),
        (3599.7, "1h 00m"),
        (7322, "2h 02m"),
        (-0.5, "-500.0 ms"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def sample_table() -> ProfileTable:
    return ProfileTable(
        generated_at=NOON,
        rows=[
            TaskProfile(task="train", count=12, ok=10, failed=1, retried=3, cancelled=1,
                        cache_hits=0, mean=3.4, p50=3.1, p95=5.25, total_time=40.8),
            TaskProfile(task="load", count=300, ok=300, cache_hits=120, mean=0.0012,
                        p50=0.001, p95=0.0031, total_time=0.216),
            TaskProfile(task="cached_only", count=2, ok=2, cache_hits=2),
        ],
    )


EXPECTED_TEXT = f"""\
godnb profile at {format_time(NOON)}
task         count   ok  failed  retried  cancelled  cache hits    mean     p50     p95     total
-----------  -----  ---  ------  -------  ---------  ----------  ------  ------  ------  --------
train           12   10       1        3          1           0  3.40 s  3.10 s  5.25 s   40.80 s
load           300  300       0        0          0         120  1.2 ms  1.0 ms  3.1 ms  216.0 ms
cached_only      2    2       0        0          0           2       -       -       -       0 s"""


def test_text_table_is_aligned_and_human_readable() -> None:
    assert format_profile_text(sample_table()) == EXPECTED_TEXT
    assert str(sample_table()) == EXPECTED_TEXT
    assert sample_table().to_text() == EXPECTED_TEXT


def test_an_empty_table_says_so() -> None:
    table = ProfileTable(generated_at=NOON)
    assert format_profile_text(table) == (
        f"godnb profile at {format_time(NOON)}: no tasks recorded yet")
    assert "no tasks recorded yet" in format_profile_html(table)


def test_html_table_escapes_names() -> None:
    table = ProfileTable(generated_at=NOON, rows=[
        TaskProfile(task="<script>alert('x')</script>", count=1, ok=1, mean=0.5, p50=0.5,
                    p95=0.5, total_time=0.5),
    ])
    out = format_profile_html(table)
    assert "<script>" not in out
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert out.startswith('<table class="godnb-profile"')
    assert f">godnb profile at {format_time(NOON)}</caption>" in out
    assert "T12:00:00" not in out  # a readable local time, not a raw UTC ISO stamp
    # numbers and their headers are right-aligned; the task column is left-aligned
    assert re.search(r'<th [^>]*text-align:right[^>]*>cache hits</th>', out)
    assert re.search(r'<th [^>]*text-align:left[^>]*>task</th>', out)
    assert re.search(r'<td [^>]*text-align:right[^"]*">500.0 ms</td>', out)
    assert table._repr_html_() == out == table.to_html()


def test_profile_models_are_frozen_and_round_trip_through_json() -> None:
    table = sample_table()
    assert ProfileTable.model_validate_json(table.model_dump_json()) == table
    with pytest.raises(ValidationError):
        table.rows[0].count = 1  # type: ignore[misc]


# --- ProfileCollector ----------------------------------------------------------------

def test_collector_counts_outcomes_and_times_only_executed_runs() -> None:
    prof = ProfileCollector(now=lambda: NOON)
    prof.record("fit", ok=True, run_time=1.0)
    prof.record("fit", ok=False, run_time=3.0, retried=True)
    prof.record("fit", ok=False, run_time=0.5, cancelled=True)
    prof.record("fit", ok=True, run_time=0.0001, cache_hit=True)
    table = prof.table()
    assert table.generated_at == NOON
    (row,) = table.rows
    assert (row.count, row.ok, row.failed, row.retried, row.cancelled, row.cache_hits) == (
        4, 2, 1, 1, 1, 1)
    # the cancelled run was cut short: it is counted but not timed
    assert row.total_time == 4.0
    assert row.mean == 2.0
    assert row.p50 == 2.0


def test_a_task_seen_only_in_the_cache_has_no_latency() -> None:
    prof = ProfileCollector()
    prof.record("load", ok=True, run_time=0.0, cache_hit=True)
    row = prof.table().rows[0]
    assert (row.mean, row.p50, row.p95, row.total_time) == (None, None, None, 0.0)


def test_rows_come_most_total_time_first() -> None:
    prof = ProfileCollector()
    for task, run_time in [("a", 1.0), ("b", 5.0), ("c", 1.0), ("a", 0.5)]:
        prof.record(task, ok=True, run_time=run_time)
    assert [row.task for row in prof.table().rows] == ["b", "a", "c"]
    assert prof.tasks() == ["a", "b", "c"]
    prof.reset()
    assert prof.table().rows == []


def test_collector_records_from_many_threads() -> None:
    prof = ProfileCollector(reservoir=64)

    def work() -> None:
        for i in range(2000):
            prof.record(f"t{i % 4}", ok=i % 10 != 0, run_time=0.001)

    run_threads(work)
    rows = prof.table().rows
    assert sum(row.count for row in rows) == 16_000
    assert sum(row.failed for row in rows) == 1_600
    assert all(row.p95 == pytest.approx(0.001) for row in rows)
