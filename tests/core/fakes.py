"""Fakes for driving the Runtime by hand: no worker threads, no timer thread, no sleeping.

``make_runtime()`` builds a :class:`~godnb.core.runtime.Runtime` whose ``"manual"`` backend
never runs anything by itself: a test takes attempts with ``rt.next_run("manual", 0)`` and
ends them with ``rt.finish(...)``, exactly as a backend's worker would. Retry back-offs and
timeouts go to :class:`FakeTimers`, which fire when the test moves the :class:`FakeClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from godnb.core.handles import JobGroup, JobHandle
from godnb.core.runtime import Runtime
from godnb.core.timers import Timer
from godnb.execution.executor import Executor, Run
from godnb.execution.loop import EngineLoop
from godnb.models.job import Job, JobStatus


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeTimers:
    """Stands in for the runtime's TimerThread: ``advance(dt)`` fires what fell due."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timers: list[Timer] = []
        self.stopped = False

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(self.clock() + max(0.0, delay), callback, args)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[float]:
        """The delays, from now, of the timers not yet fired nor cancelled."""
        return [t.when - self.clock() for t in self.timers if not t.cancelled]

    def advance(self, seconds: float) -> int:
        """Move the clock and fire every due timer in order; returns how many fired."""
        self.clock.now += seconds
        due = sorted((t for t in self.timers if not t.cancelled and t.when <= self.clock()),
                     key=lambda t: t.when)
        for timer in due:
            self.timers.remove(timer)
            timer.callback(*timer.args)
        return len(due)

    def stop(self) -> None:
        self.stopped = True
        self.timers.clear()


class ManualExecutor(Executor):
    """A backend with no workers: it records what the host asks of it.

    Not registered by name (no ``name=``), so the plugin registry stays as it was.
    """

    def __init__(self, workers: int | None = None, needs_loop: bool = False) -> None:
        super().__init__(workers)
        self.needs_loop = needs_loop  # type: ignore[misc]
        self.wakes = 0
        self.interrupted: list[tuple[Run, str]] = []

    def wake(self) -> None:
        self.wakes += 1

    def interrupt(self, run: Run, reason: str) -> None:
        super().interrupt(run, reason)
        self.interrupted.append((run, reason))


class Recorder:
    """A Persistence hook that keeps every change it was told about."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, JobStatus, float | None]] = []

    def changed(self, handle: JobHandle) -> None:
        p = handle.job.progress
        self.changes.append((handle.job_id, handle.job.status, p.done if p else None))

    def of(self, handle: JobHandle) -> list[JobStatus]:
        return [status for job_id, status, _ in self.changes if job_id == handle.job_id]


def make_runtime(*, workers: int = 1, max_pending: int | None = None, on_full: str = "block",
                 keep_finished: int = 100, loop: asyncio.AbstractEventLoop | None = None
                 ) -> Runtime:
    """A Runtime over a ``"manual"`` backend, an ``"inline"`` one and a ``"looped"`` one
    (a manual backend whose attempts need the event loop, like asyncio's).

    With no running loop and no ``loop`` its loop thread starts only if something asks for
    the loop; call ``close(rt)`` at the end either way.
    """
    from godnb.concurrency.inline import InlineExecutor

    clock = FakeClock()
    executors: dict[str, Executor] = {
        "manual": ManualExecutor(workers),
        "inline": InlineExecutor(),
        "looped": ManualExecutor(needs_loop=True),
    }
    rt = Runtime(executors, loop=EngineLoop(loop), max_pending=max_pending, on_full=on_full,
                 keep_finished=keep_finished, clock=clock)
    rt.timers = FakeTimers(clock)  # type: ignore[assignment]
    rt.persist = Recorder()
    return rt


def close(rt: Runtime) -> None:
    rt.stop(wait=False, timeout=0)
    rt.loop_holder.close()


@contextlib.contextmanager
def runtime(**options: Any) -> Iterator[Runtime]:
    """``make_runtime(**options)``, closed at the end."""
    rt = make_runtime(**options)
    try:
        yield rt
    finally:
        close(rt)


@contextlib.asynccontextmanager
async def runtime_on_this_loop(**options: Any) -> AsyncIterator[Runtime]:
    """A runtime attached to the running loop (as in a kernel), closed at the end."""
    with runtime(loop=asyncio.get_running_loop(), **options) as rt:
        yield rt


def work(x: int = 0) -> int:
    """A job function (the fakes never call it: tests end attempts by hand)."""
    return x


def take(rt: Runtime, backend: str = "manual") -> Run:
    """Start the next queued attempt, as a backend's worker does; fail if none is queued."""
    run = rt.next_run(backend, 0)
    assert run is not None, "nothing was queued"
    return run


def make_handle(rt: Runtime, fn: Callable[..., Any], *args: Any, backend: str = "manual",
                priority: int = 0, retries: int = 0, backoff: float = 0.0,
                timeout: float | None = None, group: str = "default") -> JobHandle:
    """A handle for ``fn(*args)``, not queued yet."""
    job = Job(payload={"task": fn, "args": list(args)}, backend=backend, priority=priority,
              retries=retries, backoff=backoff, timeout=timeout, group=group)
    return JobHandle(rt, job, fn, args, {}, rt.clock())


def submit(rt: Runtime, fn: Callable[..., Any], *args: Any, backend: str = "manual",
           **options: Any) -> JobHandle:
    """Queue ``fn(*args)`` as ``Engine.submit`` does, minus the engine."""
    handle = make_handle(rt, fn, *args, backend=backend, **options)
    rt.enqueue([handle], backend)
    return handle


def submit_map(rt: Runtime, fn: Callable[..., Any], items: list[Any],
               backend: str = "manual") -> JobGroup:
    """Queue one job per item as ``Engine.map`` does: a group adopts them before queueing."""
    group = JobGroup(getattr(fn, "__name__", "map"))
    handles = [make_handle(rt, fn, item, backend=backend) for item in items]
    group._attach(handles)
    rt.enqueue(handles, backend)
    return group


def timers(rt: Runtime) -> FakeTimers:
    assert isinstance(rt.timers, FakeTimers)
    return rt.timers


def recorder(rt: Runtime) -> Recorder:
    assert isinstance(rt.persist, Recorder)
    return rt.persist


def manual(rt: Runtime, backend: str = "manual") -> ManualExecutor:
    executor = rt.executors[backend]
    assert isinstance(executor, ManualExecutor)
    return executor
