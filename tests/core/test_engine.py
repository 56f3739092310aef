from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import godnb as god
from godnb import Engine, JobStatus
from tests.core import funcs
from tests.waiting import wait_until

BACKENDS = ["thread", "process", "async", "inline"]
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def eng() -> Iterator[Engine]:
    with Engine(threads=4, processes=2) as e:
        yield e


def fn_for(backend: str, sync, coro):  # type: ignore[no-untyped-def]
    return coro if backend == "async" else sync


@pytest.mark.parametrize("backend", BACKENDS)
def test_success(eng: Engine, backend: str) -> None:
    h = eng.submit(fn_for(backend, funcs.double, funcs.adouble), 21, backend=backend)
    assert h.result(timeout=30) == 42 if backend != "async" else True
    if backend == "async":
        assert h.wait(30)
        assert h.result() == 42
    assert h.status is JobStatus.COMPLETED
    assert h.done()
    assert h.outcome is not None and h.outcome.output == 42 and h.outcome.attempts == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_becomes_job_failed(eng: Engine, backend: str) -> None:
    h = eng.submit(fn_for(backend, funcs.boom, funcs.aboom), backend=backend)
    with pytest.raises(god.JobFailed, match=r"failed after 1 attempt\(s\): RuntimeError") as info:
        h.result(timeout=30)
    assert info.value.job_id == h.job_id
    assert info.value.result is not None
    assert info.value.result.errors[0].type == "RuntimeError"
    assert "Traceback" in info.value.result.errors[0].traceback
    assert h.status is JobStatus.FAILED
    if backend != "process":
        assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_retry_then_success_keeps_every_error(eng: Engine, backend: str, tmp_path: Path) -> None:
    fn = fn_for(backend, funcs.fail_until, funcs.afail_until)
    h = eng.submit(fn, str(tmp_path / "n"), 3, retries=3, backend=backend)
    assert h.wait(30)
    assert h.result() == "ok after 3"
    assert h.job.attempts == 3
    assert [e.type for e in h.outcome.errors] == ["ConnectionError", "ConnectionError"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_retries_exhausted(eng: Engine, backend: str, tmp_path: Path) -> None:
    fn = fn_for(backend, funcs.fail_until, funcs.afail_until)
    h = eng.submit(fn, str(tmp_path / "n"), 10, retries=2, backend=backend)
    assert h.wait(30)
    with pytest.raises(god.JobFailed, match=r"after 3 attempt\(s\)"):
        h.result()
    assert len(h.outcome.errors) == 3


@pytest.mark.parametrize("fn", [funcs.fatal, funcs.type_error])
@pytest.mark.parametrize("backend", ["thread", "process", "inline"])
def test_fatal_and_programming_errors_are_not_retried(eng: Engine, backend: str, fn) -> None:  # type: ignore[no-untyped-def]
    h = eng.submit(fn, retries=5, backend=backend)
    with pytest.raises(god.JobFailed):
        h.result(timeout=30)
    assert h.job.attempts == 1


def test_backoff_between_retries(eng: Engine, tmp_path: Path) -> None:
    h = eng.job(funcs.fail_until, str(tmp_path / "n"), 3).retries(2, backoff=0.05).submit()
    assert h.result(timeout=30) == "ok after 3"
    # first retry after >= 0.05 s, second after >= 0.1 s
    errors = h.outcome.errors
    assert (errors[1].at - errors[0].at).total_seconds() >= 0.05


@pytest.mark.parametrize("backend", ["thread", "process", "async"])
def test_timeout(eng: Engine, backend: str) -> None:
    # a thread can only stop cooperatively: its job polls god.check_cancelled()
    fn = {"thread": funcs.cooperative, "process": funcs.sleep_for, "async": funcs.asleep}[backend]
    h = eng.submit(fn, 30, timeout=0.3, backend=backend)
    assert h.wait(30)
    with pytest.raises(god.JobTimeout, match=r"timed out after 0.3 s"):
        h.result()
    assert h.status is JobStatus.FAILED
    # the backend still serves
    ok = eng.submit(fn_for(backend, funcs.double, funcs.adouble), 2, backend=backend)
    assert ok.wait(30) and ok.result() == 4


def test_thread_timeout_sets_cancel_flag(eng: Engine) -> None:
    h = eng.submit(funcs.cooperative, timeout=0.2)
    with pytest.raises(god.JobTimeout):
        h.result(timeout=30)


def test_timeouts_are_retried(eng: Engine) -> None:
    h = eng.submit(funcs.sleep_for, 30, timeout=0.1, retries=1, backend="process")
    with pytest.raises(god.JobTimeout):
        h.result(timeout=30)
    assert h.job.attempts == 2


@pytest.mark.parametrize("backend", ["thread", "process", "async"])
def test_cancel_pending_never_starts(backend: str, tmp_path: Path) -> None:
    with Engine(threads=1, processes=1, async_limit=1) as eng:
        blocker = eng.submit(fn_for(backend, funcs.sleep_for, funcs.asleep), 0.5,
                             backend=backend)
        marker = tmp_path / "ran"
        h = eng.submit(fn_for(backend, funcs.fail_until, funcs.afail_until), str(marker), 1,
                       backend=backend)
        assert h.cancel() is True
        assert h.cancel() is False
        assert h.status is JobStatus.CANCELLED
        assert blocker.wait(30)
        eng.wait(30)
        assert not marker.exists()
        with pytest.raises(god.JobCancelled):
            h.result()


@pytest.mark.parametrize("backend", ["thread", "process", "async"])
def test_cancel_running_reports_once(eng: Engine, backend: str) -> None:
    events: list[god.JobEvent] = []
    eng.add_listener(events.append)
    fn = {"thread": funcs.cooperative, "process": funcs.sleep_for, "async": funcs.asleep}[backend]
    h = eng.submit(fn, 30, backend=backend)
    wait_until(lambda: h.status is JobStatus.RUNNING, 30, "the job to run")
    assert h.cancel() is True
    assert h.status is JobStatus.CANCELLED
    with pytest.raises(god.JobCancelled):
        h.result(timeout=5)
    eng.wait(30)
    time.sleep(0.1)  # a late finish from the worker must not change anything
    finals = [e for e in events if e.job_id == h.job_id and e.is_final]
    assert [e.kind.value for e in finals] == ["cancelled"]
    assert h.status is JobStatus.CANCELLED
    assert eng.stats().counts["cancelled"] == 1


@pytest.mark.parametrize("backend", ["thread", "process", "async"])
def test_progress_events_in_order(eng: Engine, backend: str) -> None:
    async def collect() -> list[god.JobEvent]:
        fn = fn_for(backend, funcs.report, funcs.areport)
        h = eng.submit(fn, 5, backend=backend)
        return [ev async for ev in h.events()]

    events = asyncio.run(collect())
    kinds = [e.kind.value for e in events]
    assert kinds[0] == "submitted" and kinds[1] == "started" and kinds[-1] == "completed"
    # a late subscriber gets a replay whose final event carries the last progress
    done = [e.progress.done for e in events if e.progress is not None]
    assert done == sorted(done) and done and done[-1] == 5


def test_priority_respected_under_contention() -> None:
    order: list[int] = []
    gate = threading.Event()
    with Engine(threads=1) as eng:
        eng.submit(gate.wait, 10)
        for p in [1, 5, 3, 9, 2]:
            eng.submit(order.append, p, priority=p)
        gate.set()
        eng.wait(30)
    assert order == [9, 5, 3, 2, 1]


def test_fair_between_groups_in_engine() -> None:
    order: list[str] = []
    gate = threading.Event()
    with Engine(threads=1) as eng:
        eng.submit(gate.wait, 10)
        eng.map(order.append, ["big"] * 50, group="big")
        eng.map(order.append, ["small"] * 3, group="small")
        gate.set()
        eng.wait(30)
    assert order[:6].count("small") == 3


def test_ten_thousand_async_jobs_sleeping(eng: Engine) -> None:
    async def main() -> list[str]:
        g = eng.map(funcs.asleep, [0.1] * 10_000)
        return await g

    assert asyncio.run(main()) == ["slept"] * 10_000


def test_map_results_in_order(eng: Engine) -> None:
    g = eng.map(funcs.double, range(1000))
    assert g.results(timeout=60) == [2 * i for i in range(1000)]
    assert len(g) == 1000 and g.done() and g.progress.done == 1000
    assert [h.result() for h in g][:3] == [0, 2, 4]


def test_group_wait_times_out_then_wakes_once_all_ended() -> None:
    gate = threading.Event()
    with Engine(threads=2) as e:
        g = e.map(gate.wait, [30] * 4)
        assert g.wait(timeout=0.05) is False  # nothing can end before the gate opens
        assert not g.done()
        threading.Timer(0.05, gate.set).start()
        assert g.wait(timeout=30) is True
        assert g.results() == [True] * 4 and g.done()


def test_awaiting_a_group_from_another_loop() -> None:
    gate = threading.Event()
    with Engine(threads=2) as e:  # its jobs end on worker threads, not on this loop
        g = e.map(gate.wait, [30] * 3)

        async def main() -> list[object]:
            asyncio.get_running_loop().call_later(0.05, gate.set)
            return await g

        assert asyncio.run(main()) == [True] * 3


def test_map_builds_with_the_cyclic_gc_paused_and_turns_it_back_on(eng: Engine) -> None:
    import gc

    seen: list[bool] = []

    def items() -> Iterator[int]:
        for i in range(3):
            seen.append(gc.isenabled())
            yield i

    assert gc.isenabled()
    assert eng.map(funcs.double, items()).results(timeout=30) == [0, 2, 4]
    assert seen == [False] * 3 and gc.isenabled()
    with pytest.raises(god.ValidationError):  # a bad batch: nothing queued, GC back on
        eng.map("tests.core.funcs:double", [object()])
    assert gc.isenabled()
    gc.disable()  # the user's choice stays theirs
    try:
        eng.map(funcs.double, range(3)).wait(30)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_map_over_two_iterables(eng: Engine) -> None:
    assert eng.map(pow, [2, 3], [3, 2]).results(timeout=30) == [8, 9]


def test_group_cancel(eng: Engine) -> None:
    gate = threading.Event()
    with Engine(threads=1) as e:
        e.submit(gate.wait, 10)
        g = e.map(funcs.double, range(10))
        assert g.cancel() == 10
        gate.set()
        assert g.counts()["cancelled"] == 10


def test_fluent_builder_sets_options(eng: Engine) -> None:
    h = (eng.job(funcs.double, 4).priority(5).retries(3, backoff=0.5).timeout(2)
         .on("thread").group("alice").name("dbl").tags("x").submit())
    assert h.result(timeout=30) == 8
    job = h.job
    assert (job.priority, job.retries, job.backoff, job.timeout, job.backend, job.group,
            job.name, job.tags) == (5, 3, 0.5, 2.0, "thread", "alice", "dbl", ("x",))


def test_builder_passes_reserved_names_to_the_function(eng: Engine) -> None:
    def f(priority: int, timeout: int) -> int:
        return priority + timeout

    assert eng.job(f, priority=1, timeout=2).submit().result(timeout=30) == 3


def test_unknown_backend_lists_valid_ones(eng: Engine) -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'gpu'; valid backends: .*'thread'"):
        eng.submit(funcs.double, 1, backend="gpu")
    with pytest.raises(ValueError, match=r"unknown backend"):
        Engine(backend="nope")


def test_coroutines_default_to_async(eng: Engine) -> None:
    h = eng.submit(funcs.adouble, 2)
    assert h.job.backend == "async"
    assert h.wait(30) and h.result() == 4


def test_registered_task_by_name_with_defaults(eng: Engine) -> None:
    @god.task(name="tests.triple", retries=2)
    def triple(x: int) -> int:
        return 3 * x

    h = eng.submit("tests.triple", 3)
    assert h.result(timeout=30) == 9
    assert h.job.retries == 2
    assert eng.submit("math:sqrt", 16).result(timeout=30) == 4.0


def test_unknown_task_is_a_clear_error(eng: Engine) -> None:
    with pytest.raises(god.UnknownTask, match=r"task 'nope' is not registered.*@god.task"):
        eng.submit("nope")
    with pytest.raises(god.UnknownTask, match=r"can not import module 'no_such_mod'"):
        eng.submit("no_such_mod:f")
    assert eng.stats().submitted == 0


def test_blocking_result_on_loop_thread() -> None:
    async def main() -> None:
        async with Engine() as eng:
            # thread and process jobs do not need the loop: a blocking wait returns
            assert eng.submit(funcs.double, 2).result(timeout=30) == 4
            assert eng.submit(funcs.double, 3, backend="process").result(timeout=30) == 6
            # an async job does: refuse at once instead of hanging
            h = eng.submit(funcs.adouble, 1)
            t0 = time.monotonic()
            with pytest.raises(god.LoopBlockingError, match=r"use `await h`"):
                h.result()
            assert time.monotonic() - t0 < 1
            with pytest.raises(god.LoopBlockingError):
                eng.wait()
            assert await h == 2

    asyncio.run(main())


def test_engine_attaches_to_running_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with Engine() as eng:
            assert eng.loop is loop
            seen = []

            async def where() -> None:
                seen.append(asyncio.get_running_loop())

            await eng.submit(where)
            assert seen == [loop]

    asyncio.run(main())


def test_engine_without_loop_runs_its_own() -> None:
    with Engine() as eng:
        assert eng.submit(funcs.adouble, 5).result(timeout=30) == 10
        assert eng.loop is not None


def test_engine_events_stream(eng: Engine) -> None:
    async def main() -> list[str]:
        kinds = []
        stream = eng.events()
        h = eng.submit(funcs.double, 1)
        async for ev in stream:
            if ev.job_id == h.job_id:
                kinds.append(ev.kind.value)
                if ev.is_final:
                    break
        return kinds

    assert asyncio.run(main()) == ["submitted", "started", "completed"]


def test_late_subscriber_gets_a_replay(eng: Engine) -> None:
    h = eng.submit(funcs.double, 1)
    h.result(timeout=30)

    async def main() -> list[str]:
        return [ev.kind.value async for ev in h.events()]

    assert asyncio.run(main()) == ["submitted", "started", "completed"]


def test_shutdown_wait_true_finishes_jobs() -> None:
    eng = Engine(threads=2)
    g = eng.map(funcs.sleep_for, [0.05] * 6)
    eng.shutdown(wait=True)
    assert g.counts()["completed"] == 6


def test_shutdown_wait_false_cancels_jobs() -> None:
    eng = Engine(threads=1, processes=1)
    running = eng.submit(funcs.sleep_for, 30, backend="process")
    pending = eng.map(funcs.double, range(5), backend="process")
    wait_until(lambda: running.status is JobStatus.RUNNING, 30, "the process job to run")
    eng.shutdown(wait=False)
    assert running.status is JobStatus.CANCELLED
    assert pending.counts()["cancelled"] + pending.counts()["completed"] == 5
    with pytest.raises(RuntimeError, match="engine is shut down"):
        eng.submit(funcs.double, 1)


def test_shutdown_wait_false_cancels_a_backlog_without_starting_workers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Cancelled one by one, each queued job a worker took first was cancelled while
    # running, and the thread backend started a replacement worker for it: thousands.
    from godnb.concurrency.threads import ThreadExecutor

    spawned = [0]
    spawn = ThreadExecutor._spawn

    def counting(self: ThreadExecutor) -> None:
        spawned[0] += 1
        spawn(self)

    monkeypatch.setattr(ThreadExecutor, "_spawn", counting)
    eng = Engine(threads=2)
    g = eng.map(funcs.sleep_for, [0.0005] * 20_000)
    wait_until(lambda: g.counts()["completed"] >= 10, 30, "the map to get going")
    started = spawned[0]
    eng.shutdown(wait=False)
    counts = g.counts()
    assert counts["pending"] == counts["running"] == 0
    assert counts["cancelled"] + counts["completed"] == 20_000 and counts["cancelled"] > 0
    assert spawned[0] - started <= 2  # at most a replacement for each job that was running


def test_context_managers() -> None:
    with Engine() as eng:
        eng.submit(funcs.double, 1)
    assert eng.closed

    async def main() -> Engine:
        async with Engine() as e:
            e.submit(funcs.adouble, 1)
        return e

    assert asyncio.run(main()).closed


def test_max_pending_reject() -> None:
    gate = threading.Event()
    with Engine(threads=1, max_pending=3, on_full="reject") as eng:
        eng.submit(gate.wait, 10)
        wait_until(lambda: eng.stats().counts["running"], 10, "the gate job to run")
        for _ in range(3):
            eng.submit(funcs.double, 1)
        with pytest.raises(god.QueueFull, match=r"queue is full: 3 jobs pending \(max_pending=3\)"):
            eng.submit(funcs.double, 1)
        gate.set()
        assert eng.wait(30)
        assert eng.stats().counts["completed"] == 4


def test_max_pending_block_waits_for_room() -> None:
    with Engine(threads=2, max_pending=5, on_full="block") as eng:
        g = [eng.submit(funcs.sleep_for, 0.001) for _ in range(100)]
        assert eng.wait(60)
        assert all(h.status is JobStatus.COMPLETED for h in g)


def test_stats_and_jobs(eng: Engine) -> None:
    eng.map(funcs.double, range(20)).results(timeout=30)
    stats = eng.stats()
    assert stats.counts["completed"] == 20
    assert stats.queue_depth == 0
    assert stats.latency_p50 is not None and stats.latency_p99 is not None
    assert stats.throughput > 0
    assert "thread" in stats.workers
    assert len(eng.jobs(status="completed")) == 20
    assert eng.jobs(status=JobStatus.FAILED) == []
    h = eng.jobs()[0]
    assert eng.get(h.job_id) is h


def test_progress_and_cancelled_outside_a_job_are_harmless() -> None:
    god.progress(1, 2)
    assert god.cancelled() is False
    god.check_cancelled()


def test_module_level_submit_uses_default_engine() -> None:
    h = god.submit(funcs.double, 4)
    assert h.result(timeout=30) == 8
    assert god.map(funcs.double, [1, 2]).results(timeout=30) == [2, 4]
    eng = god.default_engine()
    assert eng is god.default_engine()
    eng.shutdown()


def test_set_default_engine() -> None:
    with Engine() as mine:
        god.set_default_engine(mine)
        assert god.default_engine() is mine
        god.set_default_engine(None)
    with pytest.raises(TypeError, match="takes an Engine"):
        god.set_default_engine("x")  # type: ignore[arg-type]


def test_custom_executor_by_name() -> None:
    from godnb.concurrency.inline import InlineExecutor

    with Engine(executors={"mine": InlineExecutor()}) as eng:
        assert eng.submit(funcs.double, 2, backend="mine").result() == 4
    with pytest.raises(TypeError, match=r"executors\['bad'\] must be an Executor"):
        Engine(executors={"bad": object()})  # type: ignore[dict-item]
