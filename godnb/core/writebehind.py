"""Pieces of the write-behind (:mod:`godnb.core.durability`): how store failures are
logged and backed off."""

from __future__ import annotations

import logging
import time

from godnb.storage.base import Store

__all__ = ["FIRST_BACKOFF", "MAX_BACKOFF", "FailureStreak", "time_left"]

log = logging.getLogger("godnb.store")

FIRST_BACKOFF = 0.05  # seconds before the first retry of a failed store operation
MAX_BACKOFF = 2.0  # and at most between two


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
