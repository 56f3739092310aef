"""A thread-safe priority scheduler, fair across groups.

Higher ``priority`` runs first. Among jobs of equal priority the scheduler takes turns
between groups (a group is the submitter: a user, a notebook, a tenant), so one group's
10,000 jobs do not delay another group's 10. Within a group, jobs come out in the order
they went in.

Layout: a heap of the priority levels that hold jobs; per level, a deque of jobs per group
and a rotation of the groups that have jobs. ``submit`` and ``next_job`` are O(1) plus
O(log L) for L distinct priority levels. ``cancel`` is amortized O(1): the job leaves the
index at once and its queue slot is skipped when it reaches the front (lazy deletion).
Cancelled slots never pile up: once they outnumber the queued jobs (and a few thousand),
the queues are rebuilt without them, and ``top(n)`` drops those it walks past, so it
costs O(n) however many jobs were cancelled (it walked every cancelled slot before: 0.6 s
with 200k cancelled, under the engine's lock).

There is no aging: a steady stream of high-priority work can starve lower priorities, as in
Huey and Celery. Submit at equal priority with distinct groups when fairness matters.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Schedulable", "Scheduler"]

log = logging.getLogger("godnb.scheduler")

# Cancelled slots kept at most (beyond as many as there are queued jobs) before the queues
# are rebuilt without them. A rebuild walks every slot, so it waits until the cancelled
# ones are at least half: each cancel pays for O(1) of it.
_COMPACT_MIN = 4096
# top(n) rebuilds the part of a queue it walked when it found at least this many cancelled
# slots there (fewer cost less to skip again than to drop).
_TRIM_MIN = 32


class Schedulable(Protocol):
    """What the scheduler needs of a job."""

    job_id: str
    priority: int
    group: str


J = TypeVar("J", bound=Schedulable)


class _Level(Generic[J]):
    """The jobs of one priority: a FIFO per group and a rotation of non-empty groups."""

    __slots__ = ("groups", "rotation")

    def __init__(self) -> None:
        self.groups: dict[str, deque[J]] = {}
        self.rotation: deque[str] = deque()


class Scheduler(Generic[J]):
    """Priority queue with round-robin between groups of equal priority.

    Example:
        >>> from godnb.models import Job
        >>> s = Scheduler()
        >>> s.submit(Job(payload={"task": "math:sqrt", "args": [4]}, priority=5))
        >>> s.next_job().priority
        5
        >>> s.next_job() is None
        True
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 lock: threading.Lock | threading.RLock | None = None) -> None:
        """``lock``: share an owner's lock (the engine passes its own, so popping a job and
        marking it running is one critical section); a private Lock by default."""
        self._clock = clock
        self._lock = lock if lock is not None else threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._wakes = 0  # bumped by wake(): a waiter that sees it change gives up
        self._levels: dict[int, _Level[J]] = {}
        self._heap: list[int] = []  # negated priorities of the levels in _levels
        self._index: dict[str, J] = {}  # live jobs by id; a queue slot is live iff indexed
        self._stale = 0  # queue slots of cancelled jobs not yet dropped
        self._debug = log.isEnabledFor(logging.DEBUG)

    # -- writing ---------------------------------------------------------------------
    def submit(self, job: J) -> None:
        """Queue ``job``. A job id already queued raises ValueError."""
        with self._lock:
            self._push(job)
            self._ready.notify()
        if self._debug:
            log.debug("submit %s priority=%s group=%s", job.job_id, job.priority, job.group)

    def submit_many(self, jobs: list[J]) -> None:
        """Queue several jobs under one lock acquisition."""
        with self._lock:
            for job in jobs:
                self._push(job)
            self._ready.notify(len(jobs))

    def _push(self, job: J) -> None:
        if job.job_id in self._index:
            raise ValueError(f"job {job.job_id} is already queued; submit each job once")
        self._index[job.job_id] = job
        level = self._levels.get(job.priority)
        if level is None:
            level = self._levels[job.priority] = _Level()
            heapq.heappush(self._heap, -job.priority)
        queue = level.groups.get(job.group)
        if queue is None:
            queue = level.groups[job.group] = deque()
            level.rotation.append(job.group)
        queue.append(job)

    def cancel(self, job_id: str) -> bool:
        """Remove a queued job. True if it was queued, False if not (ran, or unknown)."""
        with self._lock:
            found = self._index.pop(job_id, None) is not None
            if found:
                self._stale += 1
                if self._stale > _COMPACT_MIN and self._stale > len(self._index):
                    self._compact()
        if self._debug:
            log.debug("cancel %s found=%s", job_id, found)
        return found

    # -- reading ---------------------------------------------------------------------
    def next_job(self, timeout: float | None = None) -> J | None:
        """Remove and return the next job; None when empty.

        With ``timeout`` > 0, waits up to that many seconds for a job to arrive.
        """
        with self._lock:
            job = self.pop()
            if job is None and timeout:
                deadline = self._clock() + timeout
                wakes = self._wakes
                while job is None and wakes == self._wakes:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        break
                    self._ready.wait(remaining)
                    job = self.pop()
        if job is not None and self._debug:
            log.debug("next %s priority=%s group=%s", job.job_id, job.priority, job.group)
        return job

    def take(self, limit: int) -> list[J]:
        """Remove and return up to ``limit`` jobs in scheduling order, without waiting."""
        out: list[J] = []
        with self._lock:
            while len(out) < limit:
                job = self.pop()
                if job is None:
                    break
                out.append(job)
        return out

    def peek(self) -> J | None:
        """The job ``next_job()`` would return, without removing it."""
        with self._lock:
            return self._front(remove=False)

    def top_priority(self) -> int | None:
        """The highest queued priority, read without the lock (a hint, may be stale)."""
        heap = self._heap
        try:
            return -heap[0]
        except IndexError:
            return None

    def size(self) -> int:
        """How many jobs are queued (cancelled ones excluded)."""
        return len(self._index)

    __len__ = size

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._index

    def get(self, job_id: str) -> J | None:
        """The queued job with this id, or None."""
        return self._index.get(job_id)

    def jobs(self) -> list[J]:
        """A snapshot of the queued jobs (unordered)."""
        with self._lock:
            return list(self._index.values())

    def top(self, n: int) -> list[J]:
        """The first ``n`` jobs in priority order (groups interleaved approximately).

        O(n) amortized: cancelled slots it walks past are dropped (see the module notes).
        """
        with self._lock:
            out: list[J] = []
            for neg in sorted(self._heap):
                if len(out) >= n:
                    break
                out.extend(self._level_top(self._levels[neg * -1], n - len(out)))
            return out

    def wake(self) -> None:
        """Wake every thread blocked in ``next_job`` (they return None if still empty)."""
        with self._lock:
            self._wakes += 1
            self._ready.notify_all()

    def pop(self) -> J | None:
        """Remove and return the next job, or None; for callers that hold the lock already
        (the runtime's, shared), so it neither locks nor waits."""
        return self._front(remove=True)

    # -- internals -------------------------------------------------------------------

    def _front(self, remove: bool) -> J | None:
        index = self._index
        while self._heap:
            priority = -self._heap[0]
            level = self._levels[priority]
            while level.rotation:
                group = level.rotation[0]
                queue = level.groups[group]
                while queue and index.get(queue[0].job_id) is not queue[0]:
                    queue.popleft()  # a cancelled job's slot
                    self._stale -= 1
                if not queue:
                    level.rotation.popleft()
                    del level.groups[group]
                    continue
                if not remove:
                    return queue[0]
                job = queue.popleft()
                del index[job.job_id]
                level.rotation.rotate(-1)  # this group goes to the back of the line
                if not queue:
                    level.rotation.pop()
                    del level.groups[group]
                return job
            heapq.heappop(self._heap)
            del self._levels[priority]
        return None

    def _level_top(self, level: _Level[J], n: int) -> list[J]:
        """Up to ``n`` queued jobs of one level, a job of each group in turn.

        Walks each group's queue only as far as it takes from it, and drops the cancelled
        slots of a walked stretch that held many (so the next call does not walk them).
        """
        index = self._index
        walks = [_Walk(level.groups[g]) for g in level.rotation]
        out: list[J] = []
        turn = walks
        while turn and len(out) < n:
            still = []
            for walk in turn:
                job = walk.next_live(index)
                if job is not None:
                    out.append(job)
                    still.append(walk)
                    if len(out) >= n:
                        break
            turn = still
        for walk in walks:
            if walk.stale >= _TRIM_MIN:
                walk.drop_stale()
                self._stale -= walk.stale
        return out

    def _compact(self) -> None:
        """Rebuild every queue without the slots of cancelled jobs (lock held)."""
        index = self._index
        for priority in list(self._levels):
            level = self._levels[priority]
            for group in list(level.rotation):
                kept = deque(job for job in level.groups[group]
                             if index.get(job.job_id) is job)
                if kept:
                    level.groups[group] = kept
                else:
                    del level.groups[group]
            level.rotation = deque(g for g in level.rotation if g in level.groups)
            if not level.rotation:
                del self._levels[priority]
        self._heap = [-p for p in self._levels]
        heapq.heapify(self._heap)
        self._stale = 0


class _Walk(Generic[J]):
    """A walk along one group's queue for :meth:`Scheduler.top`, counting what it skips."""

    __slots__ = ("items", "live", "queue", "stale", "walked")

    def __init__(self, queue: deque[J]) -> None:
        self.queue = queue
        self.items = iter(queue)
        self.live: list[J] = []  # the queued jobs walked, in order
        self.walked = 0  # slots walked, live or not
        self.stale = 0   # of which cancelled

    def next_live(self, index: dict[str, J]) -> J | None:
        for job in self.items:
            self.walked += 1
            if index.get(job.job_id) is job:
                self.live.append(job)
                return job
            self.stale += 1
        return None

    def drop_stale(self) -> None:
        """Take the walked stretch off the queue and put back its live jobs, in order."""
        queue = self.queue
        for _ in range(self.walked):
            queue.popleft()
        queue.extendleft(reversed(self.live))
