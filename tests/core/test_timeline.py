"""eng.timeline() and eng.report(): what the runtime records per run, and the page."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.core.timeline import Timeline, TimelineRecorder, lane_label
from godnb.views.timeline import CANCELLED, COMPLETED, FAILED, RETRIED, RUNNING
from tests.core import funcs
from tests.waiting import wait_until


class FakeRun:
    def __init__(self, worker: object, backend: str, started: float) -> None:
        self.worker, self.backend, self.started = worker, backend, started


def test_recorder_grows_then_wraps_keeping_the_newest_runs() -> None:
    clock = iter(range(100, 10_000)).__next__
    rec = TimelineRecorder(capacity=3000, clock=lambda: float(clock()))
    run = FakeRun(None, "async", 1.0)
    for i in range(3500):
        rec.record(run, f"t{i % 3}", COMPLETED, end=float(i))
    data = rec.snapshot()
    assert (data.runs, data.recorded, data.dropped) == (3000, 3500, 500)
    assert list(data.end[:2]) == [500.0, 501.0] and data.end[-1] == 3499.0  # oldest first
    assert data.lanes == ("async",) and data.packed == frozenset({0})
    # tasks take ids in the order the held runs show them: run 500 (t2) is the oldest held
    assert data.tasks == ("t2", "t0", "t1")
    rec.clear()
    assert rec.snapshot().runs == 0
    with pytest.raises(ValueError, match="capacity must be a positive int"):
        TimelineRecorder(capacity=0)


def test_lane_labels() -> None:
    t = threading.Thread(target=lambda: None, name="godnb-thread-3")
    assert lane_label(t, "thread", 1) == "thread-3"
    assert lane_label(threading.Thread(name="mine"), "thread", 1) == "mine"

    class Slot:
        index = 1

    assert lane_label(Slot(), "process", 5) == "process-2"
    assert lane_label(None, "async", 1) == "async"
    assert lane_label(object(), "gpu", 4) == "gpu-4"


def _snap(eng: Engine) -> tuple[list[str], list[str], list[int]]:
    data = eng.timeline().snapshot()
    lanes = [data.lanes[k] for k in data.lane]
    tasks = [data.tasks[t] for t in data.task]
    return lanes, tasks, list(data.status)


def test_thread_runs_land_on_their_worker_lanes_with_outcomes(tmp_path: Path) -> None:
    with Engine(threads=2, name="tl") as eng:
        ok = eng.map(funcs.double, range(20))
        ok.results()
        bad = eng.submit(funcs.boom)
        with pytest.raises(god.JobFailed):
            bad.result(timeout=10)
        # fails once (a ConnectionError: retried), then succeeds
        flaky = eng.submit(funcs.fail_until, str(tmp_path / "n"), 2, retries=1)
        flaky.result(timeout=10)
        lanes, tasks, status = _snap(eng)
    assert set(lanes) <= {"thread-1", "thread-2"} and len(lanes) == 23
    assert tasks.count("double") == 20
    assert status[tasks.index("boom")] == FAILED
    flaky_runs = [s for t, s in zip(tasks, status, strict=True) if t == "fail_until"]
    assert flaky_runs == [RETRIED, COMPLETED]  # one mark per attempt


def test_running_and_cancelled_runs() -> None:
    gate = threading.Event()
    with Engine(threads=1) as eng:
        h = eng.submit(gate.wait, 30, name="blocker")
        wait_until(lambda: h.status is JobStatus.RUNNING, 5, "the job to start")
        data = eng.timeline().snapshot()
        assert list(data.status) == [RUNNING] and data.end[0] <= data.now
        assert data.tasks[data.task[0]] == "blocker"
        h.cancel()
        gate.set()
        _, tasks, status = _snap(eng)
    assert (tasks, status) == (["blocker"], [CANCELLED])


def test_pending_cancels_and_cache_hits_draw_nothing() -> None:
    with Engine(threads=1, backend="inline", cache=god.Cache()) as eng:
        eng.submit(funcs.double, 3, cache=True).result()
        eng.submit(funcs.double, 3, cache=True).result()  # a hit: it did not run
        data = eng.timeline().snapshot()
    assert data.runs == 1


@pytest.mark.timeout(60)
def test_process_and_async_lanes() -> None:
    async def nap(x: int) -> int:
        await asyncio.sleep(0.01)
        return x

    async def main() -> tuple[list[str], frozenset[int], tuple[str, ...]]:
        async with Engine(threads=1, processes=2) as eng:
            await eng.map(funcs.double, range(6), backend="process")
            await eng.map(nap, range(10))
            data = eng.timeline().snapshot()
            return [data.lanes[k] for k in data.lane], data.packed, data.lanes

    lanes, packed, names = asyncio.run(main())
    assert set(lanes) - {"async"} <= {"process-1", "process-2"}
    assert lanes.count("async") == 10
    assert packed == frozenset({names.index("async")})  # overlapping runs: sub-rows


def test_timeline_displays_as_svg_and_text() -> None:
    with Engine(threads=2, backend="inline", name="shown") as eng:
        eng.map(funcs.double, range(5))
        tl = eng.timeline()
        assert isinstance(tl, Timeline)
        html = tl._repr_html_()
        text = str(tl)
        svg = tl.to_svg()
    assert "<svg" in html and "double" in html and "timeline shown: 5 runs" in html
    assert text.startswith("timeline shown: 5 runs on 1 lane") and "inline |" in text
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def _links(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""", html,
                      re.IGNORECASE)


