"""``eng.executor()`` against the behaviours CPython's own executor tests check.

Modelled on Lib/test/test_concurrent_futures (ExecutorTest, WaitTests, AsCompletedTests,
the shutdown tests and FutureTests where they concern an executor's futures), rewritten
for pytest and made fast: events instead of sleeps wherever the test allows. The same
tests run on the thread backend and, where the call can cross a process, the process one.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import itertools
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

from godnb import Engine
from godnb.core.futures import JobExecutor
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)
WORKERS = 4


def mul(x: int, y: int) -> int:
    return x * y


def capture(*args: object, **kwargs: object) -> tuple[object, object]:
    return args, kwargs


def wait_and_raise(event: threading.Event) -> None:
    event.wait(30)
    raise Exception("this is an exception")


class MyObject:
    def my_method(self) -> None:
        pass


def make_dummy_object(_: object) -> MyObject:
    return MyObject()


# The standard library's precomputed futures, made through the public Future API.
def successful() -> cf.Future[int]:
    f: cf.Future[int] = cf.Future()
    f.set_result(42)
    return f


def failed() -> cf.Future[int]:
    f: cf.Future[int] = cf.Future()
    f.set_exception(OSError())
    return f


def cancelled() -> cf.Future[int]:
    f: cf.Future[int] = cf.Future()
    f.cancel()
    return f


def cancelled_and_notified() -> cf.Future[int]:
    f = cancelled()
    f.set_running_or_notify_cancel()
    return f


def running() -> cf.Future[int]:
    f: cf.Future[int] = cf.Future()
    f.set_running_or_notify_cancel()
    return f


@pytest.fixture
def eng() -> Iterator[Engine]:
    with Engine(threads=WORKERS, processes=2) as e:
        yield e


@pytest.fixture
def ex(eng: Engine) -> Iterator[JobExecutor]:
    executor = eng.executor()
    yield executor
    executor.shutdown(wait=True)


@pytest.fixture
def event() -> Iterator[threading.Event]:
    e = threading.Event()
    yield e
    e.set()  # never leave a worker blocked on a failed test


# -- ExecutorTest ------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_submit(eng: Engine, backend: str) -> None:
    with eng.executor(backend) as ex:
        future = ex.submit(pow, 2, 8)
        assert future.result(timeout=30) == 256
        assert isinstance(future, cf.Future)


def test_submit_keyword(ex: JobExecutor) -> None:
    assert ex.submit(mul, 2, y=8).result() == 16
    assert ex.submit(capture, 1, self=2, fn=3).result() == ((1,), {"self": 2, "fn": 3})
    # submit()'s own option names are the call's keywords here: the options are the
    # executor's.
    assert ex.submit(capture, priority=1, name="x").result() == ((), {"priority": 1,
                                                                    "name": "x"})
    with pytest.raises(TypeError):
        ex.submit(fn=capture, arg=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ex.submit(arg=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_map(eng: Engine, backend: str) -> None:
    with eng.executor(backend) as ex:
        expected = list(map(pow, range(10), range(10)))
        assert list(ex.map(pow, range(10), range(10))) == expected
        assert list(ex.map(pow, range(10), range(10), chunksize=3)) == expected


def test_map_empty_and_bad_chunksize(ex: JobExecutor) -> None:
    assert list(ex.map(pow, [], [])) == []
    with pytest.raises(ValueError, match="chunksize must be >= 1"):
        ex.map(pow, [1], [1], chunksize=0)


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_exception(ex: JobExecutor, chunksize: int) -> None:
    it = ex.map(divmod, [1, 1, 1, 1], [2, 3, 0, 5], chunksize=chunksize)
    assert next(it) == (0, 1)
    assert next(it) == (0, 1)
    with pytest.raises(ZeroDivisionError):
        next(it)


def test_map_timeout(ex: JobExecutor, event: threading.Event) -> None:
    results = []
    with pytest.raises(TimeoutError):
        for r in ex.map(lambda x: event.wait(30) if x else None, [0, 0, 1], timeout=0.3):
            results.append(r)
    assert results == [None, None]


def test_map_is_lazy_and_ordered(ex: JobExecutor, event: threading.Event) -> None:
    # The first result comes while a later item still waits: map does not gather first.
    it = ex.map(lambda x: event.wait(30) and x if x else x, [0, 1])
    assert next(it) == 0
    event.set()
    assert next(it) == 1


def test_map_closed_early_cancels_the_rest(ex: JobExecutor, event: threading.Event) -> None:
    before = ex.engine.stats().counts["cancelled"]
    it = ex.map(lambda x: x or event.wait(30), [1, *[0] * 3 * WORKERS])
    assert next(it) == 1
    it.close()  # waiting and running jobs alike: godnb cancels a running job too
    assert ex.engine.stats().counts["cancelled"] - before == 3 * WORKERS


def test_shutdown_race_issue12456(ex: JobExecutor) -> None:
    ex.map(str, [2] * (WORKERS + 1))
    ex.shutdown()


def test_no_stale_references(ex: JobExecutor) -> None:
    my_object = MyObject()
    collected = threading.Event()
    ref = weakref.ref(my_object, lambda obj: collected.set())
    ex.submit(my_object.my_method)  # the future is discarded on purpose
    del my_object
    # No gc.collect(): nothing may keep the call in a cycle either. A worker drops the
    # call it ran when it takes its next job or its idle poll ends (0.5 s).
    assert collected.wait(10), f"stale reference to the call: {gc.get_referrers(ref())}"


def test_free_reference(ex: JobExecutor) -> None:
    # The result iterator keeps no reference to the results it yielded.
    for obj in ex.map(make_dummy_object, range(10)):
        wr = weakref.ref(obj)
        del obj
        gc.collect()
        assert wr() is None


@pytest.mark.parametrize("number", [0, -1])
def test_max_workers_negative(eng: Engine, number: int) -> None:
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        eng.executor(max_workers=number)


def test_shutdown_cancel_futures_with_max_workers(eng: Engine) -> None:
    # CPython's own shape: few workers, many short calls, most of them cancelled.
    ex = eng.executor(max_workers=2)
    fs = [ex.submit(time.sleep, 0.05) for _ in range(50)]
    ex.shutdown(cancel_futures=True)
    cancelled_fs = [f for f in fs if f.cancelled()]
    assert len(cancelled_fs) > 20
    others = [f for f in fs if not f.cancelled()]
    assert others
    for f in others:
        assert f.done() and f.exception() is None


# -- WaitTests -----------------------------------------------------------------------------
def test_wait_duplicates_issue20369(ex: JobExecutor) -> None:
    future = ex.submit(mul, 1, 2)
    done, not_done = cf.wait([future, future], return_when=cf.ALL_COMPLETED)
    assert done == {future}
    assert not_done == set()


def test_first_completed(ex: JobExecutor, event: threading.Event) -> None:
    c = cancelled()
    future1 = ex.submit(mul, 21, 2)
    future2 = ex.submit(event.wait, 30)
    done, not_done = cf.wait([c, future1, future2], return_when=cf.FIRST_COMPLETED)
    assert done == {future1}
    assert not_done == {c, future2}
    event.set()
    assert future2.result(timeout=30) is True


def test_first_completed_some_already_completed(ex: JobExecutor,
                                                event: threading.Event) -> None:
    cn, ok = cancelled_and_notified(), successful()
    future1 = ex.submit(event.wait, 30)
    finished, pending = cf.wait([cn, ok, future1], return_when=cf.FIRST_COMPLETED)
    assert finished == {cn, ok}
    assert pending == {future1}


def test_first_exception(ex: JobExecutor) -> None:
    event1, event2 = threading.Event(), threading.Event()
    try:
        future1 = ex.submit(mul, 2, 21)
        future2 = ex.submit(wait_and_raise, event1)
        future3 = ex.submit(event2.wait, 30)

        def wait_for_future1() -> None:  # future1 completes before future2 raises
            future1.result()
            event1.set()

        t = threading.Thread(target=wait_for_future1)
        t.start()
        finished, pending = cf.wait([future1, future2, future3],
                                    return_when=cf.FIRST_EXCEPTION)
        assert finished == {future1, future2}
        assert pending == {future3}
        t.join()
    finally:
        event1.set()
        event2.set()
    assert future3.result(timeout=30) is True


def test_first_exception_some_already_complete(ex: JobExecutor,
                                               event: threading.Event) -> None:
    ok, c, cn = successful(), cancelled(), cancelled_and_notified()
    future1 = ex.submit(divmod, 21, 0)
    future2 = ex.submit(event.wait, 30)
    finished, pending = cf.wait([ok, c, cn, future1, future2],
                                return_when=cf.FIRST_EXCEPTION)
    assert finished == {ok, cn, future1}
    assert pending == {c, future2}


def test_first_exception_one_already_failed(ex: JobExecutor, event: threading.Event) -> None:
    bad = failed()
    future1 = ex.submit(event.wait, 30)
    finished, pending = cf.wait([bad, future1], return_when=cf.FIRST_EXCEPTION)
    assert finished == {bad}
    assert pending == {future1}


def test_all_completed(ex: JobExecutor) -> None:
    ok, cn, bad = successful(), cancelled_and_notified(), failed()
    future1 = ex.submit(divmod, 2, 0)
    future2 = ex.submit(mul, 2, 21)
    finished, pending = cf.wait([ok, cn, bad, future1, future2],
                                return_when=cf.ALL_COMPLETED)
    assert finished == {ok, cn, bad, future1, future2}
    assert pending == set()


def test_wait_timeout(ex: JobExecutor, event: threading.Event) -> None:
    cn, bad, ok = cancelled_and_notified(), failed(), successful()
    future = ex.submit(event.wait, 30)
    finished, pending = cf.wait([cn, bad, ok, future], timeout=0.05,
                                return_when=cf.ALL_COMPLETED)
    assert finished == {cn, bad, ok}
    assert pending == {future}


def test_pending_calls_race(ex: JobExecutor) -> None:
    # Many jobs released at once while a thread waits on all of them.
    event = threading.Event()
    fs = {ex.submit(event.wait, 30) for _ in range(100)}
    event.set()
    done, not_done = cf.wait(fs, timeout=30, return_when=cf.ALL_COMPLETED)
    assert len(done) == 100 and not not_done


# -- AsCompletedTests ----------------------------------------------------------------------
def test_as_completed_no_timeout(ex: JobExecutor) -> None:
    cn, bad, ok = cancelled_and_notified(), failed(), successful()
    future1 = ex.submit(mul, 2, 21)
    future2 = ex.submit(mul, 7, 6)
    completed = set(cf.as_completed([cn, bad, ok, future1, future2]))
    assert completed == {cn, bad, ok, future1, future2}


@pytest.mark.parametrize("timeout", [0, 0.1])
def test_as_completed_times_out(ex: JobExecutor, event: threading.Event,
                                timeout: float) -> None:
    already = {cancelled_and_notified(), failed(), successful()}
    future = ex.submit(event.wait, 30)
    completed = set()
    with pytest.raises(TimeoutError):
        for f in cf.as_completed(already | {future}, timeout):
            completed.add(f)
    assert completed == already


def test_as_completed_duplicates(ex: JobExecutor) -> None:
    future1 = ex.submit(time.sleep, 0.05)
    assert len(list(cf.as_completed(itertools.repeat(future1, 3)))) == 1


def test_as_completed_frees_yielded_futures(ex: JobExecutor) -> None:
    futures_list = [ex.submit(mul, i, 2) for i in range(8)]
    for future in cf.as_completed(futures_list, timeout=30):
        futures_list.remove(future)
        wr = weakref.ref(future)
        del future
        gc.collect()
        assert wr() is None


def test_as_completed_timeout_message(ex: JobExecutor, event: threading.Event) -> None:
    pending = ex.submit(event.wait, 30)
    with pytest.raises(TimeoutError) as info:
        list(cf.as_completed([cancelled_and_notified(), pending, running(), successful()],
                             timeout=0))
    assert str(info.value) == "2 (of 4) futures unfinished"


# -- shutdown --------------------------------------------------------------------------
def test_run_after_shutdown(eng: Engine) -> None:
    ex = eng.executor()
    ex.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        ex.submit(pow, 2, 5)
    with pytest.raises(RuntimeError):
        ex.map(pow, [2], [5])
    assert not eng.closed
    assert eng.submit(pow, 2, 5).result() == 32  # the engine stays open


def test_shutdown_waits_for_every_job_issue12364(eng: Engine) -> None:
    ex = eng.executor()
    fs = [ex.submit(time.sleep, 0.005) for _ in range(50)]
    ex.shutdown()
    assert all(f.done() for f in fs)
    for f in fs:
        f.result()


def test_shutdown_cancel_futures(eng: Engine, event: threading.Event) -> None:
    ex = eng.executor()
    fs = [ex.submit(event.wait, 30) for _ in range(20)]
    wait_until(lambda: sum(f.running() for f in fs) == WORKERS, what="the workers to start")
    ex.shutdown(wait=False, cancel_futures=True)
    cancelled_fs = [f for f in fs if f.cancelled()]
    others = [f for f in fs if not f.cancelled()]
    assert len(cancelled_fs) == 20 - WORKERS  # only those that had not started
    event.set()
    ex.shutdown(wait=True)
    for f in others:
        assert f.done()
        assert f.exception() is None


def test_shutdown_after_a_cancelled_submit_gh94440(eng: Engine) -> None:
    ex = eng.executor()
    ex.submit(int).result()
    ex.submit(int).cancel()
    ex.shutdown(wait=True)  # returns


def test_context_manager_shutdown(eng: Engine) -> None:
    with eng.executor() as ex:
        assert list(ex.map(abs, range(-5, 5))) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    assert ex.closed
    with pytest.raises(RuntimeError):
        ex.submit(abs, 1)


def test_del_executor_keeps_its_results(eng: Engine) -> None:
    ex = eng.executor()
    res = ex.map(abs, range(-5, 5))
    del ex
    gc.collect()
    assert list(res) == [abs(v) for v in range(-5, 5)]


# -- FutureTests, on an executor's futures -----------------------------------------------------
def test_done_callbacks(ex: JobExecutor) -> None:
    seen: list[object] = []
    got = threading.Event()
    fut = ex.submit(mul, 2, 3)
    fut.add_done_callback(lambda f: (seen.append(f.result()), got.set()))
    assert got.wait(10) and seen == [6]
    # On a future that is done already, the callback runs at once.
    fut.add_done_callback(lambda f: seen.append(f.exception()))
    assert seen == [6, None]


def test_done_callback_with_exception(ex: JobExecutor) -> None:
    got: list[BaseException | None] = []
    done = threading.Event()
    fut = ex.submit(divmod, 1, 0)
    fut.add_done_callback(lambda f: (got.append(f.exception()), done.set()))
    assert done.wait(10)
    assert isinstance(got[0], ZeroDivisionError)


def test_done_callback_with_cancel_runs_in_cancel(ex: JobExecutor,
                                                  event: threading.Event) -> None:
    blockers = [ex.submit(event.wait, 30) for _ in range(WORKERS)]
    fut = ex.submit(mul, 1, 1)  # waits behind the blockers
    was_cancelled = []
    fut.add_done_callback(lambda f: was_cancelled.append(f.cancelled()))
    assert fut.cancel()
    assert was_cancelled == [True]  # at once, as Future.cancel() does
    event.set()
    assert all(b.result(timeout=30) for b in blockers)


def test_done_callback_that_raises_does_not_stop_the_others(
        ex: JobExecutor, caplog: pytest.LogCaptureFixture) -> None:
    called = threading.Event()
    fut = ex.submit(mul, 1, 1)

    def raising(f: cf.Future[int]) -> None:
        raise Exception("doh!")

    fut.add_done_callback(raising)
    fut.add_done_callback(lambda f: called.set())
    assert called.wait(10)
    assert fut.result() == 1


def test_result_and_exception_with_timeout(ex: JobExecutor, event: threading.Event) -> None:
    fut = ex.submit(event.wait, 30)
    with pytest.raises(TimeoutError):
        fut.result(timeout=0)
    with pytest.raises(TimeoutError):
        fut.exception(timeout=0)
    assert not fut.done() and not fut.cancelled()
    event.set()
    assert fut.result(timeout=30) is True
    assert fut.exception() is None


def test_states_and_repr(ex: JobExecutor, event: threading.Event) -> None:
    fut = ex.submit(event.wait, 30)
    wait_until(fut.running, what="the job to start")
    assert not fut.done()
    assert repr(fut) == f"<JobFuture {fut.job_id} state=running>"
    event.set()
    fut.result(timeout=30)
    assert fut.done() and not fut.running()
    assert repr(fut).endswith("state=finished returned bool>")
    bad = ex.submit(divmod, 1, 0)
    bad.exception(timeout=30)
    assert repr(bad).endswith("state=finished raised ZeroDivisionError>")
