"""The Dask backend on a real LocalCluster(processes=True, 2 workers x 1 thread).

One cluster serves the whole module (see conftest.py). Jobs that block wait for a file the
test creates, and every test releases what it started, so a busy worker thread never
slows the next test down.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import godnb as god
from godnb import Engine, EventKind, JobStatus
from godnb.contrib.dask import DaskExecutor, dask_map_chunks, submit_chunk
from godnb.execution.remote import describe
from godnb.registry import get_plugin
from tests.contrib import dask_tasks as T
from tests.execution import raising
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def dask_holds(client: Any, key: str) -> bool:
    """True while the Dask scheduler or any worker still knows the task ``key``."""
    on_scheduler = client.run_on_scheduler(
        lambda dask_scheduler: key in dask_scheduler.tasks)
    on_workers = client.run(lambda dask_worker: key in dask_worker.state.tasks)
    return bool(on_scheduler or any(on_workers.values()))


def godnb_keys(client: Any) -> list[str]:
    return [k for k in list(client.futures) if str(k).startswith("godnb-")]


@pytest.fixture
def make_engine(dask_client: Any) -> Iterator[Callable[..., Engine]]:
    """Engines with a "dask" backend; afterwards, no godnb future is left on the client."""
    engines: list[Engine] = []

    def make(workers: int | None = None) -> Engine:
        eng = Engine(threads=1, executors={"dask": DaskExecutor(dask_client, workers)})
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.shutdown(wait=False)
    wait_until(lambda: not godnb_keys(dask_client), 10, "the client to release godnb futures")


@pytest.fixture
def release(tmp_path: Path) -> Iterator[str]:
    """A path that blocking tasks wait for; created at the end so they always finish."""
    path = str(tmp_path / "release")
    yield path
    Path(path).touch()


# -- success, errors, retries ----------------------------------------------------------

def test_success_and_map_in_input_order(make_engine: Callable[..., Engine]) -> None:
    eng = make_engine()
    h = eng.submit(T.add, 1, 2, backend="dask")
    assert h.result(timeout=30) == 3
    assert h.status is JobStatus.COMPLETED and h.job.attempts == 1
    g = eng.map(T.add, range(40), range(40), backend="dask")
    assert g.results(timeout=60) == [2 * i for i in range(40)]
    pids = set(eng.map(T.pid, range(20), backend="dask").results(timeout=60))
    assert os.getpid() not in pids  # ran in the worker processes


def test_exception_keeps_type_and_remote_traceback(make_engine: Callable[..., Engine]) -> None:
    eng = make_engine()
    h = eng.submit(T.fail, "boom", backend="dask")
    with pytest.raises(god.JobFailed, match="ValueError: boom") as info:
        h.result(timeout=30)
    assert isinstance(info.value.__cause__, ValueError)
    (err,) = h.outcome.errors  # type: ignore[union-attr]
    assert err.type == "ValueError" and err.attempt == 1
    assert "dask_tasks.py" in err.traceback and "raise ValueError(message)" in err.traceback


def test_retries_are_godnbs(make_engine: Callable[..., Engine], tmp_path: Path) -> None:
    eng = make_engine()
    marker = str(tmp_path / "count")
    h = eng.submit(T.fail_until, marker, 2, backend="dask", retries=2)
    assert h.result(timeout=30) == "ok after 3"
    assert h.job.attempts == 3
    assert [e.type for e in h.outcome.errors] == ["ConnectionError"] * 2  # type: ignore[union-attr]
    # Not retryable (ValueError): one attempt only, retries or not.
    h = eng.submit(T.fail, "no retry", backend="dask", retries=3)
    assert isinstance(h.exception(timeout=30), god.JobFailed)
    assert h.job.attempts == 1


def test_unpicklable_work_fails_the_job_clearly(make_engine: Callable[..., Engine]) -> None:
    import threading

    eng = make_engine()
    h = eng.submit(T.add, threading.Lock(), 1, backend="dask")
    with pytest.raises(god.JobFailed, match=r"could not be sent to Dask.*must pickle"):
        h.result(timeout=30)
    assert eng.submit(T.add, 2, 2, backend="dask").result(timeout=30) == 4  # slot freed


# -- timeouts and cancels --------------------------------------------------------------

def test_timeout_cancels_the_future_and_the_task_sees_cancelled(
        make_engine: Callable[..., Engine], tmp_path: Path) -> None:
    eng = make_engine()
    started, out = str(tmp_path / "started"), str(tmp_path / "out")
    t0 = time.monotonic()
    h = eng.submit(T.until_cancelled, started, out, backend="dask", timeout=0.5)
    with pytest.raises(god.JobTimeout, match=r"timed out after 0.5 s"):
        h.result(timeout=30)
    assert time.monotonic() - t0 < 10
    assert h.status is JobStatus.FAILED
    # Dask can not stop the thread, but god.cancelled() turned true inside the task.
    wait_until(lambda: Path(out).exists(), what="the task to notice")
    assert Path(out).read_text() == "cancelled"
    assert h.status is JobStatus.FAILED and h.output is None  # its late result is ignored


def test_timeout_with_retries_runs_again(make_engine: Callable[..., Engine],
                                         tmp_path: Path) -> None:
    eng = make_engine()
    h = eng.submit(T.until_cancelled, str(tmp_path / "s"), str(tmp_path / "o"),
                   backend="dask", timeout=0.3, retries=1)
    assert isinstance(h.exception(timeout=30), god.JobTimeout)
    assert h.job.attempts == 2
    assert [e.type for e in h.outcome.errors] == ["JobTimeout", "JobTimeout"]  # type: ignore[union-attr]


def test_cancel_running_job(make_engine: Callable[..., Engine], tmp_path: Path) -> None:
    eng = make_engine()
    events: list[Any] = []
    eng.add_listener(events.append)
    started, out = str(tmp_path / "started"), str(tmp_path / "out")
    h = eng.submit(T.until_cancelled, started, out, backend="dask")
    wait_until(lambda: Path(started).exists(), what="the task to start")
    assert h.cancel() is True
    assert h.status is JobStatus.CANCELLED  # at once: godnb does not wait for Dask
    with pytest.raises(god.JobCancelled):
        h.result(timeout=5)
    wait_until(lambda: Path(out).exists(), what="the task to notice")
    assert Path(out).read_text() == "cancelled"
    time.sleep(0.2)  # the task's own return ("stopped") arrives late and must be ignored
    assert h.status is JobStatus.CANCELLED
    finals = [e for e in events if e.job_id == h.job_id and e.is_final]
    assert [e.kind for e in finals] == [EventKind.CANCELLED]
    assert h.cancel() is False


def test_cancel_pending_jobs_in_godnb_and_in_dask(
        make_engine: Callable[..., Engine], dask_client: Any, tmp_path: Path,
        release: str) -> None:
    eng = make_engine(workers=3)  # 2 run (one per worker), 1 waits in Dask, rest in godnb
    started = [str(tmp_path / f"started{i}") for i in range(2)]
    blockers = [eng.submit(T.started_then_wait, s, release, backend="dask") for s in started]
    wait_until(lambda: all(map(os.path.exists, started)), what="both workers to be busy")
    in_dask = eng.submit(T.touch, str(tmp_path / "in_dask"), backend="dask")
    in_godnb = eng.submit(T.touch, str(tmp_path / "in_godnb"), backend="dask")
    assert eng.stats().workers["dask"]["busy"] == 3
    assert in_dask.status is JobStatus.RUNNING  # handed to Dask (not started: no thread free)
    assert in_godnb.status is JobStatus.PENDING
    assert in_dask.cancel() and in_godnb.cancel()
    assert in_dask.status is in_godnb.status is JobStatus.CANCELLED
    key = f"godnb-{in_dask.job_id}-1"
    wait_until(lambda: key not in dask_client.futures, what="the Dask future to be cancelled")
    # Dask cancels asynchronously: free a worker thread only once neither the scheduler
    # nor any worker holds the task (a fixed sleep was not enough on a loaded machine).
    wait_until(lambda: not dask_holds(dask_client, key), what="Dask to forget the task")
    Path(release).touch()
    assert [b.result(timeout=30) for b in blockers] == ["released"] * 2
    # Later work runs; the cancelled jobs never did.
    assert eng.map(T.add, range(6), range(6), backend="dask").results(timeout=30)[-1] == 10
    assert not (tmp_path / "in_dask").exists() and not (tmp_path / "in_godnb").exists()
    assert in_godnb.job.attempts == 0 and in_dask.job.attempts == 1


def test_engine_shutdown_cancels_what_is_in_flight(dask_client: Any, release: str) -> None:
    eng = Engine(threads=1, executors={"dask": DaskExecutor(dask_client)})
    hs = [eng.submit(T.wait_for_file, release, backend="dask") for _ in range(6)]
    wait_until(lambda: godnb_keys(dask_client), what="futures on the client")
    eng.shutdown(wait=False)
    assert all(h.status is JobStatus.CANCELLED for h in hs)
    wait_until(lambda: not godnb_keys(dask_client), 10, "the futures to be released")


# -- progress and priorities -----------------------------------------------------------

def test_progress_from_inside_the_task(make_engine: Callable[..., Engine],
                                       release: str) -> None:
    eng = make_engine()
    events: list[Any] = []
    eng.add_listener(events.append)
    h = eng.submit(T.progress_then_wait, release, 3, backend="dask")
    wait_until(lambda: h.progress.done == 3, what="progress 3/3 while the job runs")
    assert h.status is JobStatus.RUNNING
    assert (h.progress.total, h.progress.message) == (3, "step 3")
    Path(release).touch()
    assert h.result(timeout=30) == "released"
    steps = [e.progress.done for e in events
             if e.job_id == h.job_id and e.kind is EventKind.PROGRESS]
    assert steps == sorted(steps) and steps[-1] == 3 and len(steps) >= 2


def test_priority_is_passed_to_dask(make_engine: Callable[..., Engine], dask_client: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real_submit = dask_client.submit

    def recording_submit(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(dask_client, "submit", recording_submit)
    eng = make_engine()
    hs = [eng.submit(T.add, p, 0, backend="dask", priority=p) for p in (7, -3, 0)]
    assert [h.result(timeout=30) for h in hs] == [7, -3, 0]
    by_key = {c["key"]: c for c in calls}
    for h in hs:
        call = by_key[f"godnb-{h.job_id}-1"]
        assert call["priority"] == h.job.priority
        assert call["pure"] is False


def test_godnb_hands_out_higher_priorities_first(make_engine: Callable[..., Engine],
                                                 release: str) -> None:
    eng = make_engine(workers=1)  # one job in Dask at a time: the rest queue in godnb
    order: list[str] = []
    eng.add_listener(lambda e: order.append(e.job_id) if e.kind is EventKind.STARTED else None)
    blocker = eng.submit(T.wait_for_file, release, backend="dask")
    low = [eng.submit(T.add, 0, i, backend="dask", priority=0) for i in range(2)]
    high = [eng.submit(T.add, 1, i, backend="dask", priority=5) for i in range(2)]
    Path(release).touch()
    blocker.result(timeout=30)
    for h in low + high:
        h.result(timeout=30)
    assert order == [blocker.job_id] + [h.job_id for h in high + low]


# -- plugin, defaults, errors ------------------------------------------------------------

def test_registered_as_dask_and_defaults(dask_client: Any) -> None:
    assert get_plugin("executor", "dask") is DaskExecutor
    with Engine(threads=1, executors={"dask": DaskExecutor()}) as eng:  # the default client
        ex = eng.executors["dask"]
        assert isinstance(ex, DaskExecutor) and ex.client is dask_client
        assert ex.workers == 4  # 2 workers x 1 thread, twice over
        assert ex.needs_pickle and not ex.needs_loop
        assert eng.stats().workers["dask"] == {"workers": 4, "busy": 0, "started": 1}
    with pytest.raises(TypeError, match=r"pass workers=4"):
        DaskExecutor(4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be a positive int"):
        DaskExecutor(dask_client, workers=0)


def test_one_executor_per_engine(dask_client: Any) -> None:
    ex = DaskExecutor(dask_client)
    with Engine(threads=1, executors={"dask": ex}), \
            pytest.raises(RuntimeError, match="one DaskExecutor per Engine"):
        Engine(threads=1, executors={"dask": ex})


# -- the pipeline helper ---------------------------------------------------------------

def test_dask_map_chunks_in_order_with_item_errors(dask_client: Any) -> None:
    chunks = [[1, 2], [13, 4], [5], []]
    out = list(dask_map_chunks(dask_client, T.square, chunks, max_in_flight=2))
    assert [(i, v) for i, v, _ in out] == [(0, [1, 4]), (1, [None, 16]), (2, [25]), (3, [])]
    errors = out[1][2]
    assert errors is not None and list(errors) == [0]
    assert isinstance(errors[0], ValueError) and str(errors[0]) == "unlucky 13"
    assert out[0][2] is None


def test_dask_map_chunks_unordered_and_lazy(dask_client: Any) -> None:
    pulled: list[int] = []

    def source() -> Iterator[list[int]]:
        for i in range(50):
            pulled.append(i)
            yield [i, i + 100]

    it = dask_map_chunks(dask_client, str, source(), ordered=False, max_in_flight=3)
    first = next(it)
    assert len(pulled) <= 4  # bounded: never more than max_in_flight (+1 being yielded)
    rest = list(it)
    got = sorted([first, *rest])
    assert [i for i, _, _ in got] == list(range(50))
    assert all(v == [str(i), str(i + 100)] and e is None for i, v, e in got)


def test_dask_map_chunks_close_cancels_in_flight(dask_client: Any, release: str) -> None:
    it = dask_map_chunks(dask_client, T.wait_for_file, [[release]] * 10, max_in_flight=3)
    fut = submit_chunk(dask_client, T.square, [3])
    assert fut.result(timeout=30) == ([9], None)
    del fut
    it.close()  # never started: nothing submitted
    it = dask_map_chunks(dask_client, T.square, [[1]] * 10, max_in_flight=3)
    assert next(it)[1] == [1]
    it.close()
    wait_until(lambda: not godnb_keys(dask_client), 10, "the chunks to be released")


# -- exceptions that are hard to send back (the Dask side of tests/execution/test_remote) ----

@pytest.mark.parametrize("kind", list(raising.RAISERS))
def test_a_job_whose_exception_is_hard_to_send_fails_cleanly(
        make_engine: Callable[..., Engine], kind: str) -> None:
    eng = make_engine()
    fn = raising.RAISERS[kind]
    h = eng.submit(fn, backend="dask")
    error = h.exception(timeout=30)
    assert isinstance(error, god.JobFailed) and raising.NAMES[kind] in str(error)
    (info,) = h.errors
    assert f"in {fn.__name__}" in info.traceback
    assert eng.submit(T.add, 1, 1, backend="dask").result(timeout=30) == 2  # it goes on


@pytest.mark.parametrize("kind", list(raising.RAISERS))
def test_pipeline_chunks_whose_exceptions_are_hard_to_send_fail_per_item(
        dask_client: Any, kind: str) -> None:
    # Distributed installs tblib's pickling support, which can rebuild some exceptions
    # (one with a custom __init__) that plain pickle can not: the checks hold either way.
    fn = raising.RAISERS[kind]
    p = god.Pipeline(range(4), on_error="collect").map(fn, workers=2, backend="dask")
    assert p.collect() == []
    assert sorted(e.index for e in p.errors) == [0, 1, 2, 3]
    assert all(raising.NAMES[kind] in str(e) for e in p.errors)
    ((index, values, errors),) = dask_map_chunks(dask_client, fn, [[1, 2]])
    assert (index, values) == (0, [None, None])
    assert errors is not None and sorted(errors) == [0, 1]
    assert raising.NAMES[kind] in describe(errors[0])


# -- killed workers (last: they cost worker restarts) ------------------------------------

def test_worker_killed_once_is_rerun_by_dask(make_engine: Callable[..., Engine],
                                             dask_client: Any, tmp_path: Path) -> None:
    eng = make_engine()
    marker = tmp_path / "died"
    h = eng.submit(T.die_once, str(marker), backend="dask")
    try:
        out = h.result(timeout=60)
        # Dask re-ran the task on the other worker, inside the same godnb attempt.
        assert out == f"survived in {out.split()[-1]}" and out.split()[-1] != marker.read_text()
        assert h.job.attempts == 1 and h.status is JobStatus.COMPLETED
    finally:
        dask_client.wait_for_workers(2, timeout=60)


def test_worker_killed_every_time_is_worker_died(make_engine: Callable[..., Engine],
                                                 dask_client: Any) -> None:
    eng = make_engine()
    h = eng.submit(T.die, backend="dask")
    try:
        with pytest.raises(god.JobFailed, match="WorkerDied: the Dask workers running job") \
                as info:
            h.result(timeout=60)
        cause = info.value.__cause__
        assert isinstance(cause, god.WorkerDied)
        assert type(cause.__cause__).__name__ == "KilledWorker"
        assert h.job.attempts == 1  # no godnb retries asked for
    finally:
        dask_client.wait_for_workers(2, timeout=60)
    assert eng.submit(T.add, 1, 1, backend="dask").result(timeout=30) == 2
