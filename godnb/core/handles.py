"""What ``submit`` returns: a :class:`JobHandle`, a :class:`JobGroup` for ``map``.

A handle completes without the event loop: ``h.result()`` waits on a thread primitive, and
``await h`` parks an asyncio future that the engine resolves with ``call_soon_threadsafe``.

Interrupts: a KeyboardInterrupt (a kernel's "interrupt") during a blocking ``h.result()``,
``h.wait()``, ``g.results()`` or ``g.wait()`` stops the wait, and the jobs keep running;
with ``cancel_on_interrupt=True`` it also cancels what was waited for, then re-raises.
During ``await h`` in a notebook cell, ipykernel turns an interrupt into a cancel of the
cell's task, delivered when the kernel's event loop next wakes up (measured with
ipykernel 7.4: for a job that runs on, only when it ends), and the job keeps running.
``await h.result_async(cancel_on_interrupt=True)`` (``g.results_async``,
``eng.wait_async``) wakes the loop every ``INTERRUPT_TICK`` seconds so the interrupt lands
at once, and then cancels what it waited for.

Tracebacks: the frames between the caller's ``h.result()`` and the user's function carry
IPython's ``__tracebackhide__``, so a notebook shows the user's lines, not godnb's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from godnb.errors import JobCancelled, JobFailed, JobTimeout
from godnb.execution.output import JobOutput
from godnb.models.events import JobEvent
from godnb.models.job import Job, JobStatus, Progress
from godnb.models.result import ErrorInfo, Result

if TYPE_CHECKING:
    from datetime import datetime

    from godnb.core.futures import JobFuture
    from godnb.core.runtime import Runtime
    from godnb.core.timers import Timer
    from godnb.execution.executor import Run
    from godnb.utils.retry import RetryPolicy

__all__ = ["JobGroup", "JobHandle", "cancel_reason", "wait_interruptibly"]

log = logging.getLogger("godnb.engine")
INTERRUPTED = "interrupted (KeyboardInterrupt) while waiting for it"
INTERRUPT_TICK = 0.2  # seconds between loop wake-ups of a wait that cancels on interrupt
T = TypeVar("T")


async def wait_interruptibly(aw: Awaitable[T], on_interrupt: Callable[[], Any]) -> T:
    """Await ``aw``; if this wait is cancelled or interrupted, call ``on_interrupt()`` and
    re-raise. Wakes the loop every :data:`INTERRUPT_TICK` seconds meanwhile, so a kernel
    interrupt (which ipykernel delivers when the loop wakes) lands promptly."""
    __tracebackhide__ = True
    task = asyncio.ensure_future(aw)
    try:
        while not task.done():
            await asyncio.wait((task,), timeout=INTERRUPT_TICK)
    except (asyncio.CancelledError, KeyboardInterrupt):
        task.cancel()
        on_interrupt()
        raise
    return task.result()


def _block(event: threading.Event, timeout: float | None,
           cancel: Callable[[str], Any] | None) -> bool:
    """``event.wait(timeout)``; on an interrupt, ``cancel(INTERRUPTED)`` (if given) first."""
    __tracebackhide__ = True
    try:
        return event.wait(timeout)
    except KeyboardInterrupt:
        if cancel is not None:
            cancel(INTERRUPTED)
        raise


class JobHandle:
    """A submitted job: watch it, wait for it, cancel it.

    Example:
        >>> h = eng.submit(pow, 2, 10)        # doctest: +SKIP
        >>> h.result()                         # doctest: +SKIP
        1024
    """

    __slots__ = (
        "__weakref__",
        "_awaiters",
        "_callbacks",
        "_cf_waiters",
        "_event",
        "_future",
        "_runtime",
        "args",
        "cache_key",
        "cached",
        "captured",
        "error",
        "errors",
        "execution_time",
        "finished",
        "fn",
        "group",
        "job",
        "job_id",
        "jobgroup",
        "kwargs",
        "output",
        "policy",
        "priority",
        "retry_timer",
        "run",
        "submitted",
    )
    _future: JobFuture | None  # left unset until first used (see __init__)
    _cf_waiters: list[Any] | None

    def __init__(self, runtime: Runtime, job: Job, fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any], submitted: float) -> None:
        self._runtime = runtime
        self.job = job
        self.job_id = job.job_id
        self.priority = job.priority
        self.group = job.group
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.submitted = submitted
        self.policy: RetryPolicy | None = None
        self.jobgroup: JobGroup | None = None  # counts this job's end, when from map()
        self.cache_key: str | None = None
        self.run: Run | None = None
        self.retry_timer: Timer | None = None
        self.finished = False
        self.cached = False
        self.output: Any = None
        self.errors: list[ErrorInfo] = _NO_ERRORS  # replaced on the first error
        self.error: BaseException | None = None  # the live exception of a failed job
        self.execution_time = 0.0
        self.captured: JobOutput | None = None  # what it printed, once captured
        self._event: threading.Event | None = None
        self._awaiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] | None = None
        self._callbacks: list[Callable[[JobHandle], Any]] | None = None
        # _future and _cf_waiters stay unset (no cost per job) until h.future or
        # concurrent.futures.wait / as_completed first asks for them: see below.

    # -- state -----------------------------------------------------------------------
    @property
    def status(self) -> JobStatus:
        return self.job.status

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of the engine that runs this job."""
        return self._runtime.loop

    @property
    def name(self) -> str:
        return self.job.task_name

    @property
    def progress(self) -> Progress:
        """Done/total/message as last reported (a finished job reads as complete)."""
        p = self.job.progress
        if self.job.status is JobStatus.COMPLETED:
            total = p.total if p and p.total else 1.0
            return Progress(done=total, total=total, message=p.message if p else None)
        return p or Progress()

    @property
    def attempts(self) -> int:
        """Attempts started so far."""
        return self.job.attempts

    @property
    def finished_at(self) -> datetime | None:
        """When the job ended (UTC), or None while it has not."""
        return self.job.updated_at if self.finished else None

    def done(self) -> bool:
        """True once the job ended: completed, failed or cancelled."""
        return self.finished

    @property
    def key(self) -> str | None:
        """The key given at submit (``submit(..., key="sweep")``), or None."""
        return self.job.key

    @property
    def cell(self) -> int | None:
        """The In[n] number of the notebook cell that submitted the job, or None."""
        return self.job.cell

    @property
    def cell_id(self) -> str | None:
        """The id of the notebook cell that submitted the job, when the front end sent one."""
        return self.job.cell_id

    # -- output ------------------------------------------------------------------------
    def output_text(self, stream: str | None = None) -> str:
        """What the job printed and logged, when its output was captured ("" otherwise).

        In a kernel every job's output is captured (elsewhere: ``Engine(capture_output=
        True)`` or :meth:`capture_output`). ``stream`` is ``"stdout"``, ``"stderr"`` or
        None for both, interleaved as written. A buffer keeps the newest
        :data:`~godnb.execution.output.MAX_LINES` lines: when older ones were dropped the
        text starts with ``[... N earlier lines cut]``.

        Example:
            >>> h = eng.submit(train)       # doctest: +SKIP
            >>> print(h.output_text())      # doctest: +SKIP
            epoch 1 loss 0.52
        """
        out = self.captured
        return "" if out is None else out.text(stream)

    @property
    def capturing(self) -> bool:
        """True when this job's output is (or will be) captured."""
        return self.captured is not None or self._runtime.captures()

    def capture_output(self) -> JobOutput:
        """Capture this job's output from now on (if it was not already); its buffer.

        For a job of an engine that does not capture by default (outside a kernel). Text
        printed before the call is not recovered, and a process job already running keeps
        printing to the terminal: call it right after ``submit``.
        """
        with self._runtime.lock:
            if self.captured is None:
                self.captured = JobOutput()
            return self.captured

    @property
    def outcome(self) -> Result | None:
        """The :class:`Result` once the job ended, else None."""
        if not self.finished:
            return None
        job = self.job
        return Result.trusted(self.job_id, job.status, self.output, list(self.errors),
                              self.execution_time, job.attempts, self.cached, job.updated_at)

    # -- waiting ---------------------------------------------------------------------
    def wait(self, timeout: float | None = None, *, cancel_on_interrupt: bool = False) -> bool:
        """Block until the job ends (True) or ``timeout`` passes (False).

        ``cancel_on_interrupt=True``: a KeyboardInterrupt while waiting cancels the job,
        then propagates (without it the job keeps running).
        """
        __tracebackhide__ = True
        if self.finished:
            return True
        self._runtime.check_blocking_wait((self,))
        with self._runtime.lock:
            if self.finished:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return _block(event, timeout, self.cancel if cancel_on_interrupt else None)

    def result(self, timeout: float | None = None, *, cancel_on_interrupt: bool = False
               ) -> Any:
        """The job's output; raises JobFailed / JobCancelled / JobTimeout / TimeoutError.

        On the event loop's own thread this works for thread and process jobs; for an
        async job it raises :class:`LoopBlockingError` at once: use ``await h`` there.
        ``cancel_on_interrupt=True``: interrupting the wait (Ctrl-C, a kernel interrupt)
        cancels the job too.
        """
        __tracebackhide__ = True
        if not self.wait(timeout, cancel_on_interrupt=cancel_on_interrupt):
            raise TimeoutError(f"job {self.job_id} did not finish within {timeout} s; it is "
                               f"still {self.status.value}")
        return self._value()

    async def result_async(self, *, cancel_on_interrupt: bool = False) -> Any:
        """``await h`` with a choice: ``cancel_on_interrupt=True`` cancels the job when the
        wait is cancelled or interrupted (in a kernel an interrupt cancels the cell's
        task), then re-raises."""
        __tracebackhide__ = True
        if not cancel_on_interrupt:
            return await self._wait_async()
        return await wait_interruptibly(self._wait_async(), lambda: self.cancel(INTERRUPTED))

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The error the job ended with (None if it completed)."""
        try:
            self.result(timeout)
        except (JobFailed, JobCancelled, JobTimeout) as e:  # JobTimeout: not a JobFailed
            return e
        return None

    def __await__(self) -> Any:
        __tracebackhide__ = True
        return self._wait_async().__await__()

    async def _wait_async(self) -> Any:
        __tracebackhide__ = True
        if not self.finished:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            with self._runtime.lock:
                if not self.finished:
                    if self._awaiters is None:
                        self._awaiters = []
                    self._awaiters.append((loop, fut))
                else:
                    fut.set_result(None)
            await fut
        return self._value()

    def _value(self) -> Any:
        __tracebackhide__ = True
        status = self.job.status
        if status is JobStatus.COMPLETED:
            return self.output
        last = self.errors[-1] if self.errors else None
        if status is JobStatus.CANCELLED:
            reason = cancel_reason(self)
            raise JobCancelled(f"job {self.job_id} ({self.name}) was cancelled"
                               + (f": {reason}" if reason else ""),
                               job_id=self.job_id, attempt=self.job.attempts)
        cause = self.error
        message = (f"job {self.job_id} ({self.name}) failed after {self.job.attempts} "
                   f"attempt(s): {last}")
        if isinstance(cause, JobTimeout):
            raise JobTimeout(message, job_id=self.job_id, attempt=self.job.attempts) from cause
        raise JobFailed(message, job_id=self.job_id, attempt=self.job.attempts,
                        result=self.outcome) from cause

    def add_done_callback(self, fn: Callable[[JobHandle], Any]) -> None:
        """Call ``fn(handle)`` when the job ends (at once if it has), on the ending thread."""
        with self._runtime.lock:
            if not self.finished:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def _resolve(self) -> Sequence[Callable[[JobHandle], Any]]:
        """Wake every waiter; called once by the runtime, under its lock."""
        self.finished = True
        if self._event is not None:
            self._event.set()
        if self._awaiters:
            _wake(self._awaiters)
            self._awaiters = None
        callbacks = self._callbacks
        if callbacks is None:
            return ()
        self._callbacks = None
        return callbacks

    # -- concurrent.futures ------------------------------------------------------------
    @property
    def future(self) -> JobFuture:
        """A :class:`concurrent.futures.Future` of this job, made on first use.

        It resolves when the job ends: with the output, with the exception ``h.result()``
        raises (:class:`JobFailed` / :class:`JobTimeout`, the job's own error as
        ``__cause__``), or cancelled (``result()`` raises :class:`JobCancelled`, which is a
        ``concurrent.futures.CancelledError``). ``h.future.cancel()`` cancels the job. For
        code that takes standard futures; ``concurrent.futures.wait(handles)`` and
        ``as_completed(handles)`` also take the handles themselves.

        Example:
            >>> h = eng.submit(pow, 2, 10)                  # doctest: +SKIP
            >>> await asyncio.wrap_future(h.future)          # doctest: +SKIP
            1024
        """
        from godnb.core.futures import future_of

        return future_of(self)

    def cancelled(self) -> bool:
        """True once the job ended cancelled (as ``concurrent.futures.Future.cancelled``)."""
        return self.finished and self.job.status is JobStatus.CANCELLED

    # What concurrent.futures.wait() and as_completed() use on the objects they are given
    # (see godnb.core.futures): the engine's lock, a state name, and a waiter list that is
    # made (with the callback that tells it) only when one of them first asks.
    @property
    def _condition(self) -> threading.RLock:
        return self._runtime.lock

    @property
    def _state(self) -> str:
        from godnb.core.futures import cf_state

        return cf_state(self)

    @property
    def _waiters(self) -> list[Any]:
        from godnb.core.futures import cf_waiters

        return cf_waiters(self)

    # -- control ---------------------------------------------------------------------
    def cancel(self, reason: str | None = None) -> bool:
        """Cancel the job: a pending one never starts, a running one is stopped.

        ``reason`` shows in its view and in the :class:`JobCancelled` it raises when
        awaited. Returns False if it had already ended.
        """
        return self._runtime.cancel(self.job_id, reason)

    def events(self) -> AsyncIterator[JobEvent]:
        """Stream this job's events until its final one (``async for ev in h.events()``)."""
        return self._runtime.job_events(self)

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} {self.name} {self.status.value}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        from godnb.core.display import mimebundle

        return mimebundle(self)

    def _ipython_display_(self) -> None:
        from godnb.core.display import ipython_display

        ipython_display(self)


