"""The ``"async"`` backend: coroutines run by worker tasks on the engine's event loop.

At most ``workers`` attempts run at once (default 1000). Like the thread backend, work is
pulled: worker tasks take attempts from the queue one after another, so a burst of short
coroutines costs no task per job, and each worker takes the queue's best job the moment it
is free. Workers start on demand: a worker about to await its job starts more when no other
worker is free to take the next one, doubling the pool while every worker waits, up to
``workers``. Jobs that never suspend are run by one or two workers back to back; jobs that
do wait get a worker each within a few turns of the loop. A worker lets the loop run other
callbacks every few jobs even when its jobs never suspend.

A timeout or cancel cancels the attempt, so the coroutine sees ``CancelledError`` at its
next ``await``; its worker goes on with the next job. A job that swallows the
``CancelledError`` and keeps running is reported ended at once all the same; if it still
holds its worker ``cancel_grace`` seconds later (default 1), the worker is abandoned, as
a thread worker is: a new worker takes its place, so such jobs never jam the pool, and the
abandoned task is cancelled once more and exits as soon as the job returns (or at
shutdown). As in a thread pool, a context variable a job sets stays set for the next job
of the same worker. A plain function
submitted here runs on the loop itself and blocks it while it runs: prefer
``backend="thread"``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from godnb.execution.context import current_run
from godnb.execution.executor import Executor, ExecutorInfo, Run
from godnb.execution.loop import running_loop
from godnb.execution.remote import format_traceback

__all__ = ["AsyncExecutor"]

log = logging.getLogger("godnb.async")

_YIELD_EVERY = 32  # jobs a worker runs back to back before it lets the loop turn
_GONE = object()


class AsyncExecutor(Executor, name="async"):
    """Runs coroutine functions on the engine's loop, ``workers`` at a time.

    Args:
        workers: how many attempts run at once (default 1000).
        cancel_grace: seconds an interrupted attempt may keep its worker (a job that
            swallows ``CancelledError``) before the worker is abandoned and replaced.
    """

    needs_loop = True
    #: Default of ``cancel_grace``: seconds before a worker whose job ignored its cancel is
    #: abandoned (the job was reported ended at the cancel already).
    cancel_grace: float = 1.0

    def __init__(self, workers: int | None = None, cancel_grace: float | None = None) -> None:
        super().__init__(workers or 1000)
        if cancel_grace is not None:
            if isinstance(cancel_grace, bool) or not isinstance(cancel_grace, int | float) \
                    or not 0 <= cancel_grace < float("inf"):
                raise ValueError(f"cancel_grace must be a finite number of seconds >= 0, "
                                 f"got {cancel_grace!r}")
            self.cancel_grace = float(cancel_grace)
        # Worker task -> the attempt it runs (None between jobs). Loop thread only.
        self._workers: dict[asyncio.Task[None], Run | None] = {}
        # Workers given up on: their job ignored its cancel. Not counted against `workers`.
        self._abandoned: set[asyncio.Task[None]] = set()
        self._pulling = 0  # workers about to ask for a job (started, or between jobs)
        self._scheduled = False
        self._stopped = False

    def wake(self) -> None:
        if self._stopped:
            return
        assert self.host is not None
        loop = self.host.loop
        if running_loop() is loop:
            self._pump()  # already on the loop (a cell, a coroutine): start workers now
            return
        if self._scheduled:
            return
        self._scheduled = True
        loop.call_soon_threadsafe(self._scheduled_pump)

    def _scheduled_pump(self) -> None:
        self._scheduled = False
        self._pump()

    def _pump(self) -> None:
        """Start workers for queued jobs no worker is about to take (loop thread).

        At most as many as are running already (at least one): the pool doubles while
        its workers all wait in jobs, instead of starting a task per queued job at once.
        """
        host = self.host
        assert host is not None
        if self._stopped:
            return
        wanted = host.queued(self.name) - self._pulling
        room = self.workers - len(self._workers)
        loop = host.loop
        for _ in range(min(wanted, room, max(1, len(self._workers)))):
            task = loop.create_task(self._work())
            self._workers[task] = None
            self._pulling += 1
            task.add_done_callback(self._forget)  # also runs if cancelled before it started

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if self._workers.pop(task, _GONE) is None:
            self._pulling -= 1
        if not self._stopped:
            # A worker cancelled from outside (a job cancelling its own task) leaves jobs
            # queued that no wake-up may come for: replace it (a no-op when none wait).
            self._pump()

    async def _work(self) -> None:
        __tracebackhide__ = True  # IPython: a job's traceback starts at the user's function
        host = self.host
        assert host is not None
        me = asyncio.current_task()
        assert me is not None
        name, workers = self.name, self._workers
        burst = 0
        while not self._stopped:
            run = host.next_run(name, 0)
            if run is None:
                return
            run.token = me
            workers[me] = run
            self._pulling -= 1
            token = current_run.set(run)
            try:
                value = run.fn(*run.args, **run.kwargs)
                if inspect.isawaitable(value):
                    if self._pulling == 0:
                        self._pump()  # this job may wait: let another worker take the next
                    value = await value
            except asyncio.CancelledError:
                if not self._ended_by_host(me, run):
                    raise
            except BaseException as e:
                host.finish(run, error=e, tb=format_traceback(e))
            else:
                host.finish(run, value=value)
                if run.ended and me.cancelling():
                    me.uncancel()  # the job swallowed its cancel: do not pass it on
            finally:
                current_run.reset(token)
                if me not in self._abandoned:
                    workers[me] = None
                    self._pulling += 1
            if me in self._abandoned:
                return  # replaced while its job ignored a cancel: take no more jobs
            burst += 1
            if burst == _YIELD_EVERY:
                burst = 0
                await asyncio.sleep(0)

    def _ended_by_host(self, me: asyncio.Task[None], run: Run) -> bool:
        """Settle a CancelledError out of ``run``: True if the worker goes on to the next job.

        The host cancelled the attempt (timeout, cancel): expected, go on. The job raised
        CancelledError itself: it failed, go on. Someone cancelled the worker task (the
        engine or its loop shutting down, a job cancelling its own task): the job ends
        with that error and the worker stops.
        """
        if run.ended and not self._stopped:
            if me.cancelling():
                me.uncancel()
            return True
        if not run.ended:
            assert self.host is not None
            self.host.finish(run, error=asyncio.CancelledError("task was cancelled"), tb="")
        return not me.cancelling()

    def interrupt(self, run: Run, reason: str) -> None:
        run.cancel_requested = True
        task: asyncio.Task[None] | None = run.token
        if task is None or task.done():
            return
        loop: asyncio.AbstractEventLoop = task.get_loop()
        if loop.is_closed():
            return
        if running_loop() is not loop:
            loop.call_soon_threadsafe(self._cancel_attempt, task, run)
        elif _is_current(task):
            # The job is cancelling itself: a cancel now would land at the worker's next
            # await, which may be in the next job. Once the job is parked, it lands in it.
            loop.call_soon(self._cancel_attempt, task, run)
        else:
            self._cancel_attempt(task, run)

    def _cancel_attempt(self, task: asyncio.Task[None], run: Run) -> None:
        # On the loop thread, so the worker is parked at an await: if it is still on this
        # attempt, the CancelledError lands inside it (never in the worker's next job).
        if self._workers.get(task) is run:
            task.cancel()
            task.get_loop().call_later(self.cancel_grace, self._abandon_if_stuck, task, run)

    def _abandon_if_stuck(self, task: asyncio.Task[None], run: Run) -> None:
        """The worker still runs ``run`` after its cancel and the grace: replace it.

        The job swallowed its ``CancelledError``. Its worker leaves the pool (it exits once
        the job returns, see ``_work``) and ``_pump`` starts another for queued jobs.
        Cancelling it again is safe: it will run no other job.
        """
        if self._workers.get(task) is not run or self._stopped:
            return
        del self._workers[task]
        self._abandoned.add(task)
        log.warning("async job %s ignored its cancel for %g s; its worker was replaced "
                    "(the job keeps running until it returns)", run.job_id, self.cancel_grace)
        task.cancel()
        self._pump()

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        self._stopped = True
        for task in [*self._workers, *self._abandoned]:
            if not task.done():
                loop = task.get_loop()
                if not loop.is_closed():
                    loop.call_soon_threadsafe(task.cancel)

    def info(self) -> ExecutorInfo:
        busy = sum(1 for run in list(self._workers.values()) if run is not None)
        return ExecutorInfo(self.name, self.workers, busy, self.host is not None)


def _is_current(task: asyncio.Task[None]) -> bool:
    return asyncio.current_task() is task
