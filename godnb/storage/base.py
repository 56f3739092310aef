"""The :class:`Store` contract, written once here and tested once against every store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from godnb.models import Job, JobStatus, Result
from godnb.registry import Plugin
from godnb.storage.codec import Outcome
from godnb.storage.recovery import EngineInfo, RecoveryRecord, RecoveryReport

__all__ = ["Store", "duplicate_ids", "parse_status", "zero_counts"]


def parse_status(status: JobStatus | str | None) -> JobStatus | None:
    """``status`` as a :class:`JobStatus`; ValueError listing the valid names otherwise."""
    if status is None or isinstance(status, JobStatus):
        return status
    try:
        return JobStatus(status)
    except ValueError:
        valid = ", ".join(repr(s.value) for s in JobStatus)
        raise ValueError(f"unknown job status {status!r}; valid statuses: {valid}") from None


def zero_counts() -> dict[str, int]:
    """Every status value mapped to 0."""
    return dict.fromkeys((s.value for s in JobStatus), 0)


class Store(Plugin, ABC, kind="store"):
    """Where engines keep jobs and results, and how several engines share them.

    Every store keeps the same contract (``tests/storage/test_store_contract.py`` runs one
    suite against each):

    * **Ownership.** Every engine has an ``owner`` id. A job is *owned* by the engine
      that added or claimed it; ``owner=None`` means unclaimed, and any engine may
      :meth:`claim` an unowned pending job. Owners are kept after a job ends, for history.
    * **Durability.** :meth:`add` commits its whole batch in one transaction before it
      returns. :meth:`update` is for write-behind batches of later state changes.
    * **Terminal is final.** :meth:`update` never changes a job the store already holds
      as completed, failed or cancelled, and the first :class:`Result` stored for a job
      wins: a late write from an engine presumed dead can not undo a cancel.
    * **Encoding.** A live callable is stored as its ``"module:qualname"`` reference; a
      job read back gets a :class:`~godnb.storage.codec.LostCallable` in its place, so
      ``job.durable`` is False and calling it raises a message that says how to make the
      job durable. Arguments of a task given by name are stored as JSON (so a tuple comes
      back as a list); a callable's arguments and results are JSON when they round-trip
      through JSON unchanged, else pickled. **Reading never unpickles**: a pickled value
      comes back as a :class:`~godnb.storage.codec.Pickled` stand-in (arguments as
      ``[Pickled(...)]``), loaded only by an explicit ``load()`` (the engine does it for
      a job it trusts and is about to run). A result that can not be pickled comes back as a
      :class:`~godnb.storage.codec.NotStored` that says why; a job whose arguments can not
      be pickled comes back non-durable, with the reason in its ``LostCallable``.
    * **Error notes.** An attempt interrupted by a dead process is recorded on the job
      (``job.error`` and an ``ErrorInfo`` of type ``"Interrupted"``); the job's stored
      :class:`Result` lists those notes before the engine's own errors.
    * **Time** is passed in (``now=None`` means the current UTC time), so tests need no
      sleeping.

    Example:
        >>> from godnb.storage import MemoryStore
        >>> store = MemoryStore()
        >>> store.add([Job(job_id="a", payload={"task": "math:sqrt", "args": [4]})])
        >>> [job.job_id for job in store.claim("engine-1", limit=10)]
        ['a']
    """

    # -- jobs and results ------------------------------------------------------------

    @abstractmethod
    def add(self, jobs: Sequence[Job], owner: str | None = None) -> None:
        """Insert new jobs, all or none, committed when this returns.

        Raises ValueError (and stores nothing) if a job id is already in the store.
        """

    @abstractmethod
    def update(self, jobs: Sequence[Job] = (), results: Sequence[Outcome] = ()) -> None:
        """Write a batch of state changes in one transaction.

        For each job: status, attempts, progress, error and updated_at (jobs that are
        unknown or already ended are skipped). ``results`` are :class:`Result` objects or
        anything with the same fields (the engine's write-behind passes its job handles,
        see :class:`~godnb.storage.codec.Outcome`); each is stored once. A result whose
        job is in ``jobs`` is stored only if that job's state written here is final,
        each job being read once (:func:`~godnb.storage.codec.encode_batch`): a result
        never goes with an older status of its job, and its status, attempts and finish
        time are those of the job written beside it.
        """

    @abstractmethod
    def get_job(self, job_id: str) -> Job | None:
        """The stored job, or None."""

    @abstractmethod
    def get_result(self, job_id: str) -> Result | None:
        """The stored result, or None while the job has not ended."""

    def get_results(self, job_ids: Sequence[str]) -> dict[str, Result]:
        """The stored results of ``job_ids`` that have one, by job id (for reports).

        This default asks one by one; a store that can answer in bulk overrides it.
        """
        found: dict[str, Result] = {}
        for job_id in job_ids:
            result = self.get_result(job_id)
            if result is not None:
                found[job_id] = result
        return found

    @abstractmethod
    def list_jobs(self, status: JobStatus | str | None = None, limit: int | None = None,
                  newest_first: bool = True) -> list[Job]:
        """Jobs (of one status, or all) in the order they were added, newest first."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """The number of jobs per status value; every status is a key, 0 when none."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of jobs stored."""

    # -- claims and cancellation ----------------------------------------------------

    @abstractmethod
    def claim(self, owner: str, limit: int, can_run: Callable[[str], bool] | None = None
              ) -> list[Job]:
        """Atomically take up to ``limit`` unowned pending jobs for ``owner``.

        Jobs come in dequeue order (priority descending, then the order they were added)
        and stay pending. ``can_run(task)`` gets the task string (a name, a
        ``"module:function"`` path or a callable's reference) and may reject it; rejected
        jobs stay claimable by other engines. No job is ever claimed twice, even by
        engines in different processes.
        """

    @abstractmethod
    def release(self, job_ids: Sequence[str], owner: str, now: datetime | None = None
                ) -> int:
        """Give jobs that ``owner`` holds and that have not ended back as unowned pending.

        A job with a pending cancel request is cancelled instead, since nobody wants it
        run. Returns how many jobs were given back or cancelled.
        """

    @abstractmethod
    def request_cancel(self, job_id: str, now: datetime | None = None) -> JobStatus | None:
        """Ask for a job to be cancelled; returns its status after the request.

        None when there is no such job. An unowned pending job is cancelled at once (with a
        cancelled :class:`Result`) and CANCELLED is returned; an ended job is left alone and
        its status returned; any other job is flagged for its engine (see
        :meth:`cancel_requests`) and its current status returned.
        """

    @abstractmethod
    def cancel_requests(self, owner: str) -> list[str]:
        """Ids of jobs held by ``owner`` whose cancellation was requested."""

    @abstractmethod
    def clear_cancel(self, job_ids: Sequence[str]) -> None:
        """Drop the cancel flags of these jobs (the engine has acted on them)."""

    # -- engines and recovery ---------------------------------------------------------

    @abstractmethod
    def register_engine(self, owner: str, pid: int | None = None, host: str | None = None,
                        now: datetime | None = None) -> None:
        """Record a live engine (pid and host default to this process's)."""

    @abstractmethod
    def heartbeat(self, owner: str, now: datetime | None = None) -> bool:
        """Mark the engine seen; False when it is not registered (e.g. it was declared
        dead by another engine's :meth:`recover` and should register again)."""

    @abstractmethod
    def unregister_engine(self, owner: str) -> None:
        """Forget an engine that shut down."""

    @abstractmethod
    def engines(self) -> list[EngineInfo]:
        """The registered engines, oldest first."""

    @abstractmethod
    def recover(self, owner: str, is_dead: Callable[[EngineInfo], bool] | None = None,
                now: datetime | None = None, *, retry_interrupted: bool = False
                ) -> RecoveryReport:
        """Take back the jobs of dead engines, in one transaction.

        A job that has not ended is recovered when its owner is unregistered or
        ``is_dead(info)`` (default :func:`~godnb.storage.recovery.engine_is_dead`: same
        host and the pid is gone, or no heartbeat for 60 s), or when it is running
        with no owner; ``owner`` itself is never dead. A job whose :class:`Result` is
        stored already ends with that result's status (its engine died between writing
        the result and the status): it is never run again. Pending jobs become unowned
        pending. Running jobs were *interrupted*: with attempts left
        (``attempts < 1 + retries``), or with ``retry_interrupted``, they become unowned
        pending (at-least-once) with an ``"Interrupted"`` note, else failed with that
        error and a failed Result. A job whose cancel was requested is cancelled. Dead
        engines are unregistered. Non-durable jobs are re-queued like the others; the
        engine that claims them decides whether their code can be restored. A recovery
        that changed anything is remembered (see :meth:`recoveries`).
        """

    def recoveries(self, limit: int = 10) -> list[RecoveryRecord]:
        """The last ``limit`` non-empty recoveries, newest first (a store keeps the last
        :data:`~godnb.storage.recovery.KEEP_RECOVERIES`); a store that keeps no history
        returns ``[]``."""
        return []

    # -- lifetime ---------------------------------------------------------------------

    def flush(self) -> None:
        """Push buffered writes to disk."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the store; using it afterwards raises StoreError."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        where: Any = getattr(self, "path", None)
        return f"<{type(self).__name__}{f' {str(where)!r}' if where else ''}>"


def duplicate_ids(ids: Sequence[str], stored: Callable[[Sequence[str]], Sequence[str]]
                  ) -> ValueError | None:
    """The error :meth:`Store.add` raises when ``ids`` repeat or are ``stored`` already."""
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    clash = list(dict.fromkeys([*repeated, *stored(ids)]))
    if not clash:
        return None
    shown = ", ".join(map(repr, clash[:5])) + (" ..." if len(clash) > 5 else "")
    return ValueError(f"job id(s) {shown} are already in the store or repeated in the "
                      f"batch; nothing was added. Every job needs a new id: build a new "
                      f"Job() instead of adding one twice")
