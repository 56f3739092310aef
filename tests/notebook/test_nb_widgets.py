"""Widgets by their trait values; coalescing; the 100k queue; rich display bundles."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobGroup, JobStatus
from godnb.core import display
from godnb.notebook import rich
from godnb.notebook.dashboards import EngineView, PipelineView, ProfileView, QueueView
from godnb.notebook.live import Refresher
from godnb.notebook.widgets import GroupView, JobView
from tests.notebook.test_nb_formatters import EVIL, Pipeline
from tests.waiting import wait_until, wait_until_async

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def inline() -> Iterator[Engine]:
    with Engine(threads=1, backend="inline") as eng:
        yield eng


def boom() -> None:
    raise ValueError(EVIL)


# -- JobView ---------------------------------------------------------------------------------
def test_job_view_success_is_green(inline: Engine, views: list[Any]) -> None:
    def work() -> int:
        for i in range(5):
            god.progress(i + 1, total=5)
        return 5

    v = JobView(inline.submit(work))
    views.append(v)
    assert (v.bar.value, v.bar.max, v.bar.bar_style) == (5, 5, "success")
    assert "5/5" in v.label.value and "completed" in v.label.value
    assert ">100%<" in v.percent.value
    assert v.log_panel is None  # outside a kernel, not captured unless asked


def test_job_view_failure_is_red_with_escaped_error(inline: Engine, views: list[Any]) -> None:
    v = JobView(inline.submit(boom))
    views.append(v)
    # no progress reported: the bar is full, in red, with no placeholder percentage
    assert (v.bar.bar_style, v.bar.value, v.bar.max) == ("danger", 1.0, 1.0)
    assert ">%<" not in v.percent.value and "?" not in v.percent.value
    assert "ValueError: &lt;script&gt;" in v.label.value and "<script>" not in v.label.value
    assert "failed" in v.label.value and "?%" not in v.label.value
    bundle = v._repr_mimebundle_()
    assert set(bundle) == {WIDGET_MIME, "text/plain", "text/html"}
    assert bundle["text/plain"].endswith(f"failed · ValueError: {EVIL}")


def test_job_view_follows_a_running_job_and_flushes_the_final_state() -> None:
    async def main() -> None:
        async with Engine(threads=1) as eng:  # attaches to this loop, as in a kernel
            gate = threading.Event()

            def work() -> str:
                god.progress(1, total=4)
                gate.wait(5)
                god.progress(3, total=4)
                return "ok"

            h = eng.submit(work)
            v = JobView(h)
            try:
                await wait_until_async(lambda: v.bar.value == 1 and v.bar.max == 4, 10,
                                       "the bar at 1/4")
                assert v.bar.bar_style == ""
                assert ">25%<" in v.percent.value and "1/4 [00:00" in v.label.value
                gate.set()
                assert await h == "ok"
                await wait_until_async(lambda: v.bar.bar_style == "success", 10, "a green bar")
                assert v.bar.value == 4 and "completed" in v.label.value
            finally:
                gate.set()
                v.close()

    asyncio.run(main())


def _count_bar_writes(pause_every: int) -> tuple[int, int, float, float]:
    """Run one job reporting 1,000 progress events; count the bar's value writes."""
    async def main() -> tuple[int, int, float, float]:
        async with Engine(threads=1) as eng:
            gate = threading.Event()

            def work() -> int:
                gate.wait(5)
                for i in range(1000):
                    god.progress(i + 1, total=1000)
                    if pause_every and i % pause_every == 0:
                        time.sleep(0.05)
                return 1000

            h = eng.submit(work)
            v = JobView(h)
            writes: list[float] = []
            v.bar.observe(lambda change: writes.append(change["new"]), names="value")
            start = time.monotonic()
            gate.set()
            await h
            duration = time.monotonic() - start
            await wait_until_async(lambda: v.bar.bar_style == "success", 10, "a green bar")
            final = v.bar.value
            flushes = v.refresher.flushes
            v.close()
            return len(writes), flushes, final, duration

    return asyncio.run(main())


def test_thousand_quick_progress_events_make_a_handful_of_trait_writes() -> None:
    writes, flushes, final, duration = _count_bar_writes(pause_every=0)
    print(f"\n1000 progress events in {duration:.3f} s -> {writes} bar.value writes")
    assert final == 1000  # the final state is always flushed
    assert writes <= 3 and flushes <= 4


