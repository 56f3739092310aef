"""``concurrent.futures`` interop: ``h.future``, handles in ``wait`` / ``as_completed``, and
``eng.executor()``.

Three ways in, for code written against the standard library:

* ``h.future`` is a :class:`JobFuture` (a real :class:`concurrent.futures.Future`) for a
  job: ``asyncio.wrap_future(h.future)``, or anything that takes a future.
* ``concurrent.futures.wait(handles)`` and ``as_completed(handles)`` take godnb handles
  as they are: :class:`~godnb.core.handles.JobHandle` offers the three attributes those
  functions use (see :func:`cf_state`, :func:`cf_waiters`), made on first use.
* ``eng.executor(backend=None, **job_options)`` is a :class:`JobExecutor`, a
  :class:`concurrent.futures.Executor` whose calls are jobs of the engine (a live bar in a
  notebook, priorities, retries, timeouts and cancel), for ``ex.map``, ``with ... as ex``
  and ``loop.run_in_executor(ex, fn, *args)``.

Locking: a job ends under the engine's lock. The futures of an engine use that lock as
their condition's lock, and a handle offers it as its ``_condition``, so the end of a job
and ``wait()``'s look at it are one critical section, and one engine's futures and handles
can never take their locks in opposite orders. (Across engines they can: two threads
waiting at the same moment on handles of the same two engines, listed in opposite id
orders, could block each other inside ``wait()``'s brief locking. One engine per process
is the common case.) Done callbacks are user code (and joblib's,
which takes a lock of its own and then submits): they never run under the engine's lock
but on a callback thread (:mod:`godnb.core.callbacks`); a ``future.cancel()`` runs them in
the caller, as the standard library does.

Cancel: godnb can stop a *running* job (a process job is killed, an async one cancelled, a
thread job flagged), so ``future.cancel()`` cancels the job whether it waits or runs and
returns True, and False only once the job has ended. A standard thread pool refuses to
cancel a running call (``cancel()`` returns False, ``running()`` is True); here
``running()`` is True while the job runs and ``cancel()`` still succeeds.
``executor.shutdown(cancel_futures=True)`` cancels only the jobs that have not started,
as the standard library does, and lets running ones finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures._base import (
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
    RUNNING,
)
from typing import TYPE_CHECKING, Any

from godnb.core import display
from godnb.core.callbacks import callbacks
from godnb.core.handles import JobGroup, JobHandle
from godnb.core.submission import gc_paused
from godnb.errors import JobCancelled
from godnb.models.job import Job, JobStatus
from godnb.utils.naming import callable_name

if TYPE_CHECKING:
    from godnb.core.engine import Engine

__all__ = ["JOB_OPTIONS", "JobExecutor", "JobFuture", "cf_state", "cf_waiters", "future_of"]

#: The job options an executor takes (``submit``'s reserved keywords but ``backend``).
JOB_OPTIONS = ("priority", "retries", "timeout", "group", "name", "tags", "cache")
_COMPLETED, _CANCELLED = JobStatus.COMPLETED, JobStatus.CANCELLED


class JobFuture(cf.Future[Any]):
    """A :class:`concurrent.futures.Future` tied to one godnb job.

    It resolves when the job ends. ``cancel()`` cancels the job (waiting or running; see
    the module docs), ``running()`` is True while it runs, ``result()`` raises
    :class:`~godnb.errors.JobCancelled` (a ``CancelledError``) for a cancelled job.
    Failures resolve as the future's maker asked: ``h.future`` with the exception
    ``h.result()`` raises (:class:`~godnb.errors.JobFailed`, the job's own error as its
    ``__cause__``), an executor's futures with the job's own error, as a thread pool's do.
    In a notebook it displays as the job's live bar while the job runs.

    Example:
        >>> fut = eng.executor().submit(pow, 2, 10)   # doctest: +SKIP
        >>> fut.result(), fut.job_id                   # doctest: +SKIP
        (1024, '5f0c...')
    """

    # Future's own internals that this class drives (not in the type stubs).
    _done_callbacks: list[Callable[[cf.Future[Any]], object]]
    _invoke_callbacks: Callable[[], None]

    def __init__(self, handle: JobHandle | None, *, raw: bool,
                 owner: JobExecutor | None = None, lock: Any = None) -> None:
        super().__init__()
        # The engine's lock (see the module docs); ``lock`` for a call an executor holds
        # back (max_workers), which becomes a job later (``_attach``).
        self._condition = threading.Condition(handle._runtime.lock if handle else lock)
        self._handle: JobHandle | None = handle  # dropped once the job ends
        self._raw = raw
        self._owner = owner
        self._canceller: int | None = None
        self._cancel_error: BaseException | None = None
        self.job_id: str | None = handle.job_id if handle is not None else None

    @property
    def handle(self) -> JobHandle | None:
        """The job's handle while it waits or runs (None before its executor queued it,
        and once it ended: the future does not keep the finished job)."""
        return self._handle

    def _attach(self, handle: JobHandle) -> None:
        """A call held back by its executor became this job."""
        self._handle = handle
        self.job_id = handle.job_id
        handle.add_done_callback(self._settle)  # at once if it has ended already

    def _cancel_unstarted(self, why: str) -> None:
        """Cancel a call that never became a job; callbacks are the caller's to run."""
        with self._condition:
            self._cancel_error = JobCancelled(why)
            self._state = CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()

    def _fail_unstarted(self, error: BaseException) -> None:
        """A held call could not become a job (the engine shut down meanwhile)."""
        self.set_exception(error)

    def _settle(self, handle: JobHandle) -> None:
        """Resolve from the job's end: a done callback of the handle, under the engine's lock."""
        status = handle.job.status
        with self._condition:
            if self._state not in (PENDING, RUNNING):
                return
            if status is _COMPLETED:
                self._result = handle.output
                self._state = FINISHED
                for waiter in self._waiters:
                    waiter.add_result(self)
            elif status is _CANCELLED:
                self._cancel_error = _job_error(handle)
                self._state = CANCELLED_AND_NOTIFIED
                for waiter in self._waiters:
                    waiter.add_cancelled(self)
            else:
                error = handle.error if self._raw else None
                self._exception = error if error is not None else _job_error(handle)
                self._state = FINISHED
                for waiter in self._waiters:
                    waiter.add_exception(self)
            self._condition.notify_all()
        self._handle = None  # a future outlives its job: it must not pin the call
        if self._owner is not None:
            self._owner._forget(handle)
        if self._done_callbacks and self._canceller != threading.get_ident():
            callbacks.call(self._invoke_callbacks)

    def cancel(self) -> bool:
        """Cancel the job, waiting or running; False once it has ended (not cancelled)."""
        handle = self._handle
        if handle is None and self._owner is not None and not self.done():
            if self._owner._cancel_held(self):  # held back: it never becomes a job
                self._invoke_callbacks()
                return True
            handle = self._handle  # it became a job meanwhile
        if handle is None:
            return self.cancelled()
        self._canceller = threading.get_ident()
        try:
            cancelled = handle.cancel()
        finally:
            self._canceller = None
        if not cancelled:
            return self.cancelled()  # it ended meanwhile, or someone else cancelled it
        self._invoke_callbacks()  # here, as Future.cancel() does: the engine's lock is free
        return True

    def running(self) -> bool:
        """True while the job runs (it can still be cancelled, unlike a thread pool's)."""
        handle = self._handle
        return handle is not None and not handle.finished and handle.run is not None

    def result(self, timeout: float | None = None) -> Any:
        self._check_blocking()
        try:
            return super().result(timeout)
        except cf.CancelledError as e:
            raise self._cancelled(e) from None

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._check_blocking()
        try:
            return super().exception(timeout)
        except cf.CancelledError as e:
            raise self._cancelled(e) from None

    def _cancelled(self, error: cf.CancelledError) -> BaseException:
        return self._cancel_error or error

    def _check_blocking(self) -> None:
        """Refuse at once to block the event loop's thread on a job that needs that loop."""
        handle = self._handle
        if handle is not None and not handle.finished:
            handle._runtime.check_blocking_wait((handle,))

    def __repr__(self) -> str:
        with self._condition:
            state = "running" if self.running() else \
                self._state.lower().replace("_and_notified", "")
            if self._state == FINISHED:
                outcome = self._exception if self._exception is not None else self._result
                verb = "raised" if self._exception is not None else "returned"
                state += f" {verb} {type(outcome).__name__}"
        return f"<JobFuture {self.job_id or '(not queued yet)'} state={state}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        handle = self._handle
        return display.mimebundle(handle) if handle is not None else None