@pytest.mark.timeout(60)
def test_report_is_one_self_contained_file(tmp_path: Path) -> None:
    with Engine(threads=2, name="shared") as eng:
        eng.map(funcs.double, range(30)).results()
        with pytest.raises(god.JobFailed):
            eng.submit(funcs.boom).result(timeout=10)
        path = eng.report(tmp_path / "run.html")
    assert path == tmp_path / "run.html"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert _links(html) == []                   # nothing fetched from the network
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "url(http" not in html and "http://" not in html and "https://" not in html
    assert "godnb run report: shared" in html
    for section in ("<h2>Summary</h2>", "<h2>Timeline</h2>", "<h2>Profile</h2>",
                    "<h2>Failures (1)</h2>"):
        assert section in html
    assert "<svg" in html and 'class="godnb-profile"' in html
    assert "RuntimeError: boom" in html  # the failure's error


def test_report_works_without_ipython(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, godnb as god\n"
            "with god.Engine(threads=1, backend='inline') as eng:\n"
            "    eng.map(abs, range(3)); eng.report(sys.argv[1])\n"
            "assert 'IPython' not in sys.modules and 'ipywidgets' not in sys.modules\n")
    out = tmp_path / "r.html"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=60)
    assert "<svg" in out.read_text()


def test_engine_timeline_size_bounds_what_is_kept() -> None:
    with Engine(threads=1, backend="inline", timeline_size=10) as eng:
        eng.map(funcs.double, range(25))
        data = eng.timeline().snapshot()
        started = time.perf_counter()
        eng.timeline()._repr_html_()
        assert time.perf_counter() - started < 5
    assert (data.runs, data.recorded) == (10, 25)


def test_runs_recorded_between_reads_fold_in_order_across_many_reads() -> None:
    rec = TimelineRecorder(capacity=5, clock=lambda: 0.0)
    run = FakeRun(None, "async", 1.0)
    seen: list[float] = []
    for i in range(12):
        rec.record(run, "t", COMPLETED, end=float(i))
        if i % 4 == 3:  # read now and then, as a live view does
            seen = list(rec.snapshot().end)
    assert seen == [7.0, 8.0, 9.0, 10.0, 11.0] and rec.snapshot().recorded == 12
    assert rec.snapshot().dropped == 7


def test_register_names_the_lanes_and_tasks_of_held_runs_in_the_order_they_ended() -> None:
    rec = TimelineRecorder(capacity=4, clock=lambda: 0.0)
    for i in range(6):  # the ring wraps: runs 0 and 1 are gone before anything reads
        rec.record(FakeRun(None, f"b{i}", 0.0), f"t{i}", COMPLETED, end=float(i))
    rec.register()
    assert rec.lane_names == ["b2", "b3", "b4", "b5"]
    assert rec.task_names == ["t2", "t3", "t4", "t5"]
    rec.record(FakeRun(None, "b9", 0.0), "t9", COMPLETED, end=9.0)
    rec.register()
    rec.register()  # nothing new: nothing registered twice
    assert rec.lane_names[-1] == "b9" and rec.task_names == ["t2", "t3", "t4", "t5", "t9"]
    assert rec.packed == {0, 1, 2, 3, 4}  # workerless runs share their backend's lane


def test_a_shared_lane_stays_in_the_engine_view_after_its_runs_ended() -> None:
    async def quick() -> int:
        return 1

    with Engine(threads=1, name="lanes") as eng:
        eng.submit(quick, backend="async").result(timeout=10)
        names = [name for name, _backend, _jobs in eng.timeline().lanes_now()]
    assert names == ["async"]  # the thread pool never started: no thread lanes
