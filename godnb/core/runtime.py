"""The engine's runtime: the life of every job from submit to its final status.

It is the executors' host (``next_run`` / ``finish`` / ``progress``) and owns the per-backend
schedulers, the retry and timeout timers, the counters and the event hub. ``Engine`` is the
user-facing shell around it.

Concurrency: one re-entrant lock guards job state. Status events are emitted under it so
every stream sees a job's changes in order; executors are called outside it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

from godnb.core.events import EventHub, Subscription
from godnb.core.handles import JobHandle
from godnb.core.scheduler import Scheduler
from godnb.core.timeline import DEFAULT_CAPACITY, STATUS_CODE, TimelineRecorder
from godnb.core.timers import TimerThread
from godnb.errors import (
    JobCancelled,
    JobTimeout,
    LoopBlockingError,
    QueueFull,
)
from godnb.execution.executor import Executor, Run
from godnb.execution.loop import EngineLoop, running_loop
from godnb.execution.output import JobOutput, capture_default
from godnb.execution.remote import exception_message, format_traceback
from godnb.models.events import EventKind, JobEvent
from godnb.models.job import Job, JobStatus, Progress, utcnow
from godnb.models.result import ErrorInfo
from godnb.utils.profile import ProfileCollector
from godnb.utils.retry import RetryPolicy
from godnb.utils.timing import Histogram
from godnb.views.timeline import RETRIED

__all__ = ["Persistence", "Runtime"]

log = logging.getLogger("godnb.engine")

_PENDING, _RUNNING = JobStatus.PENDING, JobStatus.RUNNING
_COMPLETED, _FAILED, _CANCELLED = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED
_FINAL_KIND = {_COMPLETED: EventKind.COMPLETED, _FAILED: EventKind.FAILED,
               _CANCELLED: EventKind.CANCELLED}


class Persistence(Protocol):
    """Where the runtime reports state changes to be written behind (a durable engine)."""

    def changed(self, handle: JobHandle) -> None:
        """``handle``'s job changed; called under the runtime's lock, so it must be quick."""


class Runtime:
    """Job state machine and executor host. Not public: use :class:`godnb.Engine`."""

    def __init__(self, executors: dict[str, Executor], *, loop: EngineLoop,
                 max_pending: int | None, on_full: str, keep_finished: int,
                 clock: Callable[[], float] = time.monotonic,
                 timeline_size: int | None = None) -> None:
        self.lock = threading.RLock()
        self._room = threading.Condition(self.lock)   # a pending slot freed
        self._idle = threading.Condition(self.lock)   # no job left
        self.clock = clock
        self.loop_holder = loop
        self.executors = executors
        # The schedulers share the runtime's lock: taking a job and marking it running is
        # one critical section, so a worker pays for one lock round-trip, not two.
        self.schedulers: dict[str, Scheduler[JobHandle]] = {
            n: Scheduler(lock=self.lock) for n in executors}
        self.active: dict[str, JobHandle] = {}
        self.running: dict[str, JobHandle] = {}  # the active ones with an attempt under way
        self.recent: OrderedDict[str, JobHandle] = OrderedDict()
        self.keep_finished = keep_finished
        self.max_pending = max_pending
        self.on_full = on_full
        self.counts = {s: 0 for s in JobStatus}
        self.retried = 0
        self.submitted = 0
        self.started_at = clock()
        self.latency = Histogram()
        self.profile = ProfileCollector()
        # Every ended run (lane, start, end, task, outcome), for eng.timeline(); written
        # under self.lock by _final and _attempt_failed.
        self.timeline = TimelineRecorder(timeline_size or DEFAULT_CAPACITY, clock=clock)
        self.hub = EventHub()
        self.timers = TimerThread()
        self.closing = False
        self._idle_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.persist: Persistence | None = None  # set by the engine's store link
        # Backpressure from the store link: while its write-behind is too far behind, the
        # workers that may block (thread and process) start no new job.
        self.store_behind = False
        self._store_caught_up = threading.Condition(self.lock)
        # Set by a submitter that found the lock taken (a hint: no lock guards it).
        self.submitter_waiting = False
        self.on_final: list[Callable[[JobHandle], Any]] = []  # e.g. the result cache
        # Capture each job's prints and log records (see godnb.execution.output): True,
        # False, or None to follow the process-wide default (on in a kernel).
        self.capture_output: bool | None = None
        for name, executor in executors.items():
            executor.start(self, name)

    # -- host protocol ---------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.loop_holder.loop

    def next_run(self, backend: str, timeout: float | None = None) -> Run | None:
        scheduler = self.schedulers[backend]
        with self.lock:
            if self.store_behind and timeout and not self._wait_for_store(timeout):
                return None
            while True:
                # Without a wait (the async workers' case): pop under the lock held here.
                handle = scheduler.next_job(timeout) if timeout else scheduler.pop()
                if handle is None:
                    return None
                run = self._start(handle, backend)
                if run is not None:
                    return run

    def next_runs(self, backend: str, timeout: float | None, limit: int) -> list[Run]:
        """Up to ``limit`` attempts at once (at least one, or none within ``timeout``).

        For workers of fast jobs: one lock round-trip for several jobs. The batch is capped
        at a fair share of the backlog, so other workers are not starved.
        """
        scheduler = self.schedulers[backend]
        with self.lock:
            first = self.next_run(backend, timeout)
            if first is None:
                return []
            runs = [first]
            share = min(limit, len(scheduler) // max(1, self.executors[backend].workers))
            while len(runs) < share and not self.store_behind:
                handle = scheduler.next_job()
                if handle is None:
                    break
                run = self._start(handle, backend)
                if run is not None:
                    runs.append(run)
            return runs

    def _wait_for_store(self, timeout: float) -> bool:
        """Wait (lock held) until the store caught up; False if it has not or we close."""
        self._store_caught_up.wait_for(lambda: not self.store_behind or self.closing, timeout)
        return not (self.store_behind or self.closing)

    def set_store_behind(self, behind: bool) -> None:
        """Hold back (True) or release (False) workers that may block; lock held."""
        self.store_behind = behind
        if not behind:
            self._store_caught_up.notify_all()

    def outranked(self, backend: str, priority: int) -> bool:
        """True when a job of higher priority than ``priority`` is queued (a cheap hint)."""
        top = self.schedulers[backend].top_priority()
        return top is not None and top > priority

    def give_back(self, runs: list[Run]) -> None:
        """Return attempts that were taken but never started to the queue, as pending."""
        for run in runs:
            with self.lock:
                handle = self.active.get(run.job_id)
                if run.ended or handle is None or handle.run is not run:
                    continue
                run.ended = True
                if run.timer is not None:
                    run.timer.cancel()
                handle.job.undo_attempt()
                self.counts[_RUNNING] -= 1
                self.counts[_PENDING] += 1
                handle.run = None
                self.running.pop(handle.job_id, None)
                self.schedulers[run.backend].submit(handle)
            self.executors[run.backend].wake()

    def _start(self, handle: JobHandle, backend: str) -> Run | None:
        job = handle.job
        with self.lock:
            if job.status is not _PENDING or handle.finished:
                return None  # cancelled between the scheduler and here
            now = self.clock()
            attempt = job.start_attempt()
            self.counts[_PENDING] -= 1
            self.counts[_RUNNING] += 1
            if attempt == 1:
                self.latency.observe(now - handle.submitted)
            run = Run(job, handle.fn, handle.args, handle.kwargs, attempt, backend, now, self)
            handle.run = run
            self.running[handle.job_id] = handle
            if job.timeout is not None:
                run.timer = self.timers.call_later(job.timeout, self._on_timeout, handle, run)
            if self.hub.active:
                self._emit(handle, EventKind.STARTED)
            if self.persist is not None:
                self.persist.changed(handle)
            if self.max_pending is not None:
                self._room.notify()
        return run

    def finish(self, run: Run, value: Any = None, error: BaseException | None = None,
               tb: str | None = None) -> None:
        handle = self.active.get(run.job_id)
        with self.lock:
            if run.ended or handle is None or handle.run is not run:
                return  # ended already by a timeout or a cancel
            run.ended = True
            if run.timer is not None:
                run.timer.cancel()
            now = self.clock()
            elapsed = now - run.started
            handle.execution_time += elapsed
            if error is None:
                handle.output = value
                self._final(handle, _COMPLETED, now)
                job = handle.job
                # job.name first: every submitted job has one, and reading the field costs
                # ~60 ns where the task_name property costs ~190 (twice a job, here and in
                # _final's timeline record)
                self.profile.record(job.name or job.task_name, ok=True, run_time=elapsed,
                                    retried=job.attempts > 1)
                return
            if isinstance(error, JobCancelled) and run.cancel_requested:
                self._final(handle, _CANCELLED, now)  # it honoured god.check_cancelled()
                return
            self._attempt_failed(handle, run, error, tb, elapsed)

    def queued(self, backend: str) -> int:
        """How many jobs wait in ``backend``'s queue."""
        return len(self.schedulers[backend])

    def wake_workers(self, backend: str) -> None:
        """Wake every worker blocked in ``next_run(backend)`` (they get None if idle)."""
        self.schedulers[backend].wake()

    def captures(self) -> bool:
        """True when this engine's jobs have their output captured by default."""
        flag = self.capture_output
        return capture_default() if flag is None else flag

    def output_for(self, run: Run, create: bool | None = None) -> JobOutput | None:
        """The buffer of ``run``'s job, made on its first captured write.

        Runs on every write inside a job (the router asks), so it reads without the lock:
        two dict lookups and an attribute. The buffer is made once, under the lock; a job
        that was never captured and never printed costs nothing.
        """
        handle = self.active.get(run.job_id) or self.recent.get(run.job_id)
        if handle is None:
            return None
        out = handle.captured
        if out is None and (create or (create is None and self.captures())):
            with self.lock:
                out = handle.captured
                if out is None:
                    out = handle.captured = JobOutput()
        return out

    def progress(self, run: Run, done: float, total: float | None, message: str | None) -> None:
        handle = self.active.get(run.job_id)
        if handle is None or run.ended:
            return
        with self.lock:
            if run.ended:
                return
            handle.job.report(Progress(done=done, total=total, message=message))
            if self.hub.active:
                self._emit(handle, EventKind.PROGRESS, message)
            if self.persist is not None:
                self.persist.changed(handle)

    # -- submitting ------------------------------------------------------------------
    def enqueue(self, handles: list[JobHandle], backend: str, *,
                wait_for_room: bool = True) -> None:
        """Queue new jobs on ``backend`` (already persisted if the engine is durable).

        ``wait_for_room=False`` skips ``max_pending`` (jobs adopted from a store: the
        store link sized its claim to the room there was, and must never block).
        """
        scheduler = self.schedulers[backend]
        if not self.lock.acquire(blocking=False):
            # A worker holds the lock. Once it lets go it keeps the GIL, and this thread
            # would wait out CPython's switch interval (5 ms) to get it back: ask the
            # workers to give way (ThreadExecutor checks this after each job).
            self.submitter_waiting = True
            self.lock.acquire()
        try:
            if self.closing:
                raise RuntimeError("engine is shut down; create a new Engine to submit jobs")
            if wait_for_room:
                self._make_room(len(handles))
            for h in handles:
                self.active[h.job_id] = h
            self.counts[_PENDING] += len(handles)
            self.submitted += len(handles)
            if len(handles) == 1:
                scheduler.submit(handles[0])
            else:
                scheduler.submit_many(handles)
            if self.hub.active:
                for h in handles:
                    self._emit(h, EventKind.SUBMITTED)
        finally:
            self.lock.release()
        self.executors[backend].wake()

    def _make_room(self, n: int) -> None:
        """Apply ``max_pending``: raise (reject) or wait for running jobs to free room."""
        limit = self.max_pending
        if limit is None or self.counts[_PENDING] + n <= limit:
            return
        if self.on_full == "reject":
            raise QueueFull(self.counts[_PENDING], limit)
        if running_loop() is not None and self.loop_holder.on_loop_thread():
            raise LoopBlockingError(
                f"the queue is full ({self.counts[_PENDING]} pending, max_pending={limit}) "
                f"and on_full='block' would block the event loop; await eng.wait_async() "
                f"before submitting more, or use on_full='reject'")
        while self.counts[_PENDING] + n > limit and self.counts[_PENDING] > 0:
            self._room.wait()

    def complete_cached(self, handle: JobHandle, value: Any) -> None:
        """Finish a job from the cache without running it."""
        with self.lock:
            self.active[handle.job_id] = handle
            self.counts[_PENDING] += 1
            self.submitted += 1
            handle.output = value
            handle.cached = True
            if self.hub.active:
                self._emit(handle, EventKind.SUBMITTED)
            self._final(handle, _COMPLETED)
        self.profile.record(handle.job.task_name, ok=True, run_time=0.0, cache_hit=True)

    def follow(self, handle: JobHandle, leader: JobHandle, backend: str) -> None:
        """Let ``handle`` end as ``leader`` ends, without running (single-flight caching).

        ``handle`` is an identical call submitted with ``cache=True`` while ``leader`` was
        still pending or running: it counts as pending until then, and takes the leader's
        result or error (a cache hit in the profile). If the leader is cancelled, the
        follower is queued to run on its own.
        """
        with self.lock:
            self.active[handle.job_id] = handle
            self.counts[_PENDING] += 1
            self.submitted += 1
            if self.hub.active:
                self._emit(handle, EventKind.SUBMITTED)
        leader.add_done_callback(lambda done: self._settle_follower(handle, done, backend))

    def _settle_follower(self, handle: JobHandle, leader: JobHandle, backend: str) -> None:
        with self.lock:
            if handle.finished:
                return  # cancelled while it waited
            status = leader.job.status
            if status is _CANCELLED:
                self.schedulers[backend].submit(handle)
            elif status is _COMPLETED:
                handle.output = leader.output
                handle.cached = True
                self._final(handle, _COMPLETED)
            else:
                handle.errors = list(leader.errors)
                handle.error = leader.error
                handle.job.record_error(leader.job.error)
                self._final(handle, _FAILED)
        if status is _CANCELLED:
            self.executors[backend].wake()
        else:
            self.profile.record(handle.job.task_name, ok=status is _COMPLETED, run_time=0.0,
                                cache_hit=True)

    # -- failures, retries, timeouts, cancels ------------------------------------------
    def _attempt_failed(self, handle: JobHandle, run: Run, error: BaseException,
                        tb: str | None, elapsed: float) -> None:
        job = handle.job
        info = ErrorInfo(type=type(error).__name__, message=exception_message(error),
                         traceback=tb if tb is not None else format_traceback(error),
                         attempt=run.attempt)
        if not handle.errors:
            handle.errors = []
        handle.errors.append(info)
        job.record_error(str(info))
        policy = handle.policy or _policy_for(job)
        if run.attempt <= job.retries and policy.should_retry(error, run.attempt):
            delay = policy.delay(run.attempt)
            self.retried += 1
            self.timeline.record(run, job.task_name, RETRIED, run.started + elapsed)
            job.transition(_PENDING)
            self.counts[_RUNNING] -= 1
            self.counts[_PENDING] += 1
            handle.run = None
            self.running.pop(handle.job_id, None)
            if self.hub.active:
                self._emit(handle, EventKind.RETRYING,
                           f"attempt {run.attempt} failed ({info}); retry in {delay:.3g} s")
            if self.persist is not None:
                self.persist.changed(handle)
            if delay > 0:
                handle.retry_timer = self.timers.call_later(delay, self._requeue, handle)
            else:
                self._requeue(handle)
            return
        handle.error = error
        self._final(handle, _FAILED, run.started + elapsed)
        self.profile.record(job.task_name, ok=False, run_time=elapsed,
                            retried=job.attempts > 1)

    def _requeue(self, handle: JobHandle) -> None:
        with self.lock:
            handle.retry_timer = None
            if handle.finished or handle.job.status is not _PENDING:
                return
            backend = handle.job.backend or "thread"
            self.schedulers[backend].submit(handle)
        self.executors[backend].wake()

    def _on_timeout(self, handle: JobHandle, run: Run) -> None:
        with self.lock:
            if run.ended or handle.run is not run:
                return
            run.ended = True
            run.reason = "timeout"
            run.cancel_requested = True
            elapsed = self.clock() - run.started
            handle.execution_time += elapsed
            error = JobTimeout(f"job {handle.job_id} ({handle.name}) timed out after "
                               f"{handle.job.timeout:g} s (attempt {run.attempt})",
                               job_id=handle.job_id, attempt=run.attempt)
        self.executors[run.backend].interrupt(run, "timeout")
        with self.lock:
            if not handle.finished:
                self._attempt_failed(handle, run, error, "", elapsed)

    def cancel(self, job_id: str, reason: str | None = None) -> bool:
        """Cancel a pending or running job; False if it ended already or is unknown.

        ``reason`` (e.g. "replaced by job X (key 'sweep')") is kept as the job's error
        text, so its view and the :class:`JobCancelled` raised when it is awaited say why.
        """
        with self.lock:
            handle = self.active.get(job_id)
            if handle is None or handle.finished:
                return False
            run = self._cancel_locked(handle, reason)
        if run is not None:
            self.executors[run.backend].interrupt(run, "cancel")
        self.profile.record(handle.job.task_name, ok=False, run_time=0.0, cancelled=True)
        return True

    def _cancel_locked(self, handle: JobHandle, reason: str | None) -> Run | None:
        """End ``handle`` as cancelled (lock held); its run, if one must be interrupted."""
        if reason is not None:
            handle.job.record_error(reason)
        run = handle.run
        if handle.job.status is _PENDING:
            self.schedulers[handle.job.backend or "thread"].cancel(handle.job_id)
            if handle.retry_timer is not None:
                handle.retry_timer.cancel()
            run = None
        elif run is not None:
            run.ended = True
            run.reason = "cancel"
            run.cancel_requested = True
            if run.timer is not None:
                run.timer.cancel()
        self._final(handle, _CANCELLED)
        return run

    # -- the end of a job --------------------------------------------------------------
    def _final(self, handle: JobHandle, status: JobStatus, end: float | None = None) -> None:
        """Move a job to its final status; must hold the lock. ``end``: when its run
        ended, on ``self.clock`` (read now if not given)."""
        job = handle.job
        before = job.status
        job.end(status)  # raises if it ended already: a job ends once
        run = handle.run
        if run is not None:  # it ran (not a pending cancel, not a cache hit)
            self.timeline.record(run, job.name or job.task_name, STATUS_CODE[status], end)
        handle.run = None
        self.running.pop(handle.job_id, None)
        self.counts[before] -= 1
        self.counts[status] += 1
        del self.active[handle.job_id]
        recent = self.recent
        recent[handle.job_id] = handle
        if len(recent) > self.keep_finished:
            recent.popitem(last=False)
        if handle.jobgroup is not None:
            handle.jobgroup._ended(status)
            handle.jobgroup = None  # else a kept finished handle pins its whole map()
        callbacks = handle._resolve()
        if self.hub.active:
            self._emit(handle, _FINAL_KIND[status], job.error if status is _FAILED else None)
        if self.persist is not None:
            self.persist.changed(handle)
        for fn in self.on_final:
            fn(handle)
        if before is _PENDING and self.max_pending is not None:
            self._room.notify()
        if not self.active:
            self._idle.notify_all()
            waiters, self._idle_waiters = self._idle_waiters, []
            for loop, fut in waiters:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve_idle, fut)
        for fn in callbacks:
            try:
                fn(handle)
            except Exception:
                log.exception("done callback of job %s failed", handle.job_id)

    # -- events ----------------------------------------------------------------------
    def _emit(self, handle: JobHandle, kind: EventKind, message: str | None = None) -> None:
        job = handle.job
        if not self.hub.wants(handle.job_id):
            return
        self.hub.emit(JobEvent(job_id=handle.job_id, kind=kind, status=job.status,
                               progress=job.progress, message=message, attempt=job.attempts,
                               at=utcnow()))

    def job_events(self, handle: JobHandle) -> AsyncIterator[JobEvent]:
        """A job's events from its start (replayed) to its final one."""
        try:
            with self.lock:
                sub = self.hub.subscribe(handle.job_id)
                replay = _replay(handle)
        except RuntimeError:  # no running loop yet: subscribe on first iteration
            return self._lazy(lambda: self.job_events(handle))
        return self._replayed(sub, replay)

    async def _replayed(self, sub: Subscription, replay: list[JobEvent]
                        ) -> AsyncIterator[JobEvent]:
        for event in replay:
            yield event
            if event.is_final:
                self.hub.unsubscribe(sub)
                return
        async for event in sub.stream(until_final=True):
            yield event

    def all_events(self) -> AsyncIterator[JobEvent]:
        """Every event from now on. Subscribes at once when called on a running loop."""
        try:
            sub = self.hub.subscribe(None)
        except RuntimeError:
            return self._lazy(self.all_events)
        return sub.stream(until_final=False)

    @staticmethod
    async def _lazy(make: Callable[[], AsyncIterator[JobEvent]]) -> AsyncIterator[JobEvent]:
        async for event in make():
            yield event

    # -- waiting ---------------------------------------------------------------------
    def check_blocking_wait(self, handles: Iterable[JobHandle]) -> None:
        """Refuse a blocking wait on the loop thread for work that needs the loop."""
        if not self.loop_holder.on_loop_thread():
            return
        for h in handles:
            if not h.finished and self.executors[h.job.backend or "thread"].needs_loop:
                raise LoopBlockingError(
                    f"job {h.job_id} ({h.name}) runs on the event loop, and this call would "
                    f"block that loop's own thread forever; use `await h` (or "
                    f"`await eng.wait_async()`) in a notebook cell or coroutine instead")

    def wait_idle(self, timeout: float | None) -> bool:
        with self.lock:
            self.check_blocking_wait(self.active.values())
            return self._idle.wait_for(lambda: not self.active, timeout)

    async def wait_idle_async(self) -> None:
        loop = asyncio.get_running_loop()
        with self.lock:
            if not self.active:
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._idle_waiters.append((loop, fut))
        await fut

    # -- lookups ---------------------------------------------------------------------
    def get(self, job_id: str) -> JobHandle | None:
        return self.active.get(job_id) or self.recent.get(job_id)

    def handles(self) -> list[JobHandle]:
        with self.lock:
            return [*self.active.values(), *self.recent.values()]

    def pending_count(self) -> int:
        return self.counts[_PENDING]

    def top_pending(self, n: int) -> list[JobHandle]:
        """The next ``n`` queued jobs in priority order, across backends."""
        tops = [s.top(n) for s in self.schedulers.values() if len(s)]
        return list(itertools.islice(heapq.merge(*tops, key=lambda h: -h.priority), n))

    # -- shutting down -----------------------------------------------------------------
    def cancel_all(self) -> int:
        """Cancel every job: the queued ones in one pass under the lock, then the running.

        One pass, so no worker takes a job that is about to be cancelled: cancelled one by
        one, each job a worker took first was then cancelled while running, and the thread
        backend started a replacement worker for it (6,000 threads to stop 100k queued
        jobs with ``shutdown(wait=False)``).
        """
        with self.lock:
            queued = [h for h in self.active.values() if h.job.status is _PENDING]
            for handle in queued:
                self._cancel_locked(handle, None)
            running = list(self.active)
        for handle in queued:
            self.profile.record(handle.job.task_name, ok=False, run_time=0.0, cancelled=True)
        return len(queued) + sum(1 for job_id in running if self.cancel(job_id))

    def stop(self, wait: bool, timeout: float | None) -> None:
        with self.lock:
            self.closing = True
            self._store_caught_up.notify_all()
        for scheduler in self.schedulers.values():
            scheduler.wake()
        for executor in self.executors.values():
            executor.shutdown(wait=wait, timeout=timeout)
        self.timers.stop()
        self.hub.close()


def _policy_for(job: Job) -> RetryPolicy:
    return RetryPolicy(max_retries=job.retries, backoff=job.backoff)


def _resolve_idle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _replay(handle: JobHandle) -> list[JobEvent]:
    """Events that already happened, rebuilt from state for a late subscriber."""
    job = handle.job
    kinds = [EventKind.SUBMITTED]
    if job.attempts or job.status in (_RUNNING, _COMPLETED, _FAILED):
        kinds.append(EventKind.STARTED)
    if job.status.is_terminal:
        kinds.append(_FINAL_KIND[job.status])
    last = len(kinds) - 1
    return [JobEvent(job_id=job.job_id, kind=k,
                     status=job.status if i == last else
                     (_RUNNING if k is EventKind.STARTED else _PENDING),
                     progress=job.progress if i == last else None, attempt=job.attempts,
                     message=job.error if k is EventKind.FAILED else None)
            for i, k in enumerate(kinds)]
