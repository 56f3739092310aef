"""Resume on start: an engine on a store takes over the work the store holds.

When an engine opens a store it first *recovers* it (jobs of engines that died go back
to the queue, see :meth:`Store.recover`), then keeps *claiming* unowned pending jobs it
can run: recovered ones, ones submitted from the CLI or another process, ones another
engine released. Each becomes an ordinary :class:`JobHandle` of this engine (in
``eng.jobs()``, the queue view, ``eng.get(id)``; ``result()``, ``await``, ``cancel()``).

* **Bounded.** It holds at most ``window`` queued jobs at once (fewer under
  ``max_pending``) and takes more as they start: a store of a million pending jobs
  costs the memory of a window of handles, not a million.
* **Paced.** Each claim tops the local queue up to about half a second of work at the
  rate this engine finishes jobs (at least two jobs per worker), as soon as the queue
  falls below half of that, checked every write-behind tick (~50 ms). A claim that comes
  back short (the store has no more) waits ``poll_interval`` before the next one, unless
  someone waits: ``eng.wait()`` asks for a claim at once.
* **Shared.** Short jobs are claimed in large batches, slow jobs a few at a time, so
  other engines on the same file get their share.
* ``Engine(store=..., resume=False)`` claims nothing it did not submit itself (the store
  is still recovered, for the engines that do claim).

``eng.wait()`` returns when this engine holds no unfinished job *and* a claim finds
nothing it can run; ``eng.recovery`` (:class:`RecoveryStats`) reports what was
recovered and adopted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from godnb.core.handles import JobHandle
from godnb.core.tasks import TaskSpec, not_allowed_message, resolve_task
from godnb.errors import GodnbError, TaskNotAllowed, UnknownTask
from godnb.models.job import Job, JobStatus, utcnow
from godnb.models.result import ErrorInfo, Result
from godnb.storage.codec import LostCallable, stored_arguments
from godnb.storage.recovery import RecoveryReport
from godnb.utils.formatting import format_count

if TYPE_CHECKING:
    from godnb.core.durability import Durability

__all__ = ["RESUME_WINDOW", "RecoveryStats", "Resume"]

log = logging.getLogger("godnb.store")

#: The most queued jobs an engine holds from its store at once.
RESUME_WINDOW = 10_000
_HORIZON = 0.5  # seconds of work a claim tops the local queue up to
_ENDED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class RecoveryStats(BaseModel):
    """What an engine's store recovery did, and what the engine took over from the store.

    ``eng.recovery`` returns a fresh snapshot on each call. The recovery counts add up
    the recovery the engine ran when it opened the store and those it ran since (every
    few seconds, for engines that died meanwhile):

    * ``requeued``: jobs of dead engines given back as pending; ``interrupted`` of them,
      and of ``failed``, were running when their engine died;
    * ``failed``: interrupted jobs with no retries left (never with
      ``retry_interrupted=True``);
    * ``completed``: jobs whose result was stored but whose status was not (their engine
      died in between): ended from the result, not run again;
    * ``cancelled``: jobs whose cancel had been requested;
    * ``adopted``: jobs this engine claimed from the store so far (recovered ones, and
      ones submitted elsewhere or released by another engine); ``unrestorable`` of them
      failed at once because their code can not be rebuilt (e.g. a notebook lambda).

    Example:
        >>> eng = god.Engine(store="jobs.db", retry_interrupted=True)  # doctest: +SKIP
        >>> eng.wait(); print(eng.recovery)                             # doctest: +SKIP
        recovered 40 job(s) (2 interrupted), failed 0, completed 0 from their result,
        cancelled 0; adopted 40
    """

    model_config = ConfigDict(frozen=True)

    store: str
    opened_at: datetime
    requeued: int = 0
    interrupted: int = 0
    failed: int = 0
    completed: int = 0
    cancelled: int = 0
    adopted: int = 0
    unrestorable: int = 0
    resume: bool = True
    retry_interrupted: bool = False

    @property
    def recovered(self) -> int:
        """Jobs the recoveries changed in any way."""
        return self.requeued + self.failed + self.completed + self.cancelled

    def __str__(self) -> str:
        n = format_count  # read in the engine view and the log: the views' separators
        lost = f" ({n(self.unrestorable)} could not be restored)" if self.unrestorable else ""
        taken = f"adopted {n(self.adopted)}{lost}" if self.resume else "resume off"
        return (f"recovered {n(self.requeued)} job(s) ({n(self.interrupted)} interrupted), "
                f"failed {n(self.failed)}, completed {n(self.completed)} from their result, "
                f"cancelled {n(self.cancelled)}; {taken}")


class Resume:
    """Claims and adopts store jobs for one engine (run by its store thread)."""

    def __init__(self, durable: Durability, *, enabled: bool, retry_interrupted: bool,
                 window: int = RESUME_WINDOW) -> None:
        self._d = durable
        self._rt = durable._rt
        self.window = window
        self.claiming = enabled
        self._report = RecoveryStats(store=_where(durable.store), opened_at=utcnow(),
                                     resume=enabled, retry_interrupted=retry_interrupted)
        self._counts = dict.fromkeys(("requeued", "interrupted", "failed", "completed",
                                      "cancelled", "adopted", "unrestorable"), 0)
        self._claim_lock = threading.Lock()  # held while a claim is in flight
        self._looks: list[Future[int]] = []  # eng.wait() asking for a claim now
        self._looks_lock = threading.Lock()
        self._next_claim = 0.0
        self._full = False  # the last claim got all it asked for
        self._boost = 0  # a claim size grown while the workers ran dry
        self._rate = 0.0  # jobs this engine finishes per second (smoothed)
        self._seen = (0, time.monotonic())

    # -- recovery ----------------------------------------------------------------------
    def recovered(self, report: RecoveryReport, when: str) -> None:
        """Count a store recovery in :meth:`stats` and log it."""
        if not report:
            return
        c = self._counts
        c["requeued"] += len(report.requeued)
        c["interrupted"] += report.interrupted
        c["failed"] += len(report.failed)
        c["completed"] += len(report.completed)
        c["cancelled"] += len(report.cancelled)
        level = logging.WARNING if report.failed else logging.INFO
        log.log(level, "store %s %s: %s", self._report.store, when, report)

    def stats(self) -> RecoveryStats:
        return self._report.model_copy(update=self._counts)

    # -- what eng.wait() asks ----------------------------------------------------------
    def look(self) -> Future[int] | None:
        """Ask for a claim now; the future gets how many jobs it took.

        None when this engine claims nothing (``resume=False``, or shutting down).
        """
        with self._looks_lock:
            if not self.claiming:
                return None
            fut: Future[int] = Future()
            self._looks.append(fut)
        self._d.wake()
        return fut

    def stop(self, timeout: float) -> None:
        """Claim nothing more; returns once no claim is in flight (or after ``timeout``)."""
        with self._looks_lock:
            self.claiming = False
            looks, self._looks = self._looks, []
        if self._claim_lock.acquire(timeout=timeout):
            self._claim_lock.release()
        _answer(looks, 0)

    # -- claiming (the store thread) ------------------------------------------------------
    def tick(self, now: float) -> None:
        """Claim if the local queue runs low, or if someone waits for a look."""
        with self._looks_lock:
            looks, self._looks = self._looks, []
        try:
            got = self._maybe_claim(now, bool(looks))
        except BaseException:
            with self._looks_lock:  # asked again after the store thread's backoff
                self._looks[:0] = looks
            raise
        _answer(looks, got)

    def _maybe_claim(self, now: float, asked: bool) -> int:
        self._measure(now)
        if not self.claiming or not (asked or now >= self._next_claim):
            return 0
        queued = self._rt.pending_count()
        target = max(self._target(), self._boost)
        if not asked and 2 * queued >= target:
            self._boost //= 2  # the queue keeps up: let the measured rate decide again
            return 0  # enough queued here: claim when it runs low
        if queued == 0 and self._full:
            # The workers ran dry since the last full claim, before the rate is measured
            # (it takes a tenth of a second): double the claim, as TCP's slow start does.
            target = self._boost = min(self._limit(), 2 * target)
        want = target - queued
        if want <= 0:
            return 0
        with self._claim_lock:
            if not self.claiming:
                return 0
            got = self._claim(want)
        # Short: the store has no more for now; look again after a poll interval.
        self._full = got >= want
        self._next_claim = now if self._full else now + self._d.poll_interval
        return got

    def _measure(self, now: float) -> None:
        counts = self._rt.counts
        finished = counts[_ENDED[0]] + counts[_ENDED[1]] + counts[_ENDED[2]]
        before, then = self._seen
        if now - then >= 0.1:
            self._rate = 0.5 * self._rate + 0.5 * (finished - before) / (now - then)
            self._seen = (finished, now)

    def _target(self) -> int:
        """How many queued jobs to hold: ~_HORIZON s of work, 2 per worker at least."""
        workers = sum(e.workers for e in self._rt.executors.values()
                      if not e.needs_loop and e.plugin_name != "inline") or 1
        return min(self._limit(), max(2 * workers, int(self._rate * _HORIZON)))

    def _limit(self) -> int:
        return min(self.window, self._rt.max_pending or self.window)

    def _claim(self, n: int) -> int:
        jobs = self._d.store.claim(self._d.owner, n, can_run=self._d._can_run)
        if jobs:
            self._adopt(jobs)
        return len(jobs)

    def _adopt(self, jobs: list[Job]) -> None:
        """Queue claimed jobs here as handles; fail those whose code can not be rebuilt."""
        queues: dict[str, list[JobHandle]] = {}
        lost: list[tuple[Job, str, str]] = []
        specs: dict[str, TaskSpec] = {}
        now = time.monotonic()
        for job in jobs:
            try:
                spec, backend = self._restore(job, specs)
            except TaskNotAllowed as e:
                lost.append((job, str(e), TaskNotAllowed.__name__))
                continue
            except (GodnbError, ValueError) as e:
                task = job.task
                lost.append((job, task.message if isinstance(task, LostCallable) else str(e),
                             "UnknownTask"))
                continue
            try:
                args, kwargs = stored_arguments(job)  # trusted: pickled arguments load now
            except Exception as e:  # a pickle that does not load here: say so, go on
                lost.append((job, f"the arguments of task {_stored_task(job)!r} could not be "
                                  f"loaded from the store ({type(e).__name__}: {e})",
                             "UnknownTask"))
                continue
            handle = JobHandle(self._rt, job, spec.fn, tuple(args), kwargs, now)
            queues.setdefault(backend, []).append(handle)
        self._counts["adopted"] += len(jobs)
        if lost:
            self._fail_unrestorable(lost)
        for backend, handles in queues.items():
            try:
                # Never blocks on max_pending: the claim was sized to the room there was.
                self._rt.enqueue(handles, backend, wait_for_room=False)
            except RuntimeError:  # the engine closed meanwhile: give them back
                self._d.store.release([h.job_id for h in handles], self._d.owner)
                raise

    def _restore(self, job: Job, specs: dict[str, TaskSpec]) -> tuple[TaskSpec, str]:
        task = job.task
        name = _stored_task(job)
        if not self._d.allowed(name):  # checked first: nothing is imported for it
            if isinstance(task, LostCallable) and task.args_saved:  # a live callable
                raise UnknownTask(task.message)
            raise TaskNotAllowed(not_allowed_message(name, self._d.allow))
        if isinstance(task, LostCallable) and not task.args_saved:
            raise UnknownTask(task.message)
        spec = specs.get(name)
        if spec is None:
            spec = specs[name] = resolve_task(name)
        defaults = spec.options
        backend = job.backend or defaults.get("backend")
        if backend not in self._rt.executors:
            backend = "async" if spec.is_async else self._d.default_backend
        job.place(backend, defaults.get("timeout"))
        return spec, backend

    def _fail_unrestorable(self, lost: Iterable[tuple[Job, str, str]]) -> None:
        jobs, results = [], []
        for job, message, kind in lost:
            error = ErrorInfo(type=kind, message=message, attempt=job.attempts)
            job.end(JobStatus.FAILED)
            job.record_error(f"{kind}: {message}")
            jobs.append(job)
            results.append(Result(job_id=job.job_id, status=JobStatus.FAILED, errors=[error],
                                  attempts=job.attempts))
            log.warning("job %s can not be restored: %s", job.job_id, message)
        self._d.store.update(jobs, results)
        self._counts["unrestorable"] += len(jobs)


def _stored_task(job: Job) -> str:
    """The task a stored job names (a live callable's reference)."""
    task = job.task
    name = task.reference if isinstance(task, LostCallable) else task
    assert isinstance(name, str)
    return name


def _answer(looks: list[Future[int]], got: int) -> None:
    for fut in looks:
        if not fut.done():
            try:
                fut.set_result(got)
            except Exception:  # cancelled meanwhile (an awaiting task was cancelled)
                pass


def _where(store: Any) -> str:
    path = getattr(store, "path", None)
    return str(path) if path else type(store).__name__