def test_progress_over_half_a_second_updates_at_most_ten_times_a_second() -> None:
    writes, flushes, final, duration = _count_bar_writes(pause_every=100)
    print(f"\n1000 progress events over {duration:.2f} s -> {writes} bar.value writes, "
          f"{flushes} flushes")
    assert final == 1000
    assert 2 <= writes <= 10 * duration + 2  # live, but throttled to ~10 per second


# -- GroupView -------------------------------------------------------------------------------
def test_group_view_success_and_failure(inline: Engine, views: list[Any]) -> None:
    ok = GroupView(inline.map(abs, range(10)))
    views.append(ok)
    assert ok.segments == {"completed": (1.0, 10)}
    assert 'data-status="completed"' in ok.bar.value and "width:100.00%" in ok.bar.value
    assert "10/10" in ok.label.value and ">100%<" in ok.percent.value
    bad = GroupView(inline.map(int, ["1", "x", "3", "4"]))
    views.append(bad)
    # one failure in four: a quarter of the bar is red, the rest green
    assert bad.segments == {"completed": (0.75, 3), "failed": (0.25, 1)}
    assert re.findall(r'data-status="(\w+)"[^>]*width:([\d.]+)%', bad.bar.value) == [
        ("completed", "75.00"), ("failed", "25.00")]
    assert ">3 completed</span>" in bad.label.value and ">1 failed</span>" in bad.label.value
    assert "first error: ValueError" in bad.label.value
    assert bad.task_bars == {}


def test_group_view_per_task_bars_when_names_are_mixed(inline: Engine,
                                                       views: list[Any]) -> None:
    handles = [inline.submit(abs, -1), inline.submit(abs, 2), inline.submit(boom)]
    mixed = JobGroup("mixed")
    mixed.handles = handles
    mixed._done = len(handles)  # these ended before joining; the runtime counts attached ones
    v = GroupView(mixed)
    views.append(v)
    assert sorted(v.task_bars) == ["abs", "boom"]
    abs_bar, _ = v.task_bars["abs"]
    boom_bar, boom_label = v.task_bars["boom"]
    assert (abs_bar.value, abs_bar.max, abs_bar.bar_style) == (2, 2, "success")
    assert boom_bar.bar_style == "danger" and "failed 1" in boom_label.value
    assert "abs" in v.text() and "boom" in v.text()


def test_group_view_polls_until_the_group_ends() -> None:
    async def main() -> None:
        async with Engine(threads=2) as eng:
            gate = threading.Event()
            g = eng.map(lambda x: gate.wait(5) and x, range(50))
            v = GroupView(g)
            try:
                assert v.segments == {} and ">0%<" in v.percent.value
                gate.set()
                await g
                await wait_until_async(lambda: "completed" in v.segments, 10, "a green bar")
                assert v.segments == {"completed": (1.0, 50)} and "50/50" in v.label.value
                flushes = v.refresher.flushes
                await asyncio.sleep(0.3)
                assert v.refresher.flushes == flushes  # done: polling stopped
            finally:
                gate.set()
                v.close()

    asyncio.run(main())


# -- QueueView -------------------------------------------------------------------------------
def test_queue_view_of_100k_pending_jobs_is_fast_and_shows_top_rows(views: list[Any]) -> None:
    from godnb.notebook.formatters import format_queue_html
    from godnb.notebook.snapshots import snapshot_queue

    gate = threading.Event()
    eng = Engine(threads=1)
    try:
        blocker = eng.submit(gate.wait, 30, name="blocker", priority=1)
        g = eng.map(abs, range(100_000), priority=0)
        wait_until(lambda: blocker.status is JobStatus.RUNNING, 30, "the blocker to run")
        t0 = time.perf_counter()
        s = snapshot_queue(eng, 20)
        html = format_queue_html(s)
        snapshot_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        v = QueueView(eng, rows=20)
        view_seconds = time.perf_counter() - t0
        views.append(v)
        print(f"\n100k pending: snapshot+HTML {snapshot_seconds * 1e3:.1f} ms, "
              f"QueueView built {view_seconds * 1e3:.1f} ms")
        assert snapshot_seconds < 0.5 and view_seconds < 0.5
        assert len(s.rows) == 20 and s.counts["pending"] == 100_000
        assert s.counts["running"] == 1 and s.rows[0].name == "blocker"
        assert html.count("<tr") == 21
        assert len(v.row_ids) == 20 and v.row_ids[0] == blocker.job_id
        assert "pending 100,000, running 1" in v.table.value
        visible = [b.layout.visibility for b in v.buttons]
        assert visible == ["visible"] * 20
        assert {b.layout.display for b in v.buttons} == {None}
        second = v.row_ids[1]
        v.buttons[1].click()  # the row's cancel button
        assert eng.get(second).status is JobStatus.CANCELLED  # type: ignore[union-attr]
        v.flush()
        assert second not in v.row_ids and "pending 99,999" in v.table.value
        assert g[0].job_id == second
    finally:
        gate.set()
        eng.shutdown(wait=False)


