"""The Runtime state machine, driven through its executor-host protocol.

A test plays the backend's worker by hand (``next_run`` / ``finish`` / ``give_back``) on
the fakes of tests/core/fakes.py: no worker threads, and retries and timeouts fire when
the test moves a fake clock, never by sleeping. After every step the counters must agree
with the jobs themselves.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godnb.core.handles import JobHandle
from godnb.core.runtime import Runtime
from godnb.errors import JobCancelled, JobFailed, JobTimeout, LoopBlockingError, QueueFull
from godnb.execution.executor import Run
from godnb.models.events import EventKind, JobEvent
from godnb.models.job import JobStatus
from tests.core.fakes import (
    manual,
    recorder,
    runtime,
    runtime_on_this_loop,
    submit,
    take,
    timers,
    work,
)
from tests.execution.raising import BrokenStr

PENDING, RUNNING = JobStatus.PENDING, JobStatus.RUNNING
COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED




def assert_consistent(rt: Runtime, handles: list[JobHandle]) -> None:
    """The counters, the active/running maps and the jobs tell the same story."""
    by_status = {s: sum(1 for h in handles if h.status is s) for s in JobStatus}
    assert rt.counts == by_status
    assert rt.submitted == len(handles)
    assert set(rt.active) == {h.job_id for h in handles if not h.status.is_terminal}
    assert set(rt.running) == {h.job_id for h in handles if h.status is RUNNING}
    assert rt.pending_count() == by_status[PENDING]
    for h in handles:
        assert h.finished is h.status.is_terminal
        assert (h.run is not None) is (h.status is RUNNING)
        if h.status is RUNNING:
            assert h.run is not None and h.run.attempt == h.job.attempts



# -- the host protocol: taking work ----------------------------------------------------------

def test_next_run_starts_the_first_queued_attempt(rt: Runtime) -> None:
    assert rt.next_run("manual", 0) is None
    h = submit(rt, work, 7)
    assert manual(rt).wakes == 1  # the backend is told work was queued
    assert_consistent(rt, [h])
    run = take(rt)
    assert (run.job_id, run.attempt, run.backend, run.args) == (h.job_id, 1, "manual", (7,))
    assert run.host is rt and h.run is run
    assert h.status is RUNNING and h.job.attempts == 1
    assert rt.next_run("manual", 0) is None
    assert_consistent(rt, [h])


def test_next_run_follows_priority_then_submit_order(rt: Runtime) -> None:
    low = submit(rt, work, 1, priority=0)
    high = submit(rt, work, 2, priority=5)
    low2 = submit(rt, work, 3, priority=0)
    assert [take(rt).job_id for _ in range(3)] == [high.job_id, low.job_id, low2.job_id]


def test_next_runs_takes_a_fair_share_of_the_backlog() -> None:
    with runtime(workers=2) as rt:
        handles = [submit(rt, work, i) for i in range(8)]
        # after the first, 7 are left: a fair share is 7 // 2 workers = 3, capped by limit
        assert [r.job_id for r in rt.next_runs("manual", 0, limit=2)] == \
            [h.job_id for h in handles[:2]]
        assert len(rt.next_runs("manual", 0, limit=10)) == 2  # 5 left after the first
        assert_consistent(rt, handles)
        # 4 or fewer queued: one at a time, the rest is left for the other worker
        assert [len(rt.next_runs("manual", 0, limit=10)) for _ in range(4)] == [1, 1, 1, 1]
        assert rt.next_runs("manual", 0, limit=10) == []
        assert all(h.status is RUNNING for h in handles)
        assert_consistent(rt, handles)


def test_give_back_requeues_as_pending_and_takes_the_attempt_back(rt: Runtime) -> None:
    a, b = submit(rt, work, 1, priority=1), submit(rt, work, 2)
    runs = rt.next_runs("manual", 0, limit=2)
    assert [r.job_id for r in runs] == [a.job_id]  # one worker: its share is all but one
    runs.append(take(rt))
    wakes = manual(rt).wakes
    rt.give_back(runs)
    assert a.status is b.status is PENDING
    assert a.job.attempts == b.job.attempts == 0  # never started: no attempt spent
    assert all(r.ended for r in runs)
    assert manual(rt).wakes > wakes
    assert_consistent(rt, [a, b])
    assert [take(rt).job_id, take(rt).job_id] == [a.job_id, b.job_id]  # order kept
    assert_consistent(rt, [a, b])


def test_give_back_ignores_runs_that_ended_meanwhile(rt: Runtime) -> None:
    h = submit(rt, work)
    run = take(rt)
    assert rt.cancel(h.job_id)
    rt.give_back([run])
    assert h.status is CANCELLED
    assert rt.next_run("manual", 0) is None
    assert_consistent(rt, [h])


def test_outranked_sees_a_higher_priority_job_waiting(rt: Runtime) -> None:
    assert rt.outranked("manual", 0) is False  # nothing queued
    submit(rt, work, priority=3)
    assert rt.outranked("manual", 2) is True
    assert rt.outranked("manual", 3) is False  # equal priority does not outrank
    assert rt.outranked("inline", -100) is False  # per backend


# -- the end of an attempt ----------------------------------------------------------------------

def test_finish_ok_completes_once_and_ignores_a_late_finish(rt: Runtime) -> None:
    ended: list[JobHandle] = []
    rt.on_final.append(ended.append)
    h = submit(rt, work)
    run = take(rt)
    timers(rt).clock.now += 2.5
    rt.finish(run, value="out")
    assert h.status is COMPLETED and h.result(0) == "out"
    assert h.execution_time == pytest.approx(2.5)
    assert run.ended and h.run is None
    rt.finish(run, value="late")  # a worker that reports twice changes nothing
    rt.finish(run, error=RuntimeError("late"))
    assert h.result(0) == "out" and ended == [h]
    assert rt.profile.table().rows[0].ok == 1
    assert_consistent(rt, [h])


def test_finish_error_without_retries_fails_with_the_traceback(rt: Runtime) -> None:
    h = submit(rt, work)
    error = ValueError("bad row")
    rt.finish(take(rt), error=error, tb="Traceback ...\nValueError: bad row\n")
    assert h.status is FAILED and h.error is error
    assert [(e.type, e.message, e.attempt) for e in h.errors] == [("ValueError", "bad row", 1)]
    assert h.errors[0].traceback.startswith("Traceback ...")
    assert h.job.error == "ValueError: bad row"
    exc = h.exception(0)
    assert isinstance(exc, JobFailed) and exc.__cause__ is error
    assert_consistent(rt, [h])


def test_finish_error_without_a_traceback_formats_one(rt: Runtime) -> None:
    h = submit(rt, work)
    try:
        raise KeyError("k")
    except KeyError as e:
        rt.finish(take(rt), error=e)
    assert "raise KeyError" in h.errors[0].traceback


def test_an_error_whose_str_raises_still_fails_the_job(rt: Runtime) -> None:
    h = submit(rt, work)
    rt.finish(take(rt), error=BrokenStr("hidden"))  # a worker thread must survive this
    assert h.status is FAILED and h.errors[0].message == "<exception str() failed>"
    with pytest.raises(JobFailed, match=r"BrokenStr: <exception str\(\) failed>"):
        h.result(0)
    assert_consistent(rt, [h])


def test_a_retry_waits_its_backoff_on_the_timer_then_runs_again(rt: Runtime) -> None:
    events: list[JobEvent] = []
    rt.hub.add_listener(events.append)
    h = submit(rt, work, retries=2, backoff=0.5)
    rt.finish(take(rt), error=RuntimeError("flaky"))
    assert h.status is PENDING and rt.retried == 1
    assert timers(rt).pending() == [0.5]
    assert rt.next_run("manual", 0) is None  # not queued before its backoff
    assert_consistent(rt, [h])
    assert timers(rt).advance(0.49) == 0
    assert timers(rt).advance(0.01) == 1
    run = take(rt)
    assert run.attempt == 2 and h.job.attempts == 2
    rt.finish(run, error=RuntimeError("flaky again"))
    assert timers(rt).pending() == [1.0]  # exponential: 0.5, then 1.0
    timers(rt).advance(1.0)
    rt.finish(take(rt), value="third time")
    assert h.result(0) == "third time"
    assert [e.attempt for e in h.errors] == [1, 2]
    assert [e.kind for e in events].count(EventKind.RETRYING) == 2
    assert [e.kind for e in events if e.is_final] == [EventKind.COMPLETED]
    assert_consistent(rt, [h])


def test_retries_run_out_and_the_last_error_is_kept(rt: Runtime) -> None:
    h = submit(rt, work, retries=1)  # no backoff: requeued at once, no timer
    rt.finish(take(rt), error=RuntimeError("one"))
    assert timers(rt).pending() == []
    rt.finish(take(rt), error=RuntimeError("two"))
    assert h.status is FAILED and h.job.attempts == 2
    assert str(h.error) == "two" and [e.message for e in h.errors] == ["one", "two"]
    assert_consistent(rt, [h])


def test_errors_the_policy_will_not_retry_fail_at_once(rt: Runtime) -> None:
    h = submit(rt, work, retries=3)
    rt.finish(take(rt), error=TypeError("a bug"))  # a programming error: no retry
    assert h.status is FAILED and rt.retried == 0


def test_a_timeout_interrupts_the_attempt_and_fails_the_job(rt: Runtime) -> None:
    h = submit(rt, work, timeout=2.0)
    run = take(rt)
    assert timers(rt).pending() == [2.0]
    timers(rt).advance(2.0)
    assert run.ended and run.reason == "timeout" and run.cancel_requested
    assert manual(rt).interrupted == [(run, "timeout")]
    assert h.status is FAILED
    with pytest.raises(JobTimeout, match=r"timed out after 2 s \(attempt 1\)"):
        h.result(0)
    rt.finish(run, value="too late")  # the worker's late report is ignored
    assert h.status is FAILED
    assert_consistent(rt, [h])


def test_finishing_in_time_cancels_the_timeout(rt: Runtime) -> None:
    h = submit(rt, work, timeout=2.0)
    rt.finish(take(rt), value=1)
    assert timers(rt).pending() == []
    timers(rt).advance(5)
    assert h.status is COMPLETED and manual(rt).interrupted == []


def test_a_timed_out_attempt_is_retried(rt: Runtime) -> None:
    h = submit(rt, work, timeout=1.0, retries=1)
    timers(rt).advance(0)
    take(rt)
    timers(rt).advance(1.0)
    assert h.status is PENDING and h.errors[0].type == "JobTimeout"
    rt.finish(take(rt), value="second")
    assert h.result(0) == "second"
    assert_consistent(rt, [h])


# -- cancel ---------------------------------------------------------------------------------------

def test_cancel_pending_never_starts(rt: Runtime) -> None:
    h = submit(rt, work)
    assert rt.cancel(h.job_id) is True
    assert h.status is CANCELLED and h.job.attempts == 0
    assert rt.next_run("manual", 0) is None
    assert manual(rt).interrupted == []
    with pytest.raises(JobCancelled):
        h.result(0)
    assert rt.cancel(h.job_id) is False  # ended already
    assert rt.cancel("no-such-job") is False
    assert_consistent(rt, [h])


def test_cancel_while_waiting_for_a_retry_drops_the_retry(rt: Runtime) -> None:
    h = submit(rt, work, retries=1, backoff=1.0)
    rt.finish(take(rt), error=RuntimeError("flaky"))
    assert rt.cancel(h.job_id)
    assert timers(rt).pending() == []  # the retry timer was cancelled
    timers(rt).advance(1.0)
    assert rt.next_run("manual", 0) is None and h.status is CANCELLED
    assert_consistent(rt, [h])


def test_cancel_running_interrupts_the_backend_and_ignores_its_late_finish(rt: Runtime) -> None:
    h = submit(rt, work, timeout=10)
    run = take(rt)
    assert rt.cancel(h.job_id) is True
    assert run.ended and run.reason == "cancel" and run.cancel_requested
    assert manual(rt).interrupted == [(run, "cancel")]
    assert timers(rt).pending() == []  # no timeout fires for a cancelled attempt
    rt.finish(run, value="late")
    assert h.status is CANCELLED
    assert rt.profile.table().rows[0].cancelled == 1
    assert_consistent(rt, [h])


def test_cancel_all_ends_every_active_job(rt: Runtime) -> None:
    handles = [submit(rt, work, i) for i in range(3)]
    take(rt)
    assert rt.cancel_all() == 3
    assert all(h.status is CANCELLED for h in handles)
    assert_consistent(rt, handles)


# -- progress, persistence, events ------------------------------------------------------------

def test_progress_is_recorded_while_running_and_ignored_after(rt: Runtime) -> None:
    h = submit(rt, work)
    run = take(rt)
    run.report(3, 10, "parsing")
    assert h.job.progress is not None
    assert (h.job.progress.done, h.job.progress.total, h.job.progress.message) == \
        (3, 10, "parsing")
    rt.finish(run, value=1)
    rt.progress(run, 9, 10, None)  # after the end: dropped
    assert h.job.progress.done == 3


def test_the_persistence_hook_hears_every_change(rt: Runtime) -> None:
    h = submit(rt, work, retries=1)
    assert recorder(rt).changes == []  # submitting is persisted by the engine itself
    run = take(rt)
    rt.progress(run, 1, 2, None)
    rt.finish(run, error=RuntimeError("flaky"))
    run = take(rt)
    rt.finish(run, value=1)
    cancelled = submit(rt, work)
    rt.cancel(cancelled.job_id)
    assert recorder(rt).changes == [
        (h.job_id, RUNNING, None), (h.job_id, RUNNING, 1), (h.job_id, PENDING, 1),
        (h.job_id, RUNNING, 1), (h.job_id, COMPLETED, 1), (cancelled.job_id, CANCELLED, None)]


def test_every_job_gets_exactly_one_final_event(rt: Runtime) -> None:
    events: list[JobEvent] = []
    rt.hub.add_listener(events.append)
    ok, bad, gone = submit(rt, work), submit(rt, work), submit(rt, work)
    rt.finish(take(rt), value=1)
    rt.finish(take(rt), error=ValueError("x"))
    rt.cancel(gone.job_id)
    finals = [(e.job_id, e.kind) for e in events if e.is_final]
    assert finals == [(ok.job_id, EventKind.COMPLETED), (bad.job_id, EventKind.FAILED),
                      (gone.job_id, EventKind.CANCELLED)]
    assert [e.kind for e in events if e.job_id == ok.job_id] == [
        EventKind.SUBMITTED, EventKind.STARTED, EventKind.COMPLETED]


def test_a_cache_hit_completes_without_running(rt: Runtime) -> None:
    h = JobHandle(rt, submit(rt, work).job.derive({"task": work, "args": (), "kwargs": {}}),
                  work, (), {}, 0.0)
    rt.complete_cached(h, "cached")
    assert h.status is COMPLETED and h.cached and h.result(0) == "cached"
    assert rt.counts[COMPLETED] == 1 and rt.submitted == 2


# -- keeping finished jobs ----------------------------------------------------------------------

def test_keep_finished_evicts_the_oldest_finished_jobs() -> None:
    with runtime(keep_finished=3) as rt:
        handles = [submit(rt, work, i) for i in range(5)]
        for _ in handles:
            rt.finish(take(rt), value=0)
        assert list(rt.recent) == [h.job_id for h in handles[2:]]
        assert rt.get(handles[0].job_id) is None
        assert rt.get(handles[4].job_id) is handles[4]
        assert handles[0].result(0) == 0  # a handle you hold lives on
        assert rt.counts[COMPLETED] == 5  # counts are not evicted
        assert [h.job_id for h in rt.handles()] == [h.job_id for h in handles[2:]]
        assert_consistent(rt, handles)


# -- max_pending --------------------------------------------------------------------------------

def test_max_pending_reject_raises_queue_full_until_there_is_room() -> None:
    with runtime(max_pending=2, on_full="reject") as rt:
        handles = [submit(rt, work), submit(rt, work)]
        with pytest.raises(QueueFull) as info:
            submit(rt, work)
        assert (info.value.depth, info.value.limit) == (2, 2)
        assert rt.submitted == 2  # the refused job left no trace
        take(rt)  # a started job frees its pending slot
        handles.append(submit(rt, work))
        assert_consistent(rt, handles)


def test_max_pending_block_waits_until_a_job_starts() -> None:
    with runtime(max_pending=1, on_full="block") as rt:
        first = submit(rt, work)
        queued: list[JobHandle] = []
        submitter = threading.Thread(target=lambda: queued.append(submit(rt, work)),
                                     name="submitter")
        submitter.start()
        submitter.join(0.1)
        assert submitter.is_alive() and queued == []  # held back: the queue is full
        take(rt)
        submitter.join(10)
        assert not submitter.is_alive() and len(queued) == 1
        assert_consistent(rt, [first, *queued])


def test_max_pending_block_on_the_loop_thread_raises_instead_of_blocking() -> None:
    async def main() -> None:
        async with runtime_on_this_loop(max_pending=1) as rt:
            submit(rt, work)
            with pytest.raises(LoopBlockingError, match="would block the event loop"):
                submit(rt, work)

    asyncio.run(main())


# -- waiting for idle ---------------------------------------------------------------------------

def test_wait_idle_blocks_until_the_last_job_ends(rt: Runtime) -> None:
    assert rt.wait_idle(0) is True  # nothing active
    h = submit(rt, work)
    assert rt.wait_idle(0.01) is False
    run = take(rt)
    idle: list[bool] = []
    waiter = threading.Thread(target=lambda: idle.append(rt.wait_idle(10)), name="waiter")
    waiter.start()
    rt.finish(run, value=1)
    waiter.join(10)
    assert idle == [True] and h.done()


def test_wait_idle_async_resolves_when_the_last_job_ends() -> None:
    async def main() -> None:
        async with runtime_on_this_loop() as rt:
            await asyncio.wait_for(rt.wait_idle_async(), 1)  # idle already: returns at once
            submit(rt, work)
            run = take(rt)
            idle = asyncio.ensure_future(rt.wait_idle_async())
            await asyncio.sleep(0)
            assert not idle.done()
            # from another thread, as a worker would
            worker = threading.Thread(target=rt.finish, args=(run,), kwargs={"value": 1},
                                      name="worker")
            worker.start()
            await asyncio.wait_for(idle, 10)
            worker.join(10)

    asyncio.run(main())


def test_wait_idle_on_the_loop_thread_refuses_jobs_that_need_the_loop() -> None:
    async def main() -> None:
        async with runtime_on_this_loop() as rt:
            h = submit(rt, work, backend="looped")
            with pytest.raises(LoopBlockingError, match=rf"job {h.job_id} .*await"):
                rt.wait_idle(0)

    asyncio.run(main())


def test_the_inline_backend_runs_at_submit_through_the_same_protocol(rt: Runtime) -> None:
    ok = submit(rt, work, 5, backend="inline")
    bad = submit(rt, int, "x", backend="inline")
    assert ok.result(0) == 5
    assert bad.status is FAILED and "invalid literal" in bad.errors[0].message
    assert "Traceback" in bad.errors[0].traceback
    assert_consistent(rt, [ok, bad])


def test_stop_refuses_new_work(rt: Runtime) -> None:
    rt.stop(wait=False, timeout=0)
    assert rt.closing and timers(rt).stopped
    with pytest.raises(RuntimeError, match="engine is shut down"):
        submit(rt, work)


# -- any sequence of steps keeps the counts consistent ----------------------------------------

STEPS = st.lists(st.tuples(
    st.sampled_from(["submit", "submit_retry", "start", "ok", "fail", "cancel", "give_back",
                     "tick", "progress"]),
    st.integers(0, 7)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(STEPS)
def test_counts_stay_consistent_through_any_sequence(steps: list[tuple[str, int]]) -> None:
    handles: list[JobHandle] = []
    runs: list[Run] = []
    with runtime(workers=2) as rt:
        for op, k in steps:
            _step(rt, op, k, handles, runs)
            assert_consistent(rt, handles)
        rt.cancel_all()
        timers(rt).advance(1000)
        assert rt.next_run("manual", 0) is None
        assert all(h.finished for h in handles)
        assert rt.active == {} and rt.running == {}
        assert_consistent(rt, handles)


def _step(rt: Runtime, op: str, k: int, handles: list[JobHandle], runs: list[Run]) -> None:
    live = [r for r in runs if not r.ended]
    run: Any = live[k % len(live)] if live else None
    if op in ("submit", "submit_retry"):
        handles.append(submit(rt, work, priority=k % 3, timeout=5.0 if k % 2 else None,
                              retries=2 if op == "submit_retry" else 0, backoff=0.5))
    elif op == "start":
        runs += rt.next_runs("manual", 0, limit=1 + k % 3)
    elif op == "ok" and run is not None:
        rt.finish(run, value=k)
    elif op == "fail" and run is not None:
        rt.finish(run, error=RuntimeError(f"attempt {run.attempt}"))
    elif op == "cancel" and handles:
        rt.cancel(handles[k % len(handles)].job_id)
    elif op == "give_back" and run is not None:
        rt.give_back([run])
    elif op == "tick":
        timers(rt).advance(k)
    elif op == "progress" and run is not None:
        rt.progress(run, k, 7, None)

