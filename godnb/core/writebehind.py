"""Pieces of the write-behind (:mod:`godnb.core.durability`): the rows of a batch, and
how store failures are logged and backed off."""

from __future__ import annotations

import logging
import time
from typing import Any

from godnb.core.handles import JobHandle
from godnb.models.job import JobStatus
from godnb.storage.base import Store
from godnb.storage.codec import job_update_values, outcome_values

__all__ = ["FIRST_BACKOFF", "MAX_BACKOFF", "FailureStreak", "batch_rows", "time_left"]

log = logging.getLogger("godnb.store")

FIRST_BACKOFF = 0.05  # seconds before the first retry of a failed store operation
MAX_BACKOFF = 2.0  # and at most between two
_ENDED = frozenset(s.value for s in JobStatus if s.is_terminal)


class FailureStreak:
    """Failures of one kind of store operation: logged when a run of them starts and
    when it ends, not on every retry. ``failed`` returns the backoff before the next."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.since = 0.0
        self.error = ""

    def failed(self, store: Store, error: BaseException, jobs: int) -> float:
        self.error = f"{type(error).__name__}: {error}"
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(self.count, 16))
        if self.count == 0:
            self.since = time.monotonic()
            held = f" of {jobs} job(s)" if jobs else ""
            log.warning("store %s: %s%s failed (%s); kept, and retried with backoff until it "
                        "succeeds", store, self.what, held, self.error)
        else:
            log.debug("store %s: %s failed again (attempt %d): %s", store, self.what,
                      self.count + 1, self.error)
        self.count += 1
        return delay

    def ok(self, store: Store) -> None:
        if self.count:
            log.warning("store %s: %s succeeded after %d failed attempt(s) over %.1f s",
                        store, self.what, self.count, time.monotonic() - self.since)
            self.count = 0


def time_left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (a monotonic time), never negative; None for none."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def batch_rows(handles: list[JobHandle]
               ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The job rows of a batch, and the result rows of the jobs that ended.

    Each job is read once: its result row goes with the status its job row holds, never
    with an older one read just before the job ended (a kill -9 would then leave a
    "running" job with a result). Rows are encoded from the live jobs without copying: a
    field that changes meanwhile marks the job dirty again, so the next batch writes its
    newer state; ended jobs no longer change.
    """
    updates = [job_update_values(h.job) for h in handles]
    results = [_outcome_row(h) for h, row in zip(handles, updates, strict=True)
               if row[0] in _ENDED]
    return updates, results


def _outcome_row(h: JobHandle) -> tuple[Any, ...]:
    """The result row of a finished job: what ``h.outcome`` would store, without a Result."""
    job = h.job
    return outcome_values(h.job_id, job.status, h.output, h.errors, h.execution_time,
                          job.attempts, h.cached, job.updated_at)
