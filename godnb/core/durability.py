"""An engine's link to its store: commit on submit, write behind, recover, resume.

* ``submit()`` returns only after the job is committed (``map()`` commits its batch in one
  transaction), so a ``kill -9`` loses no acknowledged job.
* Later changes (started, progress, finished) mark the job dirty; a background thread
  writes the dirty jobs in batches about every 50 ms, at once when they pile up, and at
  shutdown. One batch is one transaction, and each job in it is read once: a job that
  ended is written with its result, so a stored result always comes with its final
  status.
* **No lost writes.** A batch that fails (a database locked too long, a full disk) is
  kept: its jobs go back into the dirty set and the write is retried with backoff (from
  0.05 s doubling to 2 s), logged once per run of failures, until it lands or the engine
  shuts down. Dirty entries are the live handles, so a retry writes each job's newest
  state: an older state never overwrites a newer one. Shutdown keeps trying for
  ``flush_timeout`` seconds, then warns and lists what it could not write in
  ``Engine.unwritten``.
* **Bounded lag.** The store trails the engine by at most ``max_lag`` jobs (default
  10,000) plus the jobs running at that moment. When the jobs changed but not written
  yet (the dirty set and the batch in flight) reach ``max_lag``, the writer is woken at
  once and thread and process workers start no new job until a write lands
  (backpressure: the engine runs no further ahead of its store). Two cases can go past
  the bound briefly: async jobs (they run on the event loop, which is never blocked) and
  a bulk cancel of queued jobs; and once shutdown begins the bound is lifted, so jobs
  still held can finish. A ``kill -9`` therefore re-runs at most about ``max_lag``
  finished jobs (at-least-once, never zero times).
* The same thread claims and adopts jobs from the store (:mod:`godnb.core.resume`),
  applies cancel requests other processes wrote into the store, keeps this engine's
  heartbeat fresh, and every few seconds recovers the jobs of engines that died.

Every job an engine takes from the store passes :meth:`Durability._can_run` first. A job
read from the store runs only if this engine trusts its task (see
:func:`godnb.core.tasks.is_allowed`: registered with ``@god.task``, in a module the engine's
``allow`` patterns name, or submitted by name to this engine): a store file can name any
code. Others are claimed and failed with the reason and the fix, without importing
anything; their pickled arguments are never loaded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from godnb.core.handles import JobHandle
from godnb.core.resume import RecoveryStats, Resume
from godnb.core.tasks import is_allowed, resolve_task
from godnb.core.writebehind import FIRST_BACKOFF, MAX_BACKOFF, FailureStreak, batch_rows, time_left
from godnb.errors import StoreError, UnknownTask
from godnb.models.job import JobStatus
from godnb.storage.state import Store, open_store

if TYPE_CHECKING:
    from godnb.core.runtime import Runtime

__all__ = ["DEFAULT_MAX_LAG", "Durability"]

log = logging.getLogger("godnb.store")

#: Jobs the store may trail the engine by (plus those running) before workers wait.
DEFAULT_MAX_LAG = 10_000
_HEARTBEAT_EVERY = 2.0
_RECOVER_EVERY = 5.0
_NEGATIVE_TTL = 5.0


class Durability:
    """Keeps one engine's jobs in a store and shares work with other engines on it."""

    def __init__(self, runtime: Runtime, store: Store | str | os.PathLike[str], *, owner: str,
                 default_backend: str, poll_interval: float = 0.25,
                 flush_interval: float = 0.05, max_lag: int = DEFAULT_MAX_LAG,
                 flush_timeout: float = 30.0, resume: bool = True,
                 retry_interrupted: bool = False, allow: Sequence[str] = ()) -> None:
        opened = open_store(store)
        assert opened is not None
        self.store: Store = opened
        self._owns_store = not isinstance(store, Store)  # a store you pass stays open
        self.owner = owner
        self.default_backend = default_backend  # for adopted jobs that name no backend
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self.max_lag = max_lag
        self.flush_timeout = flush_timeout
        self.retry_interrupted = retry_interrupted
        self._rt = runtime
        self._dirty: dict[str, JobHandle] = {}
        # Dirty jobs allowed before backpressure: max_lag less the batch in flight.
        self._room = max_lag
        self._inflight = 0
        self._flight: dict[str, JobHandle] = {}  # the batch being written
        self._backpressure = True  # lifted when shutdown begins
        self.peak_lag = 0  # the most jobs the store trailed by, seen when a write ended
        # One batch is written at a time (_flush_lock), so release() can know no stale
        # write follows it.
        self._flush_lock = threading.Lock()
        self._detached: set[str] = set()  # released jobs: never written again
        self._can_run_cache: dict[str, tuple[bool, float]] = {}
        self.allow = tuple(allow)  # module patterns whose stored jobs may run here
        self.trusted: set[str] = set()  # task names submitted by name to this engine
        self._allowed: set[str] = set()  # tasks found allowed (see allowed())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._retry_at = 0.0
        self._writes = FailureStreak("background write")
        self._polls = FailureStreak("background poll")
        self.unwritten: tuple[str, ...] = ()
        now = time.monotonic()
        self._last = {"heartbeat": now, "recover": now, "cancels": 0.0}
        self.resume = Resume(self, enabled=resume, retry_interrupted=retry_interrupted)
        try:
            self.store.register_engine(self.owner, os.getpid(), os.uname().nodename)
            report = self.store.recover(self.owner, retry_interrupted=retry_interrupted)
        except BaseException:
            if self._owns_store:
                self.store.close()
            raise
        self.resume.recovered(report, "on open")
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
        dirty = self._dirty
        dirty[handle.job_id] = handle
        if len(dirty) >= self._room:
            self._behind()

    def _behind(self) -> None:
        """The store trails by ``max_lag``: hold workers back, wake the writer (lock held)."""
        if self._backpressure and not self._rt.store_behind:
            self._rt.set_store_behind(True)
            self._wake.set()

    @property
    def lag(self) -> int:
        """Jobs changed but not yet written (a moment's reading).

        A job changed again while its previous change is being written counts once (the
        backpressure check counts it twice: it is cheaper, and errs on the safe side).
        """
        flight = self._flight
        return len(flight) + sum(1 for job_id in tuple(self._dirty) if job_id not in flight)

    @property
    def recovery(self) -> RecoveryStats:
        return self.resume.stats()

    def wake(self) -> None:
        """Run the store thread's next round now."""
        self._wake.set()

    def cancel_elsewhere(self, job_id: str) -> bool:
        """Ask the store to cancel a job this engine does not run; True if accepted."""
        status = self.store.request_cancel(job_id)
        return status is not None and not (status.is_terminal and
                                           status is not JobStatus.CANCELLED)

    def stop_polling(self, timeout: float = 10.0) -> None:
        """Take no more jobs from the store (shutdown has begun).

        Returns once no claim is in flight (or after ``timeout`` seconds), so the jobs this
        engine holds are all it will get. Cancel requests are still applied. Backpressure
        is lifted, so the jobs held can finish even while the store is unavailable.
        """
        self.resume.stop(timeout)
        with self._rt.lock:
            self._backpressure = False
            self._rt.set_store_behind(False)

    def wait(self, timeout: float | None) -> bool:
        """``Engine.wait``: no active job here, a claim found nothing more to run, and
        what the jobs did is written (unless the store refuses: then it is retried)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self._rt.wait_idle(time_left(deadline)):
                return False
            look = self.resume.look()
            if look is not None:
                try:
                    got = look.result(time_left(deadline))
                except TimeoutError:
                    return False
                if got or self._rt.active:
                    continue
            self._written(time_left(deadline))
            return True

    async def wait_async(self) -> None:
        """``Engine.wait_async``: as :meth:`wait`, without blocking the loop."""
        while True:
            await self._rt.wait_idle_async()
            look = self.resume.look()
            if look is not None:
                got = await asyncio.wrap_future(look)
                if got or self._rt.active:
                    continue
            if self._dirty:
                await asyncio.to_thread(self._written, None)
            return

    def _written(self, timeout: float | None) -> None:
        """Write now what is dirty, so a wait ends with the store up to date."""
        try:
            self.flush(timeout)
        except Exception:  # the store thread retries it, and logs it
            pass

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
                    self.changed(handle)
        if released:
            self.store.release(released, self.owner)
        return released

    def close(self) -> tuple[str, ...]:
        """Write what is left (retrying up to ``flush_timeout`` s) and close the store.

        Returns the ids of the jobs whose latest state could not be written (also in
        :attr:`unwritten`), after a warning that names them.
        """
        self.resume.stop(0.0)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, self.flush_timeout))
        unwritten = self._final_flush()
        try:
            self.store.unregister_engine(self.owner)
            if self._owns_store:
                self.store.close()
            else:
                self.store.flush()
        except StoreError as e:
            log.warning("store %s: could not unregister engine %s on shutdown (%s); the "
                        "next engine on the store will recover its jobs", self.store,
                        self.owner, e)
            if self._owns_store:
                self.store.close()
        self._rt.persist = None
        self.unwritten = unwritten
        if unwritten:
            self._warn_unwritten(unwritten)
        return unwritten

    def _final_flush(self) -> tuple[str, ...]:
        deadline = time.monotonic() + self.flush_timeout
        delay = FIRST_BACKOFF
        while True:
            try:
                if self.flush(timeout=time_left(deadline)) and not self._dirty:
                    self._writes.ok(self.store)
                    return ()
            except Exception as e:  # StoreError, or whatever a plugin store raises
                self._writes.failed(self.store, e, self.lag)
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(2 * delay, MAX_BACKOFF)
        with self._rt.lock:  # with a batch the store thread may still be writing
            return tuple(dict.fromkeys([*self._flight, *self._dirty]))

    def _warn_unwritten(self, ids: tuple[str, ...]) -> None:
        shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        message = (f"store {self.store}: the latest state of {len(ids)} job(s) could not be "
                   f"written within flush_timeout={self.flush_timeout:g} s "
                   f"({self._writes.error}); the store keeps an older state of each, so an "
                   f"engine that opens it again recovers them and may run them again. "
                   f"Their ids are in Engine.unwritten: {shown}")
        log.warning("%s", message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    # -- the background thread -----------------------------------------------------------
    def _serve(self) -> None:
        while True:
            self._wake.wait(self._delay())
            self._wake.clear()
            if self._stop.is_set():
                return
            now = time.monotonic()
            if now < self._retry_at:
                continue  # woken during a failed write's backoff
            if self._write():
                try:
                    self._poll(now)
                except Exception as e:  # keep serving: retried on the next round
                    self._polls.failed(self.store, e, 0)
                else:
                    self._polls.ok(self.store)

    def _delay(self) -> float:
        """Seconds until the next round: a failed write's backoff, or none while behind."""
        if self._retry_at:
            return max(0.0, self._retry_at - time.monotonic())
        return 0.0 if self._rt.store_behind else self.flush_interval

    def _write(self) -> bool:
        try:
            self.flush()
        except Exception as e:  # kept for a retry after a backoff; see the module doc
            self._retry_at = time.monotonic() + self._writes.failed(self.store, e, self.lag)
            return False
        self._retry_at = 0.0
        self._writes.ok(self.store)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Write every dirty job (and the results of ended ones) in one transaction.

        Returns False when another write held on past ``timeout``. Raises what the store
        raised when the write fails; the batch stays dirty for the next write.
        """
        if not self._flush_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            with self._rt.lock:
                if not self._dirty:
                    if self._rt.store_behind:  # release() took the jobs back meanwhile
                        self._rt.set_store_behind(False)
                    return True
                batch, self._dirty = self._dirty, {}
                self._flight = batch
                self._inflight = len(batch)
                self._room = max(1, self.max_lag - len(batch))
            try:
                self.store.update_rows(*batch_rows(list(batch.values())))
            except BaseException:
                self._keep(batch)
                raise
            self._landed()
            return True
        finally:
            self._flush_lock.release()

    def _keep(self, batch: dict[str, JobHandle]) -> None:
        """A batch failed: its jobs are dirty again, with any changed meanwhile."""
        with self._rt.lock:
            self.peak_lag = max(self.peak_lag, self.lag)
            self._flight = {}
            for job_id in self._detached.intersection(batch):
                del batch[job_id]
            # Same job, same handle: whichever entry stays, its row is encoded afresh from
            # the job's newest state at the next write.
            batch.update(self._dirty)
            self._dirty = batch
            self._inflight = 0
            self._room = self.max_lag
            if len(batch) >= self._room:
                self._behind()

    def _landed(self) -> None:
        with self._rt.lock:
            self.peak_lag = max(self.peak_lag, self.lag)
            self._flight = {}
            self._inflight = 0
            self._room = self.max_lag
            if self._rt.store_behind and len(self._dirty) < self._room:
                self._rt.set_store_behind(False)

    def _poll(self, now: float) -> None:
        last = self._last
        if now - last["heartbeat"] >= _HEARTBEAT_EVERY:
            last["heartbeat"] = now
            self.store.heartbeat(self.owner)
        if now - last["recover"] >= _RECOVER_EVERY:
            last["recover"] = now
            report = self.store.recover(self.owner, retry_interrupted=self.retry_interrupted)
            self.resume.recovered(report, "recovered engines that died")
        if now - last["cancels"] >= self.poll_interval:
            last["cancels"] = now
            cancels = self.store.cancel_requests(self.owner)
            if cancels:
                for job_id in cancels:
                    self._rt.cancel(job_id)
                self.store.clear_cancel(cancels)
        self.resume.tick(now)

    def allowed(self, task: str) -> bool:
        """May this engine run a stored job naming ``task``? Imports nothing.

        Asked for every adopted job: a yes is remembered (trust is never withdrawn: a task
        stays registered), a no is asked again (the task may be registered later).
        """
        if task in self._allowed:
            return True
        if not (task in self.trusted or is_allowed(task, self.allow)):
            return False
        if len(self._allowed) >= 10_000:  # distinct names a store can hold are unbounded
            self._allowed.clear()
        self._allowed.add(task)
        return True

    def _can_run(self, task: str) -> bool:
        """Whether this engine claims a stored job's task: every claim asks here.

        True to run it, or, for a task this engine may not run (:meth:`allowed`), to fail
        it with the reason (resume's ``_restore`` refuses it); False leaves it for another
        engine (a trusted task whose module can not be imported here).
        """
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