def test_queue_view_empty_engine_hides_buttons_and_wakes_on_submit(views: list[Any]) -> None:
    async def main() -> None:
        async with Engine(threads=1) as eng:
            v = QueueView(eng, rows=3)
            try:
                assert v.row_ids == [] and "no pending or running jobs" in v.table.value
                # nothing to show takes no room: unused buttons are not laid out at all
                assert {b.layout.visibility for b in v.buttons} == {"hidden"}
                assert {b.layout.display for b in v.buttons} == {"none"}
                assert v.box.layout.max_height == "420px" and v.box.layout.overflow == "auto"
                gate = threading.Event()
                h = eng.submit(gate.wait, 5, name="sleepy")  # the wake listener fires
                await wait_until_async(lambda: v.row_ids == [h.job_id], 10, "the job's row")
                assert v.buttons[0].layout.visibility == "visible"
                assert v.buttons[0].layout.display is None
                assert v.buttons[1].layout.display == "none"
                gate.set()
                await h
                await wait_until_async(lambda: v.row_ids == [], 10, "no rows")
            finally:
                v.close()

    asyncio.run(main())
    with pytest.raises(ValueError, match="rows must be a positive int"):
        QueueView(object(), rows=0)


# -- EngineView, ProfileView, PipelineView ---------------------------------------------------
def test_engine_view_summary(views: list[Any]) -> None:
    eng = Engine(threads=2, backend="inline", name="summary")
    try:
        eng.map(abs, range(3))
        v = EngineView(eng)
        views.append(v)
        assert ">completed</span> 3" in v.summary.value and "thread" in v.summary.value
        assert "p99" in v.text() and "workers" in v.text()
        assert "inline" in v.text()  # the inline lane, idle now
    finally:
        eng.shutdown()
    v.flush()
    assert "summary (shut down)" in v.summary.value


def test_profile_view_table_and_update(inline: Engine, views: list[Any]) -> None:
    inline.map(abs, range(3))
    v = ProfileView(inline.profile())
    views.append(v)
    assert "<table" in v.table_html.value and "abs" in v.table_html.value
    inline.submit(boom)
    v.update(inline.profile())
    assert "boom" in v.table_html.value
    live = ProfileView(inline)  # follows eng.profile()
    views.append(live)
    assert "boom" in live.table_html.value


def test_profile_view_follows_an_engine() -> None:
    async def main() -> None:
        async with Engine(threads=1) as eng:
            v = ProfileView(eng, interval=0.1)
            try:
                assert "no tasks recorded yet" in v.table_html.value
                assert await eng.submit(abs, -1) == 1  # wakes the idle view
                await wait_until_async(lambda: "abs" in v.table_html.value, 10, "the abs row")
            finally:
                v.close()

    asyncio.run(main())


def test_pipeline_view_bars_per_stage(views: list[Any]) -> None:
    v = PipelineView(Pipeline())
    views.append(v)
    assert len(v.stage_bars) == 3
    # each stage scaled to its own input: the batch and the stage after it read 100%
    assert [(b.value, b.max, b.bar_style) for b, _ in v.stage_bars] == \
        [(1.0, 1.0, "success")] * 3
    _, (_, batch_label), (_, evil_label) = v.stage_bars
    assert "4,000 in → 62 out" in batch_label.value
    assert "busy 500.0 ms (124 items/s)" in evil_label.value and "etl" in v.header.value
    assert "finished" in v.header.value
    assert "<script>" not in v.html()
    half = PipelineView(Pipeline(done=False))
    views.append(half)
    assert [b.value for b, _ in half.stage_bars] == [0.5, 0.5, 0.5]
    assert half.refresher.closed is False


