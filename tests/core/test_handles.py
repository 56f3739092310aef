"""JobHandle and JobGroup: waiting (blocking and awaiting), results, errors, callbacks,
progress and counts.

Jobs are ended by hand through the runtime's host protocol (tests/core/fakes.py), so each
test decides exactly when a job ends, and from which thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import godnb as god
from godnb.core.handles import JobGroup, JobHandle
from godnb.core.runtime import Runtime
from godnb.errors import JobCancelled, JobFailed, JobTimeout, LoopBlockingError
from godnb.execution.executor import Run
from godnb.models.job import JobStatus, Progress
from tests.core.fakes import runtime_on_this_loop, submit, submit_map, take, timers, work

PENDING, RUNNING = JobStatus.PENDING, JobStatus.RUNNING
COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED





def finish_later(rt: Runtime, run: Run, value: object) -> threading.Thread:
    """End ``run`` from another thread, as a backend's worker does."""
    worker = threading.Thread(target=rt.finish, args=(run, value), name="worker")
    worker.start()
    return worker


# -- JobHandle: waiting and outcomes ------------------------------------------------------

def test_result_of_a_completed_job(rt: Runtime) -> None:
    h = submit(rt, work, 3)
    assert not h.done() and h.outcome is None
    rt.finish(take(rt), value=9)
    assert h.done() and h.wait(0) is True
    assert h.result() == 9 and h.result(timeout=0) == 9
    assert h.exception() is None
    out = h.outcome
    assert out is not None
    assert (out.job_id, out.status, out.output, out.attempts) == (h.job_id, COMPLETED, 9, 1)
    assert repr(h) == f"<JobHandle {h.job_id} work completed>"


def test_wait_and_result_time_out_while_the_job_runs(rt: Runtime) -> None:
    h = submit(rt, work)
    take(rt)
    assert h.wait(0.01) is False
    with pytest.raises(TimeoutError, match=rf"job {h.job_id} did not finish within 0.01 s; "
                                           r"it is still running"):
        h.result(timeout=0.01)
    with pytest.raises(TimeoutError):
        h.exception(timeout=0.01)


def test_a_blocked_wait_wakes_when_another_thread_ends_the_job(rt: Runtime) -> None:
    h = submit(rt, work)
    worker = finish_later(rt, take(rt), "done")
    assert h.result(timeout=10) == "done"
    worker.join(10)


def test_a_failed_job_raises_job_failed_from_its_error(rt: Runtime) -> None:
    h = submit(rt, work)
    error = ValueError("bad row")
    rt.finish(take(rt), error=error)
    with pytest.raises(JobFailed, match=r"failed after 1 attempt\(s\): ValueError: bad row") \
            as info:
        h.result()
    assert info.value.__cause__ is error
    assert info.value.job_id == h.job_id and info.value.attempt == 1
    assert info.value.result is not None and info.value.result.status is FAILED
    exc = h.exception()
    assert isinstance(exc, JobFailed) and exc.__cause__ is error


def test_a_timed_out_job_raises_job_timeout(rt: Runtime) -> None:
    h = submit(rt, work, timeout=1.0)
    take(rt)
    timers(rt).advance(1.0)
    with pytest.raises(JobTimeout, match="timed out after 1 s"):
        h.result()
    assert isinstance(h.exception(), JobTimeout)  # not a JobFailed, and still returned


def test_a_cancelled_job_raises_job_cancelled(rt: Runtime) -> None:
    h = submit(rt, work)
    assert h.cancel() is True
    assert h.cancel() is False
    with pytest.raises(JobCancelled, match=rf"job {h.job_id} \(work\) was cancelled"):
        h.result()
    assert isinstance(h.exception(), JobCancelled)


def test_await_a_handle_ended_later_from_another_thread(rt: Runtime) -> None:
    h = submit(rt, work)
    run = take(rt)

    async def main() -> object:
        waiter = asyncio.ensure_future(h._wait_async())
        await asyncio.sleep(0)
        assert not waiter.done()
        worker = finish_later(rt, run, "awaited")
        out = await asyncio.wait_for(waiter, 10)
        worker.join(10)
        return out

    assert asyncio.run(main()) == "awaited"


def test_await_a_finished_handle_and_its_errors(rt: Runtime) -> None:
    ok, bad = submit(rt, work), submit(rt, work)
    rt.finish(take(rt), value=1)
    rt.finish(take(rt), error=RuntimeError("no"))

    async def main() -> None:
        assert await ok == 1
        with pytest.raises(JobFailed, match="RuntimeError: no"):
            await bad

    asyncio.run(main())


