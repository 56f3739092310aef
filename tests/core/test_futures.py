"""godnb and concurrent.futures / asyncio: ``h.future``, handles in ``wait`` and
``as_completed``, and what ``eng.executor()`` adds to the standard behaviours (those are in
test_futures_conformance.py): job options, cancel of running jobs, the engine's lock."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.core.futures import JobExecutor, JobFuture
from tests.core import funcs
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)
WORKERS = 2


@pytest.fixture
def eng() -> Iterator[Engine]:
    with Engine(threads=WORKERS, processes=1) as e:
        yield e


@pytest.fixture
def event() -> Iterator[threading.Event]:
    e = threading.Event()
    yield e
    e.set()


def block_workers(eng: Engine, event: threading.Event) -> list[god.JobHandle]:
    """Occupy every thread worker until ``event`` is set; returns once they all run."""
    blockers = [eng.submit(event.wait, 30) for _ in range(WORKERS)]
    wait_until(lambda: all(h.status is JobStatus.RUNNING for h in blockers),
               what="the workers to be busy")
    return blockers


# -- handles in wait() / as_completed() -------------------------------------------------------
def test_handles_pay_nothing_until_asked(eng: Engine) -> None:
    h = eng.submit(abs, -1)
    h.result()
    assert not hasattr(h, "_future") and not hasattr(h, "_cf_waiters")
    cf.wait([h])
    assert not hasattr(h, "_future")  # wait() on a handle makes no future


def test_wait_takes_handles(eng: Engine, event: threading.Event) -> None:
    quick = eng.submit(abs, -2)
    slow = eng.submit(event.wait, 30)
    done, not_done = cf.wait([quick, slow], return_when=cf.FIRST_COMPLETED, timeout=30)
    assert done == {quick} and not_done == {slow}
    bad = eng.submit(funcs.boom)
    done, not_done = cf.wait([slow, bad], return_when=cf.FIRST_EXCEPTION, timeout=30)
    assert done == {bad} and not_done == {slow}
    done, not_done = cf.wait([quick, slow, bad], timeout=0.05)
    assert not_done == {slow}
    event.set()
    done, not_done = cf.wait([quick, slow, bad], return_when=cf.ALL_COMPLETED, timeout=30)
    assert done == {quick, slow, bad} and not not_done


def test_wait_counts_a_cancelled_handle_as_done(eng: Engine, event: threading.Event) -> None:
    block_workers(eng, event)
    h = eng.submit(abs, -1)
    waiting = threading.Thread(target=lambda: h.cancel())
    threading.Timer(0.05, waiting.start).start()
    done, _ = cf.wait([h], timeout=30)
    waiting.join()
    assert done == {h} and h.cancelled()
    # FIRST_EXCEPTION does not stop at a cancelled one, as with standard futures.
    other = eng.submit(abs, -1)
    done, not_done = cf.wait([h, other], return_when=cf.FIRST_EXCEPTION, timeout=0.05)
    assert done == {h} and not_done == {other}


def test_as_completed_takes_handles_and_futures(eng: Engine, event: threading.Event) -> None:
    first = eng.submit(abs, -1)
    last = eng.submit(event.wait, 30)
    plain: cf.Future[int] = cf.Future()
    plain.set_result(3)
    seen = []
    with pytest.raises(TimeoutError, match=r"1 \(of 3\) futures unfinished"):
        for f in cf.as_completed([first, last, plain, first], timeout=0.2):
            seen.append(f)
    assert set(seen) == {first, plain} and len(seen) == 2  # the duplicate comes once
    event.set()
    assert set(cf.as_completed([last, last.future], timeout=30)) == {last, last.future}


def test_wait_on_handles_of_two_engines(eng: Engine) -> None:
    with Engine(threads=1) as other:
        hs = [eng.submit(abs, -1), other.submit(abs, -2), eng.submit(abs, -3).future]
        done, not_done = cf.wait(hs, timeout=30)
        assert done == set(hs) and not not_done


# -- h.future ---------------------------------------------------------------------------------
def test_future_resolves_with_the_output(eng: Engine, event: threading.Event) -> None:
    h = eng.submit(lambda: event.wait(30) and 42)
    fut = h.future
    assert isinstance(fut, cf.Future) and fut is h.future
    assert not fut.done()
    event.set()
    assert fut.result(timeout=30) == 42
    late = eng.submit(abs, -5)
    late.result()
    assert late.future.done() and late.future.result() == 5  # made after the end


def test_future_raises_what_result_raises(eng: Engine) -> None:
    h = eng.submit(funcs.boom, "bad")
    error = h.future.exception(timeout=30)
    assert isinstance(error, god.JobFailed) and isinstance(error.__cause__, RuntimeError)
    with pytest.raises(god.JobFailed, match="bad"):
        h.future.result()
    t = eng.submit(time.sleep, 5, timeout=0.05)
    assert isinstance(t.future.exception(timeout=30), god.JobTimeout)


def test_future_of_a_cancelled_job(eng: Engine, event: threading.Event) -> None:
    block_workers(eng, event)
    h = eng.submit(abs, -1)
    fut = h.future
    assert h.cancel()
    assert fut.cancelled() and fut.done()
    with pytest.raises(god.JobCancelled):
        fut.result()
    with pytest.raises(cf.CancelledError):  # JobCancelled is one
        fut.exception()


def test_future_cancel_cancels_a_pending_job(eng: Engine, event: threading.Event) -> None:
    block_workers(eng, event)
    h = eng.submit(abs, -1)
    assert h.future.cancel()
    assert h.status is JobStatus.CANCELLED
    assert not h.future.cancel() or h.future.cancelled()  # cancel() again: still True


def test_future_cancel_stops_a_running_job(eng: Engine) -> None:
    h = eng.submit(funcs.cooperative)
    fut = h.future
    wait_until(fut.running, what="the job to run")
    assert fut.cancel()  # a thread pool's future would refuse: godnb stops running jobs
    assert fut.cancelled() and not fut.running()
    assert h.status is JobStatus.CANCELLED
    done = eng.submit(abs, -1)
    done.result()
    assert not done.future.cancel()  # an ended job can not be cancelled


def test_wrap_future_and_cancel_from_asyncio(eng: Engine, event: threading.Event) -> None:
    async def main() -> None:
        assert await asyncio.wrap_future(eng.submit(pow, 2, 10).future) == 1024
        h = eng.submit(funcs.cooperative)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(h.future), 0.1)
        # asyncio cancelled its future, and so the job
        wait_until(lambda: h.status is JobStatus.CANCELLED, what="the job to be cancelled")

    asyncio.run(main())


def test_blocking_on_the_loop_for_an_async_job_refuses(event: threading.Event) -> None:
    async def main() -> None:
        async with Engine(threads=1) as eng:  # attached to this running loop
            h = eng.submit(funcs.asleep, 0.05)
            with pytest.raises(god.LoopBlockingError):
                h.future.result()
            with pytest.raises(god.LoopBlockingError):
                cf.wait([h])
            with pytest.raises(god.LoopBlockingError):
                eng.executor().submit(funcs.asleep, 0.01).result()
            assert await asyncio.wrap_future(h.future) == "slept"

    asyncio.run(main())


# -- the executor -----------------------------------------------------------------------------
def test_executor_applies_its_job_options(eng: Engine, event: threading.Event) -> None:
    ex = eng.executor(priority=7, group="alice", name="work", tags=("x", "y"), timeout=20)
    fut = ex.submit(event.wait, 30)
    h = fut.handle
    assert h is not None and eng.get(fut.job_id) is h  # a normal job while it runs
    job = h.job
    assert (job.priority, job.group, job.name, job.tags, job.timeout, job.backend) == \
        (7, "alice", "work", ("x", "y"), 20.0, "thread")
    event.set()
    assert fut.result(timeout=30) is True
    assert ex.options["priority"] == 7


def test_executor_priority_and_retries(eng: Engine, event: threading.Event,
                                       tmp_path: Path) -> None:
    block_workers(eng, event)
    order: list[str] = []
    low = eng.executor(priority=-1).submit(order.append, "low")
    high = eng.executor(priority=5).submit(order.append, "high")
    event.set()
    cf.wait([low, high], timeout=30)
    assert order == ["high", "low"]
    retried = eng.executor(retries=3).submit(funcs.fail_until, str(tmp_path / "n"), 3)
    assert retried.result(timeout=30) == "ok after 3"


def test_executor_timeout(eng: Engine) -> None:
    fut = eng.executor(timeout=0.05).submit(funcs.cooperative)
    error = fut.exception(timeout=30)
    assert isinstance(error, god.JobTimeout) and isinstance(error, TimeoutError)


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"priority": "high"}, god.ValidationError, "priority"),
    ({"timeout": -1}, god.ValidationError, "timeout"),
    ({"retries": -1}, god.ValidationError, "retries"),
    ({"retries": "3"}, TypeError, "retries must be an int or a RetryPolicy"),
    ({"tags": 5}, TypeError, "not iterable"),
    ({"workers": 5}, TypeError, "unexpected keyword argument"),
    ({"backend": "nope"}, ValueError, r"valid backends: \['async', 'inline'"),
])
def test_executor_checks_options_at_once(eng: Engine, options: dict[str, object],
                                         error: type[Exception], match: str) -> None:
    backend = options.pop("backend", None)
    with pytest.raises(error, match=match):
        eng.executor(backend, **options)  # type: ignore[arg-type]


def test_executor_jobs_are_forgotten_once_ended(eng: Engine, event: threading.Event) -> None:
    ex = eng.executor()
    fut = ex.submit(event.wait, 30)
    assert fut.job_id in {h.job_id for h in eng.jobs()}
    event.set()
    fut.result(timeout=30)
    assert eng.get(fut.job_id) is None and fut.handle is None
    assert fut.result() is True  # the future holds the result
    assert eng.stats().counts["completed"] >= 1


def test_executor_runs_coroutine_functions_on_the_async_backend(eng: Engine) -> None:
    with eng.executor() as ex:
        assert ex.submit(funcs.adouble, 4).result(timeout=30) == 8


def test_run_in_executor(eng: Engine) -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(eng.executor(), pow, 2, 10)

    assert asyncio.run(main()) == 1024


def test_run_in_executor_needs_the_executor_not_the_engine(eng: Engine) -> None:
    # Documented: asyncio checks for a concurrent.futures.Future after submitting.
    async def main() -> None:
        with pytest.raises(AssertionError, match=r"concurrent\.futures\.Future is expected"):
            await asyncio.get_running_loop().run_in_executor(eng, abs, -1)  # type: ignore[arg-type]

    asyncio.run(main())
    eng.wait()


def test_process_executor_raises_the_jobs_own_error(eng: Engine) -> None:
    with eng.executor("process") as ex:
        with pytest.raises(RuntimeError, match="far away"):
            ex.submit(funcs.boom, "far away").result(timeout=60)
        assert list(ex.map(funcs.double, range(4), chunksize=2)) == [0, 2, 4, 6]


def test_inline_executor_can_submit_from_a_job(eng: Engine) -> None:
    ex = eng.executor("inline")
    outer = ex.submit(lambda: ex.submit(abs, -2).result() + 1)
    assert outer.done() and outer.result() == 3


def test_callbacks_run_outside_the_engines_lock(eng: Engine) -> None:
    ex = eng.executor()
    seen: list[object] = []
    done = threading.Event()

    def callback(f: cf.Future[int]) -> None:
        seen.append(eng._rt.lock._is_owned())  # type: ignore[attr-defined]
        seen.append(ex.submit(abs, -3).result(timeout=30))  # waits on a worker: no deadlock
        done.set()

    ex.submit(abs, -1).add_done_callback(callback)
    assert done.wait(30)
    assert seen == [False, 3]


def test_max_workers_caps_the_executors_calls(eng: Engine, event: threading.Event) -> None:
    ex = eng.executor(max_workers=1)
    first = ex.submit(event.wait, 30)
    later = [ex.submit(abs, -i) for i in range(1, 4)]
    wait_until(first.running, what="the first call to run")
    # One call in the engine; the others wait in the executor, not yet jobs.
    assert [f.handle is None for f in later] == [True, True, True]
    assert later[0].job_id is None and not later[0].running()
    called = []
    later[1].add_done_callback(lambda f: called.append(f.cancelled()))
    assert later[1].cancel() and called == [True]
    with pytest.raises(god.JobCancelled):
        later[1].result()
    before = eng.stats().submitted
    event.set()
    assert [later[0].result(timeout=30), later[2].result(timeout=30)] == [1, 3]
    assert eng.stats().submitted - before == 2  # the cancelled call never became a job
    assert list(ex.map(abs, [-1, -2, -3], chunksize=2)) == [1, 2, 3]
    with pytest.raises(ZeroDivisionError):
        list(ex.map(divmod, [1, 1], [1, 0]))


def test_max_workers_shutdown_waits_for_held_calls(eng: Engine) -> None:
    ex = eng.executor(max_workers=1)
    fs = [ex.submit(time.sleep, 0.01) for _ in range(5)]
    ex.shutdown(wait=True)
    assert all(f.done() and not f.cancelled() for f in fs)


def test_executor_with_a_group_shows_one_bar(eng: Engine) -> None:
    group = god.JobGroup("sweep")
    ex = JobExecutor(eng, jobs=group)
    ex.submit(abs, -1).result()
    list(ex.map(abs, [-2, -3]))
    ex.submit(abs, -4).result()
    assert len(group) == 4 and group.finished_count == 4
    assert group.results() == [1, 2, 3, 4]


def test_engine_shutdown_resolves_the_futures(event: threading.Event) -> None:
    eng = Engine(threads=1)
    ex = eng.executor()
    running = ex.submit(event.wait, 30)
    wait_until(running.running, what="the first job to run")
    pending = ex.submit(abs, -1)
    eng.shutdown(wait=False)
    assert running.cancelled()
    assert pending.done()  # cancelled, or run by the stopped worker's replacement first
    with pytest.raises(RuntimeError, match="shut down"):
        ex.submit(abs, -1)


def test_jobfuture_is_exported_where_documented() -> None:
    assert JobFuture.__module__ == "godnb.core.futures"
    assert issubclass(god.JobCancelled, cf.CancelledError)
    assert "executor" in dir(Engine) and "future" in dir(god.JobHandle)
