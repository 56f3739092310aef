"""The look of the live views, by trait values: bars without placeholders, the pipeline
view following a run to its end, the timeline within its throttle, the engine's lanes."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.core.pipeline import Pipeline
from godnb.notebook import rich
from godnb.notebook.dashboards import EngineView, PipelineView, TimelineView
from godnb.notebook.widgets import GroupView, JobView
from tests.core import funcs
from tests.waiting import wait_until_async

pytestmark = pytest.mark.timeout(120)


def test_running_without_progress_is_striped_then_cancelled_is_orange() -> None:
    async def main() -> None:
        async with Engine(threads=1) as eng:
            h = eng.submit(funcs.cooperative, 30)
            v = JobView(h)
            try:
                await wait_until_async(
                    lambda: h.status is JobStatus.RUNNING and v.bar.bar_style, 10,
                    "the job running, its bar styled")
                v.flush()
                assert (v.bar.bar_style, v.bar.value, v.bar.max) == ("info", 1.0, 1.0)
                assert "godnb-striped" in v.bar._dom_classes
                assert "running" in v.label.value and "[00:0" in v.label.value
                assert "?" not in v.label.value + v.percent.value
                h.cancel()
                await wait_until_async(lambda: v.bar.bar_style == "warning", 10, "an orange bar")
                assert v.bar.value == v.bar.max  # full, in the cancelled colour
                assert "godnb-striped" not in v.bar._dom_classes
                assert "cancelled" in v.label.value
            finally:
                v.close()

    asyncio.run(main())


def test_bars_in_different_views_share_one_layout(views: list[Any]) -> None:
    with Engine(threads=1, backend="inline") as eng:
        short = JobView(eng.submit(abs, -1, name="fit"))
        long = JobView(eng.submit(abs, -1, name="a-very-long-task-name-that-would-wrap"))
        group = GroupView(eng.map(abs, range(3)))
        views += [short, long, group]
        rows = [v.children[0] for v in (short, long, group)]
        # name, percentage, bar, label: the same widths everywhere, so bars align
        assert {r.children[0].value.split("<span", 1)[1].split(">")[0].count("width:11em")
                for r in rows} == {1}
        assert {r.children[2].layout.width for r in rows[:2]} == {"240px"}
        assert "width:240px" in group.bar.value
        assert "a-very-long-task-name-that-would-wrap" in long.children[0].children[0].value
        assert all(r.layout.flex_flow == "row nowrap" for r in rows)


@pytest.mark.timeout(60)
def test_pipeline_view_follows_a_submitted_run_to_its_end() -> None:
    """The bug: after ``p.submit(eng)`` the view stayed "running, 0 in, 0 out"."""
    gate = threading.Event()

    def slow(x: int) -> int:
        gate.wait(10)
        return x

    async def main() -> None:
        async with Engine(threads=2) as eng:
            p = Pipeline(range(200), name="slow").map(slow).batch(10)
            v = PipelineView(p, interval=0.05)
            try:
                assert "not started" in v.header.value
                h = p.submit(eng)
                await wait_until_async(lambda: "running" in v.header.value, 10,
                                       "the pipeline running")
                await asyncio.sleep(0.3)  # longer than the old idle cut-off in polls
                gate.set()
                await h
                await wait_until_async(lambda: "finished" in v.header.value, 10,
                                       "the pipeline finished")
                assert [b.value for b, _ in v.stage_bars] == [1.0, 1.0, 1.0]
                assert "200 in → 20 out" in v.stage_bars[2][1].value
                await asyncio.sleep(0.2)
                flushes = v.refresher.flushes
                await asyncio.sleep(0.2)
                assert v.refresher.flushes == flushes  # the run ended: polling stopped
            finally:
                gate.set()
                v.close()

    asyncio.run(main())


def test_timeline_view_redraws_at_most_twice_a_second() -> None:
    async def main() -> tuple[int, float, str]:
        async with Engine(threads=2) as eng:
            v = TimelineView(eng.timeline())
            writes: list[float] = []
            v.chart.observe(lambda _change: writes.append(time.monotonic()), names="value")
            try:
                start = time.monotonic()
                await eng.map(time.sleep, [0.001] * 1500)
                took = time.monotonic() - start
                await wait_until_async(lambda: "1,500 runs" in v.chart.value, 10,
                                       "1,500 runs in the chart")
                return len(writes), took, v.chart.value
            finally:
                v.close()

    writes, took, html = asyncio.run(main())
    print(f"\n{writes} timeline redraws in {took:.2f} s")
    assert writes <= 2 * took + 2  # throttled: <= 2 a second (+ the final state)
    assert "<svg" in html and "thread-1" in html and "thread-2" in html


def test_timeline_displays_with_a_widget_and_static_svg(views: list[Any]) -> None:
    rich.use_widgets(True)
    try:
        with Engine(threads=1, backend="inline") as eng:
            eng.map(abs, range(4))
            bundle = eng.timeline()._repr_mimebundle_()
    finally:
        rich.use_widgets(None)
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<svg" in bundle["text/html"] and "4 runs" in bundle["text/plain"]
    with Engine(threads=1, backend="inline") as eng:
        eng.submit(abs, 1)
        static = eng.timeline()._repr_mimebundle_()
    assert set(static) == {"text/plain", "text/html"}


def test_engine_view_shows_each_lane_and_what_it_runs() -> None:
    gate = threading.Event()

    async def main() -> None:
        async with Engine(threads=2, name="lanes") as eng:
            h = eng.submit(gate.wait, 10, name="blocker")
            await wait_until_async(lambda: h.status is JobStatus.RUNNING, 10, "the job running")
            v = EngineView(eng)
            try:
                text = v.text()
                assert "thread-1" in text and "thread-2" in text
                assert "blocker" in text and "idle" in text
                assert "blocker (" in v.summary.value
                gate.set()
                await h
                v.flush()
                assert "blocker" not in v.text()
            finally:
                gate.set()
                v.close()

    asyncio.run(main())


def test_percentages_and_eta_in_the_widget() -> None:
    gate = threading.Event()

    def work() -> int:
        for i in range(4):
            god.progress(i + 1, total=10)
            time.sleep(0.02)
        gate.wait(10)
        return 1

    async def main() -> None:
        async with Engine(threads=1) as eng:
            h = eng.submit(work)
            v = JobView(h)
            try:
                await wait_until_async(lambda: "4/10" in v.label.value, 10, "4/10 on the label")
                assert ">40%<" in v.percent.value
                assert "4/10 [00:00&lt;00:00," in v.label.value  # elapsed<ETA
                assert "it/s]" in v.label.value
            finally:
                gate.set()
                await h
                v.close()

    asyncio.run(main())