def test_pipeline_view_of_a_real_pipeline(views: list[Any]) -> None:
    pipeline = pytest.importorskip("godnb.core.pipeline")
    p = pipeline.Pipeline(range(10)).map(abs).filter(lambda x: x % 2 == 0)
    fresh = PipelineView(p)
    views.append(fresh)
    assert fresh.snapshot().state == "not started"  # never run yet: keep watching
    assert "not started" in fresh.header.value and "running" not in fresh.header.value
    assert {b.value for b, _ in fresh.stage_bars} == {0.0}
    assert p.collect() == [0, 2, 4, 6, 8]
    fresh.flush()
    assert "finished" in fresh.header.value  # the same view picked up the run
    v = PipelineView(p)
    views.append(v)
    s = v.snapshot()
    assert s.finished and [st.items_out for st in s.stages][-1] == 5
    assert [(b.value, b.bar_style) for b, _ in v.stage_bars] == [(1.0, "success")] * 3
    assert rich.kind_of(p) == "pipeline"
    assert "finished" in rich.render(p)["text/plain"]  # type: ignore[index]


# -- rich display and the display seam -------------------------------------------------------
@pytest.fixture
def widgets_on() -> Iterator[None]:
    rich.use_widgets(True)
    yield
    rich.use_widgets(None)


def test_bundle_is_live_while_running_and_static_once_ended(widgets_on: None) -> None:
    with Engine(threads=1) as eng:
        gate = threading.Event()
        h = eng.submit(gate.wait, 5)
        g = eng.map(abs, range(2))  # queued behind h
        bundle = h._repr_mimebundle_()
        assert set(bundle) == {WIDGET_MIME, "text/plain", "text/html"}
        assert bundle["text/plain"].startswith("Event.wait           ")
        assert 'data-status="running"' in bundle["text/html"] or \
            'data-status="pending"' in bundle["text/html"]
        for obj, key in [(g, "godnb-group"), (eng, "godnb-engine")]:
            b = obj._repr_mimebundle_()
            assert WIDGET_MIME in b and key in b["text/html"]
        gate.set()
        assert g.results(timeout=5) == [0, 1] and h.result(timeout=5) is True
        # Ended: nothing left to follow, so no widget (a saved notebook needs no state).
        done = h._repr_mimebundle_()
        assert set(done) == {"text/plain", "text/html"}
        assert 'data-status="completed"' in done["text/html"]
        assert done["text/plain"].startswith("Event.wait           100% ████")
        assert set(g._repr_mimebundle_()) == {"text/plain", "text/html"}
        assert WIDGET_MIME in eng._repr_mimebundle_()  # an engine can always get new work
        table = rich.render(eng.profile())
        assert table is not None and set(table) == {"text/plain", "text/html"}
        assert "<table" in table["text/html"]
    assert "godnb-pipeline" in rich.render(Pipeline())["text/html"]  # type: ignore[index]
    assert rich.render(object()) is None


def test_without_a_kernel_the_bundle_is_static(inline: Engine) -> None:
    bundle = inline.submit(abs, -2)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}


def test_without_ipywidgets_the_html_says_how_to_install(inline: Engine,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(rich, "widgets_available", lambda: False)
    bundle = inline.submit(abs, -2)._repr_mimebundle_()
    assert 'pip install "godnb[notebook]"' in bundle["text/html"]
    assert WIDGET_MIME not in bundle


def test_display_view_seam(inline: Engine, views: list[Any],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    q = inline.queue_view(rows=5)
    views.append(q)
    assert isinstance(q, QueueView) and q.rows == 5
    with pytest.raises(ValueError, match=r"unknown view 'nope'; valid views: \['engine'"):
        display.view("nope", inline)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install "godnb\[notebook\]"'):
        inline.queue_view()


# -- the Refresher ---------------------------------------------------------------------------
def test_refresher_coalesces_requests_from_threads() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        calls: list[float] = []
        r = Refresher(loop, lambda: calls.append(loop.time()) is None and False, 0.1)
        threads = [threading.Thread(target=lambda: [r.request() for _ in range(200)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        await asyncio.sleep(0.35)
        r.request()
        await asyncio.sleep(0.15)
        r.close()
        r.request()  # ignored once closed
        await asyncio.sleep(0.15)
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        assert all(gap >= 0.099 for gap in gaps), gaps
        return len(calls)

    assert 1 <= asyncio.run(main()) <= 3
    with pytest.raises(ValueError, match="interval must be > 0"):
        Refresher(None, lambda: False, 0)
