"""Stores that keep their rows in dicts under one lock: :class:`MemoryStore`, and the body
that :class:`~godnb.storage.shelve.ShelveStore` persists."""

from __future__ import annotations

import heapq
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from itertools import islice
from operator import itemgetter
from typing import Any

from godnb.errors import StoreError
from godnb.models import Job, JobStatus, Result
from godnb.models.job import utcnow
from godnb.storage.base import Store, duplicate_ids, parse_status, zero_counts
from godnb.storage.codec import (
    RESULT_COLUMNS,
    UPDATE_COLUMNS,
    job_from_row,
    job_row,
    merge_notes,
    result_from_row,
)
from godnb.storage.recovery import (
    ACTIVE,
    KEEP_RECOVERIES,
    Change,
    EngineInfo,
    RecoveryRecord,
    RecoveryReport,
    cancel_change,
    dead_engines,
    engine_is_dead,
    plan_recovery,
    release_change,
)

__all__ = ["MemoryStore", "RecordStore"]

Row = dict[str, Any]
_PENDING = JobStatus.PENDING.value
_status_of = itemgetter("status")


class RecordStore(Store):
    """The :class:`Store` contract over dicts of rows, thread-safe under one lock.

    Subclasses persist through :meth:`_saved`, which is called under the lock with the
    keys of every row that changed.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._jobs: dict[str, Row] = {}  # insertion order is the order jobs were added
        self._results: dict[str, Row] = {}
        self._engines: dict[str, EngineInfo] = {}
        # Claimable jobs as heaps of (-priority, seq, job_id), the dequeue order, one heap
        # per task so that can_run is asked once per task, not once per job. Entries go
        # stale when a job is claimed or ends; claim() drops those as it meets them.
        self._queues: dict[str, list[tuple[int, int, str]]] = {}
        self._flagged: set[str] = set()  # jobs with cancel_requested, for fast polling
        self._recoveries: list[RecoveryRecord] = []  # oldest first
        self._seq = 0
        self._closed = False

    def _saved(self, jobs: Iterable[str] = (), results: Iterable[str] = (),
               engines: bool = False, recoveries: bool = False) -> None:
        """Rows changed (called under the lock, once per call that changed anything, at
        its end); the memory store has nothing to do."""

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise StoreError(f"{self!r} is closed; open a new store to use it again")
            yield

    def _load(self, jobs: Iterable[Row], results: dict[str, Row],
              engines: dict[str, EngineInfo], recoveries: Iterable[RecoveryRecord] = ()
              ) -> None:
        """Adopt rows read from disk."""
        self._recoveries = list(recoveries)
        for row in sorted(jobs, key=lambda r: r["seq"]):
            self._jobs[row["job_id"]] = row
            self._enqueue(row)
            if row["cancel_requested"]:
                self._flagged.add(row["job_id"])
        self._seq = max((r["seq"] for r in self._jobs.values()), default=0)
        self._results = results
        self._engines = engines

    def _enqueue(self, row: Row) -> None:
        if row["status"] == _PENDING and row["owner"] is None:
            queue = self._queues.setdefault(row["task"], [])
            heapq.heappush(queue, (-row["priority"], row["seq"], row["job_id"]))

    def _head(self, queue: list[tuple[int, int, str]]) -> tuple[int, int, str] | None:
        """The first entry of ``queue`` that is still claimable (stale ones are dropped)."""
        while queue:
            row = self._jobs[queue[0][2]]
            if row["status"] == _PENDING and row["owner"] is None:
                return queue[0]
            heapq.heappop(queue)
        return None

    def _apply(self, changes: Sequence[Change]) -> list[str]:
        """Apply ``changes``; returns the ids of the results stored. The caller reports
        them with the changed jobs in its one :meth:`_saved` call."""
        stored = []
        for change in changes:
            row = self._jobs[change.job_id]
            row.update(change.values)
            self._enqueue(row)
            if not row["cancel_requested"]:
                self._flagged.discard(change.job_id)
            if change.result is not None and change.job_id not in self._results:
                self._results[change.job_id] = change.result
                stored.append(change.job_id)
        return stored

    # -- jobs and results ------------------------------------------------------------

    def add(self, jobs: Sequence[Job], owner: str | None = None) -> None:
        rows = [job_row(job, owner) for job in jobs]
        with self._locked():
            error = duplicate_ids([r["job_id"] for r in rows],
                                  lambda ids: [i for i in ids if i in self._jobs])
            if error is not None:
                raise error
            for row in rows:
                self._seq += 1
                row["seq"] = self._seq
                self._jobs[row["job_id"]] = row
                self._enqueue(row)
            self._saved(jobs=[r["job_id"] for r in rows])

    def update_rows(self, updates: Sequence[tuple[Any, ...]],
                    results: Sequence[tuple[Any, ...]]) -> None:
        if not (updates or results):
            return
        changes = [dict(zip(UPDATE_COLUMNS, values, strict=True)) for values in updates]
        result_rows = [dict(zip(RESULT_COLUMNS, values, strict=True)) for values in results]
        with self._locked():
            changed = []
            for values in changes:
                row = self._jobs.get(values["job_id"])
                if row is not None and row["status"] in ACTIVE:
                    was = row["status"]
                    row.update(values)
                    changed.append(row["job_id"])
                    if was != _PENDING:
                        self._enqueue(row)  # an unowned job back to pending is claimable
            stored = []
            for result in result_rows:
                job_id = result["job_id"]
                if job_id in self._results:
                    continue
                row = self._jobs.get(job_id)
                if row is not None and row["notes"]:
                    result["errors"] = merge_notes(result["errors"], row["notes"])
                self._results[job_id] = result
                stored.append(job_id)
            self._saved(jobs=changed, results=stored)

    def get_job(self, job_id: str) -> Job | None:
        with self._locked():
            row = self._jobs.get(job_id)
            row = None if row is None else dict(row)
        return None if row is None else job_from_row(row)

    def get_result(self, job_id: str) -> Result | None:
        with self._locked():
            row = self._results.get(job_id)
        return None if row is None else result_from_row(row)  # result rows never change

    def list_jobs(self, status: JobStatus | str | None = None, limit: int | None = None,
                  newest_first: bool = True) -> list[Job]:
        wanted = parse_status(status)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        with self._locked():
            rows: Iterable[Row] = self._jobs.values()
            if newest_first:
                rows = reversed(self._jobs.values())
            if wanted is not None:
                rows = (r for r in rows if r["status"] == wanted.value)
            picked = [dict(r) for r in islice(rows, limit)]
        return [job_from_row(r) for r in picked]

    def counts(self) -> dict[str, int]:
        with self._locked():
            found = Counter(map(_status_of, self._jobs.values()))
        return zero_counts() | found

    def __len__(self) -> int:
        with self._locked():
            return len(self._jobs)

    # -- claims and cancellation ----------------------------------------------------

    def claim(self, owner: str, limit: int, can_run: Callable[[str], bool] | None = None
              ) -> list[Job]:
        taken: list[Row] = []
        if limit <= 0:
            return []
        with self._locked():
            queues = []
            for task, queue in list(self._queues.items()):
                if self._head(queue) is None:
                    del self._queues[task]
                elif can_run is None or can_run(task):
                    queues.append(queue)
            while queues and len(taken) < limit:
                # A k-way merge by hand: k (distinct tasks) is small.
                best = min(range(len(queues)), key=lambda i: queues[i][0])
                row = self._jobs[heapq.heappop(queues[best])[2]]
                row["owner"] = owner
                taken.append(dict(row))
                if self._head(queues[best]) is None:
                    del queues[best]
            self._saved(jobs=[r["job_id"] for r in taken])
        return [job_from_row(r) for r in taken]

    def release(self, job_ids: Sequence[str], owner: str, now: datetime | None = None
                ) -> int:
        now = now or utcnow()
        with self._locked():
            rows = [self._jobs.get(i) for i in dict.fromkeys(job_ids)]
            changes = [release_change(r, now) for r in rows
                       if r is not None and r["owner"] == owner and r["status"] in ACTIVE]
            stored = self._apply(changes)
            self._saved(jobs=[c.job_id for c in changes], results=stored)
        return len(changes)

    def request_cancel(self, job_id: str, now: datetime | None = None) -> JobStatus | None:
        with self._locked():
            row = self._jobs.get(job_id)
            if row is None:
                return None
            status = JobStatus(row["status"])
            if status.is_terminal:
                return status
            if status is JobStatus.PENDING and row["owner"] is None:
                self._saved(jobs=[job_id],
                            results=self._apply([cancel_change(row, now or utcnow())]))
                return JobStatus.CANCELLED
            row["cancel_requested"] = 1
            self._flagged.add(job_id)
            self._saved(jobs=[job_id])
            return status

    def cancel_requests(self, owner: str) -> list[str]:
        with self._locked():
            return [i for i in self._flagged
                    if self._jobs[i]["owner"] == owner and self._jobs[i]["status"] in ACTIVE]

    def clear_cancel(self, job_ids: Sequence[str]) -> None:
        with self._locked():
            cleared = []
            for job_id in job_ids:
                row = self._jobs.get(job_id)
                if row is not None and row["cancel_requested"]:
                    row["cancel_requested"] = 0
                    self._flagged.discard(job_id)
                    cleared.append(job_id)
            self._saved(jobs=cleared)

    # -- engines and recovery ---------------------------------------------------------

    def register_engine(self, owner: str, pid: int | None = None, host: str | None = None,
                        now: datetime | None = None) -> None:
        now = now or utcnow()
        info = EngineInfo(owner, os.getpid() if pid is None else pid,
                          host or socket.gethostname(), now, now)
        with self._locked():
            self._engines[owner] = info
            self._saved(engines=True)

    def heartbeat(self, owner: str, now: datetime | None = None) -> bool:
        with self._locked():
            info = self._engines.get(owner)
            if info is None:
                return False
            self._engines[owner] = replace(info, last_seen=now or utcnow())
            self._saved(engines=True)
            return True

    def unregister_engine(self, owner: str) -> None:
        with self._locked():
            if self._engines.pop(owner, None) is not None:
                self._saved(engines=True)

    def engines(self) -> list[EngineInfo]:
        with self._locked():
            return sorted(self._engines.values(), key=lambda e: (e.started_at, e.owner))

    def recover(self, owner: str, is_dead: Callable[[EngineInfo], bool] | None = None,
                now: datetime | None = None, *, retry_interrupted: bool = False
                ) -> RecoveryReport:
        now = now or utcnow()
        is_dead = is_dead or partial(engine_is_dead, now=now)
        with self._locked():
            dead = dead_engines(self._engines, owner, is_dead)
            rows = [r for r in self._jobs.values() if r["status"] in ACTIVE]
            results = self._results
            ended = {r["job_id"]: results[r["job_id"]]["status"] for r in rows
                     if r["job_id"] in results}
            changes, report = plan_recovery(rows, self._engines, owner, dead, now,
                                            retry_interrupted=retry_interrupted, ended=ended)
            stored = self._apply(changes)
            for gone in dead:
                del self._engines[gone]
            if report:
                self._recoveries.append(RecoveryRecord.of(report, owner, dead, now))
                del self._recoveries[:-KEEP_RECOVERIES]
            self._saved(jobs=[c.job_id for c in changes], results=stored,
                        engines=bool(dead), recoveries=bool(report))
        return report

    def recoveries(self, limit: int = 10) -> list[RecoveryRecord]:
        with self._locked():
            return self._recoveries[::-1][:limit]

    def close(self) -> None:
        with self._lock:
            self._closed = True


class MemoryStore(RecordStore, name="memory"):
    """A :class:`Store` in this process's memory: thread-safe, gone when the process ends.

    For tests and for engines that need no durability. It keeps the same contract as the
    file stores, encoding included: jobs read back are copies, and a live callable comes
    back as a :class:`~godnb.storage.codec.LostCallable`.

    Example:
        >>> store = MemoryStore()
        >>> store.add([Job(payload={"task": "math:sqrt", "args": [4]})])
        >>> store.counts()["pending"]
        1
    """