def _job_error(handle: JobHandle) -> BaseException:
    """The exception ``handle.result()`` raises for this ended job."""
    try:
        handle._value()
    except BaseException as e:  # JobFailed / JobTimeout / JobCancelled, as data
        return e
    raise AssertionError(f"job {handle.job_id} completed; it has no error")


def future_of(handle: JobHandle) -> JobFuture:
    """``h.future``: the job's future, made on first use and then the same object."""
    future = getattr(handle, "_future", None)  # unset until asked for: no cost per job
    if future is not None:
        return future  # type: ignore[no-any-return]
    with handle._runtime.lock:
        future = getattr(handle, "_future", None)
        if future is None:
            future = handle._future = JobFuture(handle, raw=False)
            handle.add_done_callback(future._settle)  # at once if the job has ended
    return future  # type: ignore[no-any-return]


# -- handles in concurrent.futures.wait() / as_completed() --------------------------------
# Those functions read ``f._condition`` (a lock), ``f._state`` (a state name) and
# ``f._waiters`` (a list they append a waiter to, which the future tells when it ends),
# and call ``f.cancelled()`` / ``f.exception()``. Internal names, but the same since
# Python 3.2; the tests run the standard library's own functions on handles.

def cf_state(handle: JobHandle) -> str:
    """The job's state as a ``concurrent.futures`` state name."""
    if handle.finished:
        return CANCELLED_AND_NOTIFIED if handle.job.status is _CANCELLED else FINISHED
    return RUNNING if handle.run is not None else PENDING