def test_await_from_two_loops_wakes_both(rt: Runtime) -> None:
    h = submit(rt, work)
    run = take(rt)
    results: list[object] = []
    started = threading.Barrier(3)

    def waiter() -> None:
        async def main() -> None:
            fut = asyncio.ensure_future(h._wait_async())
            await asyncio.sleep(0)
            started.wait(10)
            results.append(await asyncio.wait_for(fut, 10))

        asyncio.run(main())

    threads = [threading.Thread(target=waiter, name=f"loop-{i}") for i in range(2)]
    for t in threads:
        t.start()
    started.wait(10)
    rt.finish(run, value="both")
    for t in threads:
        t.join(10)
    assert results == ["both", "both"]


# -- JobHandle: callbacks ----------------------------------------------------------------

def test_done_callbacks_run_once_at_the_end_and_at_once_when_added_after(rt: Runtime) -> None:
    h = submit(rt, work)
    seen: list[tuple[str, JobStatus]] = []
    h.add_done_callback(lambda x: seen.append(("before", x.status)))
    run = take(rt)
    assert seen == []
    rt.finish(run, value=1)
    assert seen == [("before", COMPLETED)]
    h.add_done_callback(lambda x: seen.append(("after", x.status)))
    assert seen == [("before", COMPLETED), ("after", COMPLETED)]
    rt.finish(run, value=2)  # a late finish calls nothing again
    assert len(seen) == 2


