"""The "process" backend, driven through a minimal fake host and through ProcessPool."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import types
from collections import deque
from concurrent.futures import CancelledError
from typing import Any

import pytest

from godnb.concurrency.process_pool import ProcessPool, StandaloneHost
from godnb.concurrency.processes import ProcessExecutor
from godnb.core.executor import create_executor
from godnb.errors import JobCancelled, WorkerDied
from godnb.execution.executor import Run
from godnb.execution.remote import RemoteTraceback
from tests.concurrency import proc_tasks
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


class FakeHost:
    """A queue of Runs; records every finish (even ignored ones) and every progress."""

    def __init__(self) -> None:
        self.closing = False
        self.cond = threading.Condition()
        self.queue: deque[Run] = deque()
        self.events: list[tuple[str, str, Any]] = []  # (kind, job_id, data) in order
        self.calls: dict[str, list[tuple[Any, BaseException | None, str | None]]] = {}
        self.count = 0

    @property
    def loop(self) -> Any:
        raise NotImplementedError

    def add(self, fn: Any, *args: Any, **kwargs: Any) -> Run:
        self.count += 1
        job = types.SimpleNamespace(job_id=f"job-{self.count}")
        run = Run(job, fn, args, kwargs, 1, "process", 0.0)  # type: ignore[arg-type]
        with self.cond:
            self.queue.append(run)
            self.cond.notify_all()
        return run

    def next_run(self, backend: str, timeout: float | None = None) -> Run | None:
        with self.cond:
            if not self.queue:
                self.cond.wait(timeout)
            return self.queue.popleft() if self.queue else None

    def finish(self, run: Run, value: Any = None, error: BaseException | None = None,
               tb: str | None = None) -> None:
        with self.cond:
            self.calls.setdefault(run.job_id, []).append((value, error, tb))
            if not run.ended:
                run.ended = True
                self.events.append(("finish", run.job_id, (value, error, tb)))
            self.cond.notify_all()

    def wake_workers(self, backend: str) -> None:
        with self.cond:
            self.cond.notify_all()

    def progress(self, run: Run, done: float, total: float | None, message: str | None) -> None:
        with self.cond:
            self.events.append(("progress", run.job_id, (done, total, message)))
            self.cond.notify_all()

    # ---- test helpers ----
    def wait_for(self, kind: str, run: Run, timeout: float = 30) -> Any:
        def found() -> Any:
            return next((d for k, j, d in self.events if k == kind and j == run.job_id), None)
        with self.cond:
            assert self.cond.wait_for(found, timeout), f"no {kind} for {run.job_id}"
            return found()

    def result(self, run: Run) -> tuple[Any, BaseException | None, str | None]:
        return self.wait_for("finish", run)  # type: ignore[no-any-return]

    def end_and_interrupt(self, ex: ProcessExecutor, run: Run, reason: str) -> None:
        with self.cond:
            run.ended = True  # the host marks the run ended first, then interrupts
        ex.interrupt(run, reason)


@pytest.fixture(autouse=True)
def no_process_leaks():
    # Stricter than the shared no_leaks: no grace period, shutdown() must have joined all.
    yield
    assert multiprocessing.active_children() == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("godnb-proc-")] == []


@pytest.fixture
def pool():
    host = FakeHost()
    ex = ProcessExecutor(workers=1, idle_poll=0.05)
    ex.start(host)
    ex.wake()
    yield ex, host
    ex.shutdown(wait=False)


@pytest.fixture
def host(pool):
    return pool[1]


# ---- basics -----------------------------------------------------------------------------

def test_registered_by_name_and_needs_pickle():
    ex = create_executor("process", workers=2)
    assert isinstance(ex, ProcessExecutor)
    assert ex.needs_pickle and ex.workers == 2
    assert ex.start_method == "fork"  # the Linux default, so notebook functions work
    assert ProcessExecutor().workers >= 1


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"valid names: .*'spawn'"):
        ProcessExecutor(mp_context="sporn")
    with pytest.raises(TypeError, match="start method name"):
        ProcessExecutor(mp_context=42)
    with pytest.raises(ValueError, match="workers must be a positive int"):
        ProcessExecutor(workers=0)
    with pytest.raises(ValueError, match="idle_poll"):
        ProcessExecutor(idle_poll=0)


def test_start_is_lazy_and_info_reports_workers():
    ex, host = ProcessExecutor(workers=2), FakeHost()
    ex.start(host)
    assert ex.info().started is False
    assert multiprocessing.active_children() == []
    ex.wake()
    run = host.add(proc_tasks.started_then_sleep, 0.3)
    host.wait_for("progress", run)
    info = ex.info()
    assert (info.name, info.workers, info.busy, info.started) == ("process", 2, 1, True)
    ex.shutdown()
    assert ex.info().started is False


def test_success(host):
    run = host.add(proc_tasks.add, 2, b=3)
    assert host.result(run) == (5, None, None)


def test_exception_keeps_type_and_worker_traceback(host):
    run = host.add(proc_tasks.fail, "boom")
    _, error, tb = host.result(run)
    assert isinstance(error, ValueError) and str(error) == "boom"
    assert "in fail" in tb and "ValueError: boom" in tb
    assert host.result(host.add(proc_tasks.add, 1, 1))[0] == 2


def test_system_exit_in_a_job_is_an_error_not_a_dead_worker(host):
    _, error, _ = host.result(host.add(proc_tasks.raise_system_exit))
    assert isinstance(error, SystemExit) and error.code == 4


def test_progress_arrives_in_order_and_the_last_one_is_delivered(host):
    run = host.add(proc_tasks.report_steps, 200)
    assert host.result(run)[0] == "finished"
    mine = [(k, d) for k, j, d in host.events if j == run.job_id]
    assert mine[-1][0] == "finish"
    steps = [d for k, d in mine if k == "progress"]
    assert steps[-1] == (200, 200, "step 200")
    assert [d[0] for d in steps] == sorted({d[0] for d in steps})  # increasing, no repeats
    assert len(steps) < 200  # throttled


def test_progress_reaches_the_standalone_callback():
    seen = []
    with StandaloneHost(ProcessExecutor(workers=1),
                        on_progress=lambda fut, *p: seen.append(p)) as host:
        assert host.submit(proc_tasks.report_steps, 5).result() == "finished"
    assert seen[-1] == (5, 5, "step 5")


# ---- interrupt and dying workers --------------------------------------------------------

def test_interrupt_kills_the_running_job_and_the_pool_keeps_serving(pool):
    ex, host = pool
    run = host.add(proc_tasks.started_then_sleep, 60)
    host.wait_for("progress", run)
    host.end_and_interrupt(ex, run, "timeout")
    assert run.cancel_requested
    nxt = host.add(proc_tasks.add, 20, 22)
    assert host.result(nxt) == (42, None, None)
    assert run.job_id not in host.calls  # no finish at all for the killed run


def test_interrupt_of_a_finished_run_is_harmless(pool):
    ex, host = pool
    run = host.add(proc_tasks.add, 1, 2)
    host.result(run)
    ex.interrupt(run, "cancel")
    assert host.result(host.add(proc_tasks.add, 2, 2))[0] == 4


def test_child_exit_fails_only_its_job_with_worker_died(host):
    run = host.add(proc_tasks.exit_with, 3)
    _, error, tb = host.result(run)
    assert isinstance(error, WorkerDied)
    assert (error.job_id, error.attempt) == (run.job_id, 1)
    assert "exit code 3" in str(error) and "the pool replaced it" in str(error)
    assert "WorkerDied" in tb
    assert host.result(host.add(proc_tasks.add, 1, 2))[0] == 3


@pytest.mark.parametrize(("task", "signame"), [(proc_tasks.kill_self, "SIGKILL"),
                                               (proc_tasks.segfault, "SIGSEGV")])
def test_child_killed_by_a_signal_names_it(host, task, signame):
    _, error, _ = host.result(host.add(task))
    assert isinstance(error, WorkerDied)
    assert f"killed by signal {signame}" in str(error)
    assert host.result(host.add(proc_tasks.add, 1, 2))[0] == 3


# ---- pickling ---------------------------------------------------------------------------

def test_unpicklable_function_is_a_clear_type_error(host):
    _, error, _ = host.result(host.add(lambda: 1))
    assert isinstance(error, TypeError)
    assert "<lambda>" in str(error) and "can not be sent to a process worker" in str(error)
    assert "def, not lambda" in str(error) and "backend='thread'" in str(error)
    assert host.result(host.add(proc_tasks.add, 1, 2))[0] == 3


def test_unpicklable_argument_is_a_clear_type_error(host):
    _, error, _ = host.result(host.add(proc_tasks.add, threading.Lock(), 1))
    assert isinstance(error, TypeError)
    assert "its arguments can not be sent to a process worker" in str(error)
    assert "_thread.lock" in str(error)
    assert host.result(host.add(proc_tasks.add, 1, 2))[0] == 3


def test_unpicklable_result_is_a_clear_error(host):
    _, error, _ = host.result(host.add(proc_tasks.return_lock))
    assert isinstance(error, TypeError)
    assert "could not be pickled" in str(error) and "return plain data" in str(error)


def test_exception_that_can_not_cross_back_keeps_type_message_and_traceback(host):
    _, error, tb = host.result(host.add(proc_tasks.raise_two_arg))
    assert isinstance(error, RuntimeError)
    assert "proc_tasks.TwoArgError: left/right" in str(error)
    assert "Original traceback" in str(error) and "in raise_two_arg" in str(error)
    assert "in raise_two_arg" in tb


# ---- fork staleness: code defined in __main__ after the fork -----------------------------

@pytest.fixture
def main_module():
    main = sys.modules["__main__"]
    added: list[str] = []

    def define(name: str, obj: Any) -> Any:
        obj.__module__, obj.__qualname__ = "__main__", name
        setattr(main, name, obj)
        added.append(name)
        return obj

    yield define
    for name in set(added):
        delattr(main, name)


def test_function_defined_in_main_after_the_fork_gets_a_fresh_fork(main_module):
    with ProcessPool(workers=1) as pool:
        first = pool.submit(proc_tasks.getpid).result()

        def late(x):
            return x * 2
        main_module("godnb_test_late_fn", late)
        assert pool.submit(late, 21).result() == 42
        assert pool.submit(proc_tasks.getpid).result() != first


def test_function_redefined_in_main_runs_the_new_code(main_module):
    def v1():
        return "old"

    def v2():
        return "new"
    with ProcessPool(workers=1) as pool:
        main_module("godnb_test_redefined", v1)
        assert pool.submit(v1).result() == "old"
        main_module("godnb_test_redefined", v2)
        assert pool.submit(v2).result() == "new"


def test_argument_class_defined_in_main_after_the_fork_is_detected_in_the_child(main_module):
    with ProcessPool(workers=1) as pool:
        first = pool.submit(proc_tasks.getpid).result()
        late_cls = main_module("GodnbTestLateArg", type("GodnbTestLateArg", (), {"value": 7}))
        assert pool.submit(proc_tasks.value_of, late_cls()).result() == 7
        assert pool.submit(proc_tasks.getpid).result() != first


# ---- shutdown ---------------------------------------------------------------------------

def test_shutdown_wait_lets_the_running_job_finish():
    ex, host = ProcessExecutor(workers=1), FakeHost()
    ex.start(host)
    ex.wake()
    run = host.add(proc_tasks.started_then_sleep, 0.5, "done")
    host.wait_for("progress", run)
    ex.shutdown(wait=True)
    assert host.result(run) == ("done", None, None)


def test_shutdown_without_wait_kills_running_jobs_and_reports_nothing():
    ex, host = ProcessExecutor(workers=2), FakeHost()
    ex.start(host)
    ex.wake()
    runs = [host.add(proc_tasks.started_then_sleep, 60) for _ in range(2)]
    for run in runs:
        host.wait_for("progress", run)
    ex.shutdown(wait=False)
    assert host.calls == {}  # the host cancels what was running
    assert all(run.cancel_requested for run in runs)


def test_shutdown_wait_with_timeout_kills_what_is_still_running():
    ex, host = ProcessExecutor(workers=1), FakeHost()
    ex.start(host)
    ex.wake()
    run = host.add(proc_tasks.started_then_sleep, 60)
    host.wait_for("progress", run)
    ex.shutdown(wait=True, timeout=0.2)
    assert host.calls == {}


def test_interpreter_exit_without_shutdown_kills_children_and_does_not_hang():
    script = (
        "import os, time\n"
        "from godnb.concurrency.process_pool import ProcessPool\n"
        "pool = ProcessPool(workers=1)\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "pool.submit(time.sleep, 60)\n"
        "time.sleep(0.2)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=30, check=True)
    child = int(out.stdout.split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_shutdown_before_any_work_and_twice_is_fine():
    ex = ProcessExecutor(workers=1)
    ex.start(FakeHost())
    ex.shutdown()
    ex.shutdown(wait=False)
    ex.wake()  # after shutdown: nothing starts
    assert multiprocessing.active_children() == []


# ---- ProcessPool: the standalone futures API ----------------------------------------------

def test_pool_submit_returns_futures_in_order():
    with ProcessPool(workers=2) as pool:
        futures = [pool.submit(proc_tasks.add, i, i) for i in range(50)]
        assert [f.result() for f in futures] == [2 * i for i in range(50)]
        assert pool.info().workers == 2


def test_pool_error_carries_the_worker_traceback_as_cause():
    with ProcessPool(workers=1) as pool:
        fut = pool.submit(proc_tasks.fail, "bad item")
        with pytest.raises(ValueError, match="bad item") as info:
            fut.result()
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "in fail" in str(info.value.__cause__)


def test_pool_cancel_kills_a_running_call_and_keeps_serving():
    with ProcessPool(workers=1) as pool:
        running = pool.submit(proc_tasks.started_then_sleep, 60)
        pending = pool.submit(proc_tasks.add, 1, 1)
        assert pool.cancel(pending) and pending.cancelled()
        wait_until(lambda: pool.info().busy, 30, "the call to start")
        assert pool.cancel(running)
        with pytest.raises(JobCancelled, match="cancelled while running"):
            running.result()
        assert pool.submit(proc_tasks.add, 2, 3).result() == 5
        assert pool.cancel(running) is False  # already ended


def test_pool_shutdown_wait_runs_everything_queued():
    pool = ProcessPool(workers=1)
    futures = [pool.submit(proc_tasks.add, i, 1) for i in range(5)]
    pool.shutdown(wait=True)
    assert [f.result() for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(proc_tasks.add, 1, 1)


def test_pool_shutdown_without_wait_cancels_pending_and_kills_running():
    pool = ProcessPool(workers=1)
    running = pool.submit(proc_tasks.started_then_sleep, 60)
    pending = pool.submit(proc_tasks.add, 1, 1)
    wait_until(lambda: pool.info().busy, 30, "the call to start")
    pool.shutdown(wait=False)
    assert pending.cancelled()
    with pytest.raises(JobCancelled):
        running.result()


def test_pool_context_manager_cancels_on_error():
    with pytest.raises(KeyError), ProcessPool(workers=1) as pool:
        fut = pool.submit(proc_tasks.started_then_sleep, 60)
        later = pool.submit(proc_tasks.add, 1, 1)
        raise KeyError("stop")
    for f in (fut, later):  # running -> killed, pending -> cancelled
        with pytest.raises((JobCancelled, CancelledError)):
            f.result()


def test_pool_with_spawn_runs_module_functions():
    with ProcessPool(workers=1, mp_context="spawn") as pool:
        assert pool.executor.start_method == "spawn"
        assert pool.submit(proc_tasks.add, 4, 5).result() == 9


# ---- through the real engine ----------------------------------------------------------------

def test_engine_timeout_kills_a_process_job_and_the_pool_keeps_serving():
    import godnb as god

    with god.Engine(threads=1, processes=1) as eng:
        h = eng.submit(proc_tasks.started_then_sleep, 60, backend="process", timeout=0.5)
        with pytest.raises(god.JobTimeout, match=r"timed out after 0\.5 s"):
            h.result()
        assert eng.submit(proc_tasks.add, 1, 2, backend="process").result() == 3


def test_engine_relays_progress_and_worker_death():
    import godnb as god

    with god.Engine(threads=1, processes=1) as eng:
        h = eng.submit(proc_tasks.report_steps, 20, backend="process")
        assert h.result() == "finished"
        assert (h.progress.done, h.progress.total, h.progress.message) == (20, 20, "step 20")
        dead = eng.submit(proc_tasks.exit_with, 9, backend="process")
        with pytest.raises(god.JobFailed, match="exit code 9"):
            dead.result()
        assert isinstance(dead.exception().__cause__, WorkerDied)