def cf_waiters(handle: JobHandle) -> list[Any]:
    """The waiter list ``wait()`` / ``as_completed()`` install into, made on first use.

    Raises :class:`~godnb.errors.LoopBlockingError` on the event loop's thread for a job
    that needs that loop (``wait`` would block it for good); nothing is installed then.
    """
    with handle._runtime.lock:  # what those functions hold already (a re-entrant lock)
        if not handle.finished:
            handle._runtime.check_blocking_wait((handle,))
        waiters: list[Any] | None = getattr(handle, "_cf_waiters", None)
        if waiters is None:
            waiters = handle._cf_waiters = []
            if not handle.finished:
                handle.add_done_callback(_tell_waiters)
    return waiters


def _tell_waiters(handle: JobHandle) -> None:
    """The job ended (under the engine's lock): tell the waiters installed on it."""
    status = handle.job.status
    for waiter in list(handle._cf_waiters or ()):
        if status is _COMPLETED:
            waiter.add_result(handle)
        elif status is _CANCELLED:
            waiter.add_cancelled(handle)
        else:
            waiter.add_exception(handle)


# -- the executor ------------------------------------------------------------------------
class JobExecutor(cf.Executor):
    """A :class:`concurrent.futures.Executor` whose calls run as jobs of one engine.

    Made by :meth:`godnb.Engine.executor`. Every call is a normal godnb job (priorities,
    fair groups, retries, timeouts, a live bar, cancel) with this executor's options.
    ``shutdown()`` stops this executor only; the engine stays open. The engine's workers
    run the calls; ``max_workers=N`` caps how many of this executor's calls are in the
    engine at once (waiting or running), the rest wait in the executor, their futures
    pending and not yet jobs. Once a call ended the engine forgets its job (as a thread
    pool keeps no finished work item): only its future holds the result, and
    ``eng.jobs()`` / ``eng.to_pandas()`` list the executor's jobs while they wait or run.

    Args:
        engine: the engine that runs the calls.
        backend: ``"thread"``, ``"process"``, ... (default: as ``submit`` picks it).
        max_workers: at most this many calls of this executor in the engine at once
            (default: no cap of its own).
        jobs: a :class:`~godnb.JobGroup` every call joins, for one combined bar.
        **job_options: ``priority``, ``retries``, ``timeout``, ``group``, ``name``,
            ``tags``, ``cache``, as ``eng.submit`` takes them.

    Example:
        >>> with eng.executor(priority=5, retries=2) as ex:     # doctest: +SKIP
        ...     list(ex.map(pow, [2, 3], [10, 2]))
        [1024, 9]
        >>> await loop.run_in_executor(eng.executor(), fetch, url)   # doctest: +SKIP
    """

    def __init__(self, engine: Engine, backend: str | None = None, *,
                 max_workers: int | None = None, jobs: JobGroup | None = None,
                 **job_options: Any) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        _check_options(engine, backend, job_options)
        self._engine = engine
        self._options: dict[str, Any] = {k: job_options.get(k) for k in JOB_OPTIONS}
        self._options["backend"] = backend
        self._max_workers = max_workers
        self._jobs = jobs
        self._lock = threading.RLock()  # re-entrant: an inline job may submit again
        self._shutdown = False
        self._active: dict[str, JobHandle] = {}  # its jobs in the engine, by id
        self._in_engine = 0  # len(_active), kept under the engine's lock
        # Calls held back by max_workers, in order: future -> (fn, args, kwargs, name).
        self._held: OrderedDict[JobFuture, tuple[Any, ...]] = OrderedDict()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def max_workers(self) -> int | None:
        return self._max_workers

    @property
    def options(self) -> dict[str, Any]:
        """The job options of every call (None: the engine's default)."""
        return dict(self._options)

    @property
    def jobs(self) -> JobGroup | None:
        """The group every call joins, when one was given."""
        return self._jobs

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> JobFuture:
        """Run ``fn(*args, **kwargs)`` as a job; returns its future at once.

        Every keyword goes to ``fn`` (the job options are the executor's).

        Raises:
            RuntimeError: after ``shutdown()``, or once the engine is shut down.
        """
        return self._submit(fn, args, kwargs, None)

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                name: str | None) -> JobFuture:
        with self._lock:
            self._check_open()
            if self._max_workers is not None and self._in_engine >= self._max_workers:
                future = JobFuture(None, raw=True, owner=self, lock=self._engine._rt.lock)
                self._held[future] = (fn, args, kwargs, name)
                return future
            handle = self._start(fn, [(args, kwargs)], name)[0]
            future = JobFuture(handle, raw=True, owner=self)
            handle.add_done_callback(future._settle)
        return future

    def _start(self, fn: Callable[..., Any],
               calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
               name: str | None) -> list[JobHandle]:
        """Queue calls as jobs of the engine (the executor's lock is held)."""
        options = self._options if name is None or self._options["name"] else \
            {**self._options, "name": name}
        handles = self._engine._submit(fn, calls, options, self._jobs)
        if handles:
            with handles[0]._runtime.lock:
                self._in_engine += len(handles)
                for h in handles:
                    self._active[h.job_id] = h
        return handles

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],
            timeout: float | None = None, chunksize: int = 1) -> Iterator[Any]:
        """``fn`` over the iterables (one job per item), results in input order.

        The items are queued at once; the results come lazily, as each is ready. An
        item's error is raised when the iteration reaches it; ``TimeoutError`` when a
        result is not ready ``timeout`` seconds after this call. Leaving the iteration
        early (an error, a timeout, ``close()``) cancels the jobs not consumed.
        ``chunksize`` > 1 runs that many items per job (fewer, longer jobs; an error fails
        its chunk).
        """
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end = None if timeout is None else time.monotonic() + timeout
        items = list(zip(*iterables, strict=False))
        name = None
        if chunksize > 1:
            name = callable_name(fn)
            items = [(fn, items[i:i + chunksize]) for i in range(0, len(items), chunksize)]
            fn = _run_chunk
        if self._max_workers is not None:  # calls that may be held back: one future each
            futures = [self._submit(fn, args, {}, name) for args in items]
            return _future_results(futures, end, timeout, chunked=chunksize > 1)
        handles = self._submit_all(fn, [(args, {}) for args in items], name)
        return _results(handles, end, timeout, chunked=chunksize > 1)

    def _submit_all(self, fn: Callable[..., Any],
                    calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
                    name: str | None) -> list[JobHandle]:
        with self._lock:
            self._check_open()
            with gc_paused():
                handles = self._start(fn, calls, name)
            if handles:
                with handles[0]._runtime.lock:  # one lock round-trip for the batch
                    for h in handles:
                        h.add_done_callback(self._forget)
        return handles

    def _forget(self, handle: JobHandle) -> None:
        """A job of this executor ended: drop it here and from the engine's memory."""
        runtime = handle._runtime
        with runtime.lock:  # held already when called from the job's end
            if self._active.pop(handle.job_id, None) is not None:
                self._in_engine -= 1
            runtime.recent.pop(handle.job_id, None)
        if self._held:
            callbacks.call(self._release)  # not here: this runs under the engine's lock

    def _release(self) -> None:
        """Queue held-back calls while ``max_workers`` allows (on the callback thread)."""
        with self._lock:
            while self._held and self._in_engine < (self._max_workers or 0):
                future, (fn, args, kwargs, name) = self._held.popitem(last=False)
                try:
                    handle = self._start(fn, [(args, kwargs)], name)[0]
                except Exception as e:  # the engine shut down meanwhile
                    future._fail_unstarted(e)
                    continue
                future._attach(handle)

    def _cancel_held(self, future: JobFuture) -> bool:
        """Cancel a call still held back; False if it is a job already (or not held)."""
        with self._lock:
            if future._handle is not None or self._held.pop(future, None) is None:
                return False
            future._cancel_unstarted("the call was cancelled before its executor queued it")
        return True

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown (this executor "
                               "is shut down; the engine is not: call eng.executor() again)")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; the engine stays open.

        ``cancel_futures=True`` cancels this executor's calls that have not started
        (running ones finish); ``wait=True`` returns once every call it took has ended.
        """
        with self._lock:
            self._shutdown = True
            held = list(self._held) if cancel_futures else []
        for future in held:
            future.cancel()
        if cancel_futures:
            for handle in list(self._active.values()):
                _cancel_if_pending(handle)
        while wait:
            with self._lock:
                handles, held = list(self._active.values()), list(self._held)
            if not handles and not held:
                break
            for handle in handles:
                handle.wait()
            cf.wait(held)  # they become jobs as others end, then end themselves

    @property
    def closed(self) -> bool:
        """True after ``shutdown()``."""
        return self._shutdown

    def __repr__(self) -> str:
        state = "shut down" if self._shutdown else f"{len(self._active)} active"
        if self._held:
            state += f", {len(self._held)} held"
        backend = self._options["backend"] or self._engine.default_backend
        return f"<JobExecutor {self._engine.name} backend={backend} {state}>"


def _check_options(engine: Engine, backend: str | None, options: dict[str, Any]) -> None:
    """Validate the executor's options now, as ``submit`` would at each call."""
    unknown = sorted(set(options) - set(JOB_OPTIONS))
    if unknown:
        hint = "it sets backend=" if "backend" in unknown else f"job options: {JOB_OPTIONS}"
        raise TypeError(f"executor() got unexpected keyword argument(s) {unknown}; {hint}")
    if backend is not None and backend not in engine.executors:
        raise ValueError(f"unknown backend {backend!r}; valid backends: "
                         f"{sorted(engine.executors)}")
    retries = options.get("retries")
    checked = {k: v for k, v in options.items() if v is not None and k != "retries"}
    if "tags" in checked:
        checked["tags"] = tuple(checked["tags"])
    if isinstance(retries, int):
        checked["retries"] = retries
    elif retries is not None:
        from godnb.utils.retry import RetryPolicy

        if not isinstance(retries, RetryPolicy):
            raise TypeError(f"retries must be an int or a RetryPolicy, got "
                            f"{type(retries).__name__}")
    Job(payload={"task": "godnb.core.futures:JobExecutor"}, **checked)