def cancel_reason(handle: JobHandle) -> str | None:
    """Why a cancelled job was cancelled, when the canceller said (``cancel(reason)``).

    The reason is kept as the job's error text; a failed attempt's error is kept there
    too, as the text of its last :class:`ErrorInfo`, so anything else is a reason.
    """
    error = handle.job.error
    if error is None or handle.job.status is not JobStatus.CANCELLED:
        return None
    if handle.errors and error == str(handle.errors[-1]):
        return None
    return error


_NO_ERRORS: list[ErrorInfo] = []  # shared and never appended to: see Runtime._attempt_failed


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    here = asyncio._get_running_loop()
    for loop, fut in waiters:
        if loop is here:
            _set_done(fut)  # on that loop already: no cross-thread wake-up needed
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_set_done, fut)


class JobGroup(Sequence[JobHandle]):
    """The handles of one ``eng.map``: results in input order, one combined progress."""

    def __init__(self, name: str = "map") -> None:
        self.handles: list[JobHandle] = []
        self.name = name
        self._done = 0  # bumped by the runtime, under its lock, as each job ends
        self._ended_as = {s: 0 for s in (JobStatus.COMPLETED, JobStatus.FAILED,
                                         JobStatus.CANCELLED)}
        # One wake-up for the whole group, not one per job: made by the first waiter.
        self._event: threading.Event | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._callbacks: list[Callable[[JobGroup], Any]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop of the engine running these jobs (None for an empty group)."""
        return self.handles[0].loop if self.handles else None

    def _ended(self, status: JobStatus) -> None:
        """One job ended (the runtime calls this under its lock)."""
        self._done += 1
        self._ended_as[status] += 1
        if self._done >= len(self.handles) and (self._event or self._waiters
                                                 or self._callbacks):
            # Waiters come only after map() returned, so every handle is attached by now.
            if self._event is not None:
                self._event.set()
            waiters, self._waiters = self._waiters, []
            _wake(waiters)
            callbacks, self._callbacks = self._callbacks, []
            for fn in callbacks:
                try:
                    fn(self)
                except Exception:
                    log.exception("done callback of group %s failed", self.name)

    def add_done_callback(self, fn: Callable[[JobGroup], Any]) -> None:
        """Call ``fn(group)`` once every job ended (at once if they have), on the thread
        that ended the last one (under the engine's lock: keep it short)."""
        if self.handles:
            with self.handles[0]._runtime.lock:
                if not self.done():
                    self._callbacks.append(fn)
                    return
        fn(self)

    def _attach(self, handles: list[JobHandle]) -> None:
        """Adopt handles before they are queued, so no ending is missed."""
        for h in handles:
            h.jobgroup = self
        self.handles.extend(handles)

    def __len__(self) -> int:
        return len(self.handles)

    def __getitem__(self, i: Any) -> Any:
        return self.handles[i]

    def __iter__(self) -> Iterator[JobHandle]:
        return iter(self.handles)

    @property
    def progress(self) -> Progress:
        """How many of the jobs have ended."""
        return Progress(done=self._done, total=len(self.handles))

    @property
    def finished_count(self) -> int:
        return self._done

    def done(self) -> bool:
        return self._done >= len(self.handles)

    def counts(self) -> dict[str, int]:
        """Jobs per status (kept as jobs end: no scan of the handles)."""
        out = {s.value: n for s, n in self._ended_as.items()}
        running = sum(1 for h in self.handles if h.run is not None) if not self.done() else 0
        out["running"] = running
        out["pending"] = len(self.handles) - self._done - running
        return {s.value: out[s.value] for s in JobStatus}

    def wait(self, timeout: float | None = None, *, cancel_on_interrupt: bool = False) -> bool:
        """Block until every job ended (True) or ``timeout`` passes (False).

        ``cancel_on_interrupt=True``: a KeyboardInterrupt while waiting cancels the jobs
        that have not ended, then propagates.
        """
        __tracebackhide__ = True
        if self.done():
            return True
        runtime = self.handles[0]._runtime
        runtime.check_blocking_wait(self.handles)
        with runtime.lock:
            if self.done():
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return _block(event, timeout, self.cancel if cancel_on_interrupt else None)

    def results(self, timeout: float | None = None, *, cancel_on_interrupt: bool = False
                ) -> list[Any]:
        """Outputs in input order; raises the first job's error if one failed.

        ``cancel_on_interrupt=True``: interrupting the wait cancels the jobs too.
        """
        __tracebackhide__ = True
        if not self.wait(timeout, cancel_on_interrupt=cancel_on_interrupt):
            raise TimeoutError(f"{len(self) - self._done} of {len(self)} jobs still running "
                               f"after {timeout} s")
        return [h._value() for h in self.handles]

    async def results_async(self, *, cancel_on_interrupt: bool = False) -> list[Any]:
        """``await g``; with ``cancel_on_interrupt=True`` a cancelled or interrupted wait
        cancels the jobs that have not ended, then re-raises."""
        __tracebackhide__ = True
        if not cancel_on_interrupt:
            return await self._gather()
        return await wait_interruptibly(self._gather(), lambda: self.cancel(INTERRUPTED))

    def exceptions(self) -> list[BaseException | None]:
        """Each job's error (None where it completed), in input order."""
        return [h.exception() for h in self.handles]

    def cancel(self, reason: str | None = None) -> int:
        """Cancel every job that has not ended; returns how many were cancelled."""
        return sum(1 for h in self.handles if h.cancel(reason))

    def __await__(self) -> Any:
        __tracebackhide__ = True
        return self._gather().__await__()

    async def _gather(self) -> list[Any]:
        __tracebackhide__ = True
        if not self.done():
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            with self.handles[0]._runtime.lock:
                if self.done():
                    fut.set_result(None)
                else:
                    self._waiters.append((loop, fut))
            await fut
        return [h._value() for h in self.handles]

    def __repr__(self) -> str:
        return f"<JobGroup {self.name} {self._done}/{len(self)} done>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        from godnb.core.display import mimebundle

        return mimebundle(self)

    def _ipython_display_(self) -> None:
        from godnb.core.display import ipython_display

        ipython_display(self)
