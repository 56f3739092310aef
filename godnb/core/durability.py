"""An engine's link to its store: commit on submit, write behind, claim, recover.

* ``submit()`` returns only after the job is committed (``map()`` commits its batch in one
  transaction), so a ``kill -9`` loses no acknowledged job.
* Later changes (started, progress, finished) are marked dirty and written in batches by a
  background thread about every 50 ms and at shutdown. A job that was running, or had just
  finished, when the process died can therefore run again: at-least-once, never zero times.
* The same thread claims unowned pending jobs whose task this engine can run (submitted
  from the CLI, or recovered from a dead engine), applies cancel requests that other
  processes wrote into the store, keeps this engine's heartbeat fresh, and every few
  seconds recovers jobs owned by engines that died.
* A job read from the store runs only if this engine trusts its task (see
  :func:`godnb.core.tasks.is_allowed`: registered with ``@god.task``, in a module the
  engine's ``allow`` patterns name, or submitted by name in this engine): a store file can
  name any code. Others are claimed and failed with the reason and the fix, without
  importing anything; their pickled arguments are never loaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from godnb.core.handles import JobHandle
from godnb.core.tasks import is_allowed, not_allowed_message, resolve_task
from godnb.errors import GodnbError, TaskNotAllowed, UnknownTask
from godnb.models.job import JobStatus
from godnb.models.result import ErrorInfo, Result
from godnb.storage.codec import (
    LostCallable,
    job_update_values,
    outcome_values,
    stored_arguments,
)
from godnb.storage.state import Store, open_store

if TYPE_CHECKING:
    from godnb.core.runtime import Runtime

__all__ = ["Durability"]

log = logging.getLogger("godnb.store")

_HEARTBEAT_EVERY = 2.0
_RECOVER_EVERY = 5.0
_NEGATIVE_TTL = 5.0


class Durability:
    """Keeps one engine's jobs in a store and shares work with other engines on it."""

    def __init__(self, runtime: Runtime, store: Store | str | os.PathLike[str], *, owner: str,
                 default_backend: str, poll_interval: float = 0.25,
                 flush_interval: float = 0.05, allow: Sequence[str] = ()) -> None:
        opened = open_store(store)
        assert opened is not None
        self.store: Store = opened
        self._owns_store = not isinstance(store, Store)  # a store you pass stays open
        self.owner = owner
        self.default_backend = default_backend  # for adopted jobs that name no backend
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self._rt = runtime
        self._dirty: dict[str, JobHandle] = {}
        self._dirty_lock = threading.Lock()
        # One batch is written at a time, and a claim in flight holds _claim_lock: together
        # they let release() and stop_polling() know no stale write or late claim follows.
        self._flush_lock = threading.Lock()
        self._claim_lock = threading.Lock()
        self._detached: set[str] = set()  # released jobs: never written again
        self._can_run_cache: dict[str, tuple[bool, float]] = {}
        self.allow = tuple(allow)  # module patterns whose stored jobs may run here
        self.trusted: set[str] = set()  # task names submitted in this process by name
        self._stop = threading.Event()
        self._claiming = True
        self._last = {"heartbeat": 0.0, "recover": 0.0}
        self.store.register_engine(self.owner, os.getpid(), os.uname().nodename)
        report = self.store.recover(self.owner)
        if report:
            log.info("store %s: %s", self.store, report)
        self.last_recovery = report
        self._rt.persist = self
        self._thread = threading.Thread(target=self._serve, name="godnb-store", daemon=True)
        self._thread.start()

    # -- called by the engine and runtime ----------------------------------------------
    def add(self, handles: list[JobHandle]) -> None:
        """Commit new jobs before ``submit`` returns."""
        self.store.add([h.job for h in handles], owner=self.owner)

    def changed(self, handle: JobHandle) -> None:
        """Mark a job for the next write-behind batch (called under the runtime lock)."""
        if self._detached and handle.job_id in self._detached:
            return
        self._dirty[handle.job_id] = handle

    def cancel_elsewhere(self, job_id: str) -> bool:
        """Ask the store to cancel a job this engine does not run; True if accepted."""
        status = self.store.request_cancel(job_id)
        return status is not None and not (status.is_terminal and
                                           status is not JobStatus.CANCELLED)

    def stop_polling(self, timeout: float = 10.0) -> None:
        """Take no more jobs from the store (shutdown has begun).

        Returns once no claim is in flight (or after ``timeout`` seconds), so the jobs this
        engine holds are all it will get. Cancel requests are still applied.
        """
        self._claiming = False
        if self._claim_lock.acquire(timeout=timeout):
            self._claim_lock.release()

    def release(self, job_ids: Iterable[str]) -> list[str]:
        """Give jobs that have not ended back to the store as unowned pending.

        For a graceful shutdown: each job is cancelled *in this engine* (a process job is
        killed, a thread job flagged, a pending one never starts) but that cancel is never
        written, so the store keeps the job pending for another engine. A job that ends
        while this runs keeps its outcome and is not released. Returns the released ids.
        """
        ids = list(dict.fromkeys(job_ids))
        # Under _flush_lock: no batch holding an older state of these jobs is in flight.
        with self._flush_lock, self._rt.lock:
            active = self._rt.active
            # Pending jobs first: cancelling a running thread job starts a replacement
            # worker, which must not find one of these still queued.
            ids = sorted((i for i in ids if i in active),
                         key=lambda i: active[i].job.status is not JobStatus.PENDING)
            self._detached.update(ids)
            for job_id in ids:
                self._dirty.pop(job_id, None)
        released = []
        for job_id in ids:
            if self._rt.cancel(job_id):
                released.append(job_id)
                continue
            with self._rt.lock:  # it ended meanwhile: write its outcome after all
                self._detached.discard(job_id)
                handle = self._rt.get(job_id)
                if handle is not None:
                    self._dirty[job_id] = handle
        if released:
            self.store.release(released, self.owner)
        return released

    def close(self) -> None:
        """Flush, give back any job not finished, and close the store."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
        self.store.unregister_engine(self.owner)
        if self._owns_store:
            self.store.close()
        else:
            self.store.flush()
        self._rt.persist = None

    # -- the background thread -----------------------------------------------------------
    def _serve(self) -> None:
        next_poll = 0.0
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + self.poll_interval
                    self._poll(now)
            except Exception:  # keep serving: a locked or busy db is retried next round
                log.exception("store %s: background write failed", self.store)

    def flush(self) -> None:
        """Write every dirty job (and the results of finished ones) in one batch."""
        with self._flush_lock:
            with self._rt.lock:
                if not self._dirty:
                    return
                batch, self._dirty = self._dirty, {}
            # Rows are encoded from the live jobs without copying: a field that changes
            # meanwhile marks the job dirty again, so the next batch writes its newer state;
            # finished jobs no longer change. Results go straight from the handle to a row.
            handles = list(batch.values())
            updates = [job_update_values(h.job) for h in handles]
            results = [_outcome_row(h) for h in handles if h.finished]
            self.store.update_rows(updates, results)

    def _poll(self, now: float) -> None:
        if now - self._last["heartbeat"] >= _HEARTBEAT_EVERY:
            self._last["heartbeat"] = now
            self.store.heartbeat(self.owner)
        if now - self._last["recover"] >= _RECOVER_EVERY:
            self._last["recover"] = now
            report = self.store.recover(self.owner)
            if report:
                log.info("store %s: %s", self.store, report)
        cancels = self.store.cancel_requests(self.owner)
        if cancels:
            for job_id in cancels:
                self._rt.cancel(job_id)
            self.store.clear_cancel(cancels)
        if self._claiming:
            with self._claim_lock:
                if self._claiming:
                    self._claim()

    def _claim(self) -> None:
        rt = self._rt
        # Room for about two jobs per worker, so other engines on the file get a share.
        # The async limit (1000 by default) is a ceiling, not workers: it is left out.
        capacity = sum(e.workers for e in rt.executors.values()
                       if not e.needs_loop and e.plugin_name != "inline") or 1
        room = max(0, 2 * capacity - rt.pending_count())
        if room == 0:
            return
        for job in self.store.claim(self.owner, room, can_run=self._can_run):
            self._adopt(job)

    def allowed(self, task: str) -> bool:
        """May this engine run a stored job naming ``task``? Imports nothing."""
        return task in self.trusted or is_allowed(task, self.allow)

    def _can_run(self, task: str) -> bool:
        """Should this engine claim jobs naming ``task``: to run them, or (a task it may
        not run) to fail them with the reason? False leaves them for another engine (a
        trusted task whose module can not be imported here)."""
        now = time.monotonic()
        cached = self._can_run_cache.get(task)
        if cached is not None and (cached[0] or now - cached[1] < _NEGATIVE_TTL):
            return cached[0]
        try:
            if self.allowed(task):  # only then may resolving it import its module
                resolve_task(task)
            ok = True
        except UnknownTask:
            # A callable's reference that can not be imported (a lambda, a notebook
            # function) is claimed anyway, to restore it from __main__ or fail it clearly.
            ok = "<" in task or task.startswith("__main__:")
        self._can_run_cache[task] = (ok, now)
        return ok

    def _adopt(self, job: Any) -> None:
        """Queue a claimed job here, or fail it if its code can not be restored."""
        task = job.task
        reference = task.reference if isinstance(task, LostCallable) else task
        if not self.allowed(reference):
            if isinstance(task, LostCallable) and task.args_saved:  # a live callable
                self._fail_unrestorable(job, task.message)
            else:
                self._fail_unrestorable(job, not_allowed_message(reference, self.allow),
                                        TaskNotAllowed.__name__)
            return
        try:
            spec = resolve_task(reference)
            fn = spec.fn
            if isinstance(task, LostCallable) and not task.args_saved:
                raise UnknownTask(task.message)
            args, kwargs = stored_arguments(job)  # trusted: pickled arguments load now
        except (UnknownTask, GodnbError) as e:
            message = task.message if isinstance(task, LostCallable) else str(e)
            self._fail_unrestorable(job, message)
            return
        except Exception as e:  # unpickling the arguments failed: say so, do not crash
            self._fail_unrestorable(job, f"the arguments of task {reference!r} could not "
                                         f"be loaded from the store ({type(e).__name__}: "
                                         f"{e})")
            return
        defaults = spec.options
        backend = job.backend or defaults.get("backend")
        if backend not in self._rt.executors:
            backend = "async" if spec.is_async else self.default_backend
        job.place(backend, defaults.get("timeout"))
        handle = JobHandle(self._rt, job, fn, tuple(args), kwargs, time.monotonic())
        self._rt.enqueue([handle], backend)

    def _fail_unrestorable(self, job: Any, message: str, kind: str = "UnknownTask") -> None:
        error = ErrorInfo(type=kind, message=message, attempt=job.attempts)
        job.end(JobStatus.FAILED)
        job.record_error(f"{kind}: {message}")
        self.store.update([job], [Result(job_id=job.job_id, status=JobStatus.FAILED,
                                         errors=[error], attempts=job.attempts)])
        log.warning("job %s can not be restored: %s", job.job_id, message)


def _outcome_row(h: JobHandle) -> tuple[Any, ...]:
    """The result row of a finished job: what ``h.outcome`` would store, without a Result."""
    job = h.job
    return outcome_values(h.job_id, job.status, h.output, h.errors, h.execution_time,
                          job.attempts, h.cached, job.updated_at)
