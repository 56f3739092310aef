"""Standalone use of an executor: a futures API without an engine.

:class:`ProcessPool` (a :class:`StandaloneHost` around a
:class:`~godnb.concurrency.processes.ProcessExecutor`) is a process pool whose running
calls can be killed; the pipeline's process stages use it for chunks::

    with ProcessPool(workers=2) as pool:
        fut = pool.submit(run_chunk, fn, items)
        out = fut.result()
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any

from godnb.concurrency.processes import ProcessExecutor
from godnb.errors import JobCancelled
from godnb.execution.executor import Executor, ExecutorInfo, Run
from godnb.execution.remote import with_remote_traceback

__all__ = ["ProcessPool", "StandaloneHost"]


class _Ticket:
    """Stand-in for a Job: :class:`Run` only reads ``job.job_id``; the future is ours."""

    __slots__ = ("future", "job_id")

    def __init__(self, job_id: str, future: Future[Any]) -> None:
        self.job_id = job_id
        self.future = future


class StandaloneHost:
    """A minimal :class:`~godnb.execution.executor.ExecutorHost`: FIFO queue, one future per call.

    It drives one executor without an engine (no priorities, retries, timeouts or store).
    Runs carry a stand-in job (``_Ticket``) with only ``job_id``, which is all
    :class:`Run` reads.

    Example:
        >>> host = StandaloneHost(InlineExecutor())  # doctest: +SKIP
        >>> host.submit(pow, 2, 10).result()         # doctest: +SKIP
        1024
    """

    def __init__(self, executor: Executor,
                 on_progress: Callable[[Future[Any], float, float | None, str | None], None]
                 | None = None) -> None:
        self.executor = executor
        self.closing = False
        self.submitter_waiting = False  # never set: submit() does not contend with workers
        self.on_progress = on_progress
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[Run] = deque()
        self._runs: dict[Future[Any], Run] = {}
        self._ids = itertools.count(1)
        self._prefix = f"{executor.name}-{id(self):x}"
        executor.start(self)

    @property
    def loop(self) -> Any:
        raise RuntimeError("StandaloneHost has no event loop; use an Engine for async jobs")

    # ---- the user's side -------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)``; the future holds its result or error."""
        fut: Future[Any] = Future()
        run = Run(_Ticket(f"{self._prefix}-{next(self._ids)}", fut),  # type: ignore[arg-type]
                  fn, args, kwargs, 1, self.executor.name, 0.0, self)
        with self._cond:
            if self.closing:
                raise RuntimeError("cannot submit after shutdown()")
            self._queue.append(run)
            self._runs[fut] = run
            self._cond.notify()
        self.executor.wake()
        return fut

    def cancel(self, future: Future[Any]) -> bool:
        """Cancel a pending call, or stop a running one (a process job is killed; its
        future then raises :class:`~godnb.errors.JobCancelled`, because a running
        ``concurrent.futures.Future`` can not enter the cancelled state). False if done."""
        if future.cancel():
            return True
        with self._cond:
            run = self._runs.pop(future, None)
            if run is None or run.ended:
                return False
            run.ended, run.reason = True, "cancel"
        future.set_exception(JobCancelled(f"job {run.job_id} was cancelled while running",
                                          job_id=run.job_id, attempt=run.attempt))
        self.executor.interrupt(run, "cancel")
        return True

    def shutdown(self, wait: bool = True) -> None:
        """With ``wait``, run everything submitted, then stop. Without, cancel pending
        calls and stop running ones now."""
        with self._cond:
            self.closing = True
            self._cond.notify_all()
            futures = list(self._runs)
        if wait:
            wait_futures(futures)
        else:
            for fut in futures:
                self.cancel(fut)
        self.executor.shutdown(wait=wait)

    def __enter__(self) -> StandaloneHost:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        """Leaving normally waits for the work; leaving by an exception cancels it."""
        self.shutdown(wait=exc_type is None)

    # ---- the executor's side ---------------------------------------------------------

    def queued(self, backend: str) -> int:
        return len(self._queue)

    def next_run(self, backend: str, timeout: float | None = None) -> Run | None:
        with self._cond:
            if not self._queue and not self.closing and timeout != 0:
                self._cond.wait(timeout)
            while self._queue:
                run = self._queue.popleft()
                fut = run.job.future  # type: ignore[attr-defined]
                if fut.running() or fut.set_running_or_notify_cancel():  # running: given back
                    run.started = time.monotonic()
                    return run
                self._runs.pop(fut, None)
            return None

    def next_runs(self, backend: str, timeout: float | None, limit: int) -> list[Run]:
        run = self.next_run(backend, timeout)  # one at a time: calls here are not tiny
        return [] if run is None else [run]

    def give_back(self, runs: list[Run]) -> None:
        with self._cond:
            self._queue.extendleft(reversed(runs))
            self._cond.notify(len(runs))

    def outranked(self, backend: str, priority: int) -> bool:
        return False  # first come, first served

    def finish(self, run: Run, value: Any = None, error: BaseException | None = None,
               tb: str | None = None) -> None:
        fut = run.job.future  # type: ignore[attr-defined]
        with self._cond:
            if run.ended:
                return
            run.ended = True
            self._runs.pop(fut, None)
        if error is None:
            fut.set_result(value)
            return
        if error.__traceback__ is None:  # it was raised in another process
            with_remote_traceback(error, tb)
        fut.set_exception(error)

    def wake_workers(self, backend: str) -> None:
        with self._cond:
            self._cond.notify_all()

    def output_for(self, run: Run, create: bool | None = None) -> None:
        return None  # standalone calls print as they always did: nothing is captured

    def progress(self, run: Run, done: float, total: float | None,
                 message: str | None) -> None:
        if self.on_progress is not None:
            self.on_progress(run.job.future, done, total, message)  # type: ignore[attr-defined]


class ProcessPool(StandaloneHost):
    """A process pool whose running calls can be killed: ``submit`` returns a Future.

    Example:
        >>> with ProcessPool(workers=2) as pool:   # doctest: +SKIP
        ...     fut = pool.submit(pow, 2, 10)
        ...     fut.result()
        1024
    """

    def __init__(self, workers: int | None = None, mp_context: Any = None) -> None:
        super().__init__(ProcessExecutor(workers, mp_context))

    def info(self) -> ExecutorInfo:
        return self.executor.info()
