"""The ``"async"`` backend: coroutines as tasks on the engine's event loop.

At most ``workers`` tasks run at once (default 1000). A timeout or cancel cancels the task,
so the coroutine sees ``CancelledError`` at its next ``await``. A plain function submitted
here runs on the loop itself and blocks it while it runs: prefer ``backend="thread"``.
"""

from __future__ import annotations

import asyncio
import inspect

from godnb.core.context import _current
from godnb.core.executor import Executor, ExecutorInfo, Run, format_traceback
from godnb.core.loop import running_loop

__all__ = ["AsyncExecutor"]


class AsyncExecutor(Executor, name="async"):
    """Runs coroutine functions as asyncio tasks, ``workers`` at a time."""

    needs_loop = True

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers or 1000)
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    def wake(self) -> None:
        if self._stopped:
            return
        assert self.host is not None
        loop = self.host.loop
        if running_loop() is loop:
            self._pump()  # already on the loop (a cell, a coroutine): start the tasks now
            return
        if self._scheduled:
            return
        self._scheduled = True
        loop.call_soon_threadsafe(self._scheduled_pump)

    def _scheduled_pump(self) -> None:
        self._scheduled = False
        self._pump()

    def _pump(self) -> None:
        host = self.host
        assert host is not None
        loop = host.loop
        while self._running < self.workers and not self._stopped:
            run = host.next_run(self.name, 0)
            if run is None:
                return
            self._running += 1
            task = loop.create_task(self._execute(run))
            run.token = task  # set before the task first runs: it starts on a later loop turn
            self._tasks.add(task)

    async def _execute(self, run: Run) -> None:
        host = self.host
        assert host is not None
        token = _current.set(run)
        try:
            value = run.fn(*run.args, **run.kwargs)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            if not run.ended:  # cancelled by someone else than the host
                host.finish(run, error=asyncio.CancelledError("task was cancelled"), tb="")
        except BaseException as e:
            host.finish(run, error=e, tb=format_traceback(e))
        else:
            host.finish(run, value=value)
        finally:
            _current.reset(token)
            self._tasks.discard(run.token)  # here, not in a done callback: one loop turn less
            self._running -= 1
            if not self._stopped:
                self._pump()

    def interrupt(self, run: Run, reason: str) -> None:
        run.cancel_requested = True
        task = run.token
        if task is None or task.done():
            return
        loop = task.get_loop()
        if loop.is_closed():
            return
        if running_loop() is loop:
            task.cancel()
        else:
            loop.call_soon_threadsafe(task.cancel)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        self._stopped = True
        for task in list(self._tasks):
            if not task.done():
                loop = task.get_loop()
                if not loop.is_closed():
                    loop.call_soon_threadsafe(task.cancel)

    def info(self) -> ExecutorInfo:
        return ExecutorInfo(self.name, self.workers, self._running, self.host is not None)