def test_a_failing_callback_is_logged_and_the_others_still_run(
        rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    h = submit(rt, work)
    seen: list[str] = []

    def broken(_: JobHandle) -> None:
        raise RuntimeError("callback bug")

    h.add_done_callback(broken)
    h.add_done_callback(lambda x: seen.append(x.job_id))
    with caplog.at_level(logging.ERROR, logger="godnb.engine"):
        h.cancel()
    assert seen == [h.job_id]
    assert f"done callback of job {h.job_id} failed" in caplog.text
    assert h.status is CANCELLED


# -- JobHandle: progress ---------------------------------------------------------------------

def test_progress_as_reported_and_complete_once_done(rt: Runtime) -> None:
    h = submit(rt, work)
    assert h.progress == Progress()
    run = take(rt)
    run.report(3, 10, "parsing")
    assert (h.progress.done, h.progress.total, h.progress.fraction) == (3, 10, 0.3)
    rt.finish(run, value=1)
    assert (h.progress.done, h.progress.total, h.progress.message) == (10, 10, "parsing")
    assert h.progress.fraction == 1.0


def test_a_completed_job_that_never_reported_reads_as_complete(rt: Runtime) -> None:
    h = submit(rt, work)
    rt.finish(take(rt), value=1)
    assert (h.progress.done, h.progress.total, h.progress.fraction) == (1, 1, 1.0)


def test_a_failed_job_keeps_its_last_progress(rt: Runtime) -> None:
    h = submit(rt, work)
    run = take(rt)
    run.report(2, 5, None)
    rt.finish(run, error=RuntimeError("x"))
    assert (h.progress.done, h.progress.total) == (2, 5)


# -- JobGroup ------------------------------------------------------------------------------------

def test_group_counts_and_progress_follow_its_jobs(rt: Runtime) -> None:
    g = submit_map(rt, work, [0, 1, 2, 3, 4])
    assert len(g) == 5 and list(g) == g.handles and g[1] is g.handles[1]
    assert g.counts() == {"pending": 5, "running": 0, "completed": 0, "failed": 0,
                          "cancelled": 0}
    runs = [take(rt), take(rt), take(rt)]
    rt.finish(runs[0], value=0)
    rt.finish(runs[1], error=RuntimeError("x"))
    g[4].cancel()
    assert g.counts() == {"pending": 1, "running": 1, "completed": 1, "failed": 1,
                          "cancelled": 1}
    assert (g.progress.done, g.progress.total, g.finished_count) == (3, 5, 3)
    assert not g.done()
    assert repr(g) == "<JobGroup work 3/5 done>"
    rt.finish(runs[2], value=2)
    rt.finish(take(rt), value=3)
    assert g.done() and g.progress.fraction == 1.0
    assert g.counts() == {"pending": 0, "running": 0, "completed": 3, "failed": 1,
                          "cancelled": 1}


def test_group_results_come_in_input_order_whatever_the_end_order(rt: Runtime) -> None:
    g = submit_map(rt, work, [10, 20, 30])
    runs = [take(rt) for _ in range(3)]
    for run in reversed(runs):
        rt.finish(run, value=run.args[0] * 2)
    assert g.results() == [20, 40, 60]
    assert g.exceptions() == [None, None, None]


def test_group_results_raise_the_first_error_in_input_order(rt: Runtime) -> None:
    g = submit_map(rt, work, [0, 1, 2])
    runs = [take(rt) for _ in range(3)]
    rt.finish(runs[2], error=RuntimeError("third"))
    rt.finish(runs[1], error=RuntimeError("second"))
    rt.finish(runs[0], value=0)
    with pytest.raises(JobFailed, match="RuntimeError: second") as info:
        g.results()
    assert info.value.job_id == g[1].job_id
    errors = g.exceptions()
    assert errors[0] is None
    assert [str(e.__cause__) for e in errors[1:] if e is not None] == ["second", "third"]


def test_group_wait_times_out_then_wakes_once_every_job_ended(rt: Runtime) -> None:
    g = submit_map(rt, work, [0, 1])
    runs = [take(rt), take(rt)]
    assert g.wait(0.01) is False
    with pytest.raises(TimeoutError, match=r"2 of 2 jobs still running after 0\.01 s"):
        g.results(timeout=0.01)
    rt.finish(runs[0], value=0)
    worker = finish_later(rt, runs[1], 1)
    assert g.wait(10) is True
    worker.join(10)
    assert g.results(timeout=0) == [0, 1]


def test_group_cancel_cancels_what_has_not_ended(rt: Runtime) -> None:
    g = submit_map(rt, work, [0, 1, 2, 3])
    runs = [take(rt), take(rt)]
    rt.finish(runs[0], value=0)
    assert g.cancel() == 3  # one running, two pending
    assert g.cancel() == 0
    assert [h.status for h in g] == [COMPLETED, CANCELLED, CANCELLED, CANCELLED]
    assert g.done() and g.counts()["cancelled"] == 3
    with pytest.raises(JobCancelled):
        g.results()


def test_await_a_group(rt: Runtime) -> None:
    g = submit_map(rt, work, [1, 2, 3])
    runs = [take(rt) for _ in range(3)]

    async def main() -> list[object]:
        gathered = asyncio.ensure_future(g._gather())
        await asyncio.sleep(0)
        assert not gathered.done()
        for run in runs[:2]:
            rt.finish(run, value=run.args[0])
        await asyncio.sleep(0)
        assert not gathered.done()  # one wake-up for the group, at its end
        worker = finish_later(rt, runs[2], 3)
        out = await asyncio.wait_for(gathered, 10)
        worker.join(10)
        return out

    assert asyncio.run(main()) == [1, 2, 3]


def test_an_ended_job_lets_go_of_its_group(rt: Runtime) -> None:
    g = submit_map(rt, work, [0])
    assert g[0].jobgroup is g
    rt.finish(take(rt), value=0)
    assert g[0].jobgroup is None  # a kept finished handle must not pin its whole map()


def test_an_empty_group_is_done() -> None:
    g = JobGroup()
    assert g.done() and g.wait(0) and g.results() == [] and g.loop is None
    assert g.counts()["pending"] == 0


# -- the event loop's own thread ---------------------------------------------------------------

def test_blocking_waits_for_async_jobs_on_the_loop_thread_raise() -> None:
    async def main() -> None:
        async with runtime_on_this_loop() as rt:
            h = submit(rt, work, backend="looped")
            g = submit_map(rt, work, [1, 2], backend="looped")
            for wait in (h.wait, h.result, h.exception, g.wait, g.results):
                with pytest.raises(LoopBlockingError, match=r"use `await h`"):
                    wait(1)
            thread_job = submit(rt, work, backend="manual")
            assert thread_job.wait(0.01) is False  # a thread job may be waited for here
            for run in [take(rt, "looped") for _ in range(3)]:
                rt.finish(run, value=0)
            assert h.result() == 0 and g.results() == [0, 0]  # ended: no wait, no error
            thread_job.cancel()

    asyncio.run(main())


def test_an_engines_async_job_refuses_a_blocking_result_in_a_cell() -> None:
    async def nap() -> str:
        await asyncio.sleep(0.01)
        return "napped"

    async def main() -> None:
        async with god.Engine(threads=1) as eng:
            h = eng.submit(nap)
            g = eng.map(lambda x: x, [1])
            assert g.results(timeout=10) == [1]  # thread jobs: fine on the loop thread
            with pytest.raises(LoopBlockingError, match="await h"):
                h.result(timeout=10)
            assert await h == "napped"

    asyncio.run(main())