def _run_chunk(fn: Callable[..., Any], chunk: list[tuple[Any, ...]]) -> list[Any]:
    """One job of ``map(..., chunksize=n)``: ``fn`` over a chunk of argument tuples."""
    return [fn(*args) for args in chunk]


def _results(handles: list[JobHandle], end: float | None, timeout: float | None,
             chunked: bool) -> Iterator[Any]:
    """What ``map`` returns: each job's result in order, its error raised in its turn.

    Holds no finished job and no result between items (only the handles still to come),
    so a result is freed as soon as the caller lets go of it.
    """
    handles.reverse()
    try:
        while handles:
            left = None if end is None else max(0.0, end - time.monotonic())
            if not handles[-1].wait(left):
                raise TimeoutError(f"{len(handles)} result(s) not ready within {timeout} s")
            if chunked:
                yield from _outcome(handles.pop())
            else:
                yield _outcome(handles.pop())
    finally:
        for handle in handles:
            handle.cancel()


def _future_results(futures: list[JobFuture], end: float | None, timeout: float | None,
                    chunked: bool) -> Iterator[Any]:
    """``map`` through futures (calls an executor may hold back): as :func:`_results`."""
    futures.reverse()
    try:
        while futures:
            left = None if end is None else max(0.0, end - time.monotonic())
            if chunked:
                yield from _pop_result(futures, left)
            else:
                yield _pop_result(futures, left)
    finally:
        for future in futures:
            future.cancel()


def _pop_result(futures: list[JobFuture], timeout: float | None) -> Any:
    if not cf.wait(futures[-1:], timeout).done:
        raise TimeoutError(f"{len(futures)} result(s) not ready within the timeout")
    return futures.pop().result()  # on an error, the future is gone: it ended anyway


def _outcome(handle: JobHandle) -> Any:
    """An executor job's result, or its own error raised (as a thread pool raises it)."""
    status = handle.job.status
    if status is _COMPLETED:
        return handle.output
    if status is not _CANCELLED and handle.error is not None:
        raise handle.error
    raise _job_error(handle)


def _cancel_if_pending(handle: JobHandle) -> None:
    with handle._runtime.lock:  # the job can not start between the look and the cancel
        if not handle.finished and handle.job.status is JobStatus.PENDING:
            handle.cancel()
