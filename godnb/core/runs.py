"""Which submitted jobs replace or share others: keyed runs and single flight.

* **Keyed runs.** ``submit(..., key="sweep")`` (and ``map``, ``.key()``, ``%%god submit
  --key``): a new run with a key cancels the unfinished jobs of the previous run with that
  key, so re-running a notebook cell replaces its work instead of doubling it ("the
  latest run wins"). The replaced jobs end cancelled with the reason
  ``"replaced by job X (key 'sweep')"``.
* **Single flight.** ``cache=True``: a job identical (same cache key) to one still pending
  or running does not run; it follows that *leader* and ends with its outcome.

Both live in memory, per engine, and cost nothing unless a key or ``cache=True`` is given.
"""

from __future__ import annotations

from collections.abc import Callable

from godnb.core.handles import JobHandle

__all__ = ["InFlight", "KeyedRuns"]


class KeyedRuns:
    """The latest run of each key; replacing one cancels what it left unfinished."""

    def __init__(self) -> None:
        self.latest: dict[str, list[JobHandle]] = {}

    def replace(self, key: str, handles: list[JobHandle],
                cancel: Callable[[str, str], bool]) -> int:
        """Make ``handles`` the latest run of ``key``; ``cancel(job_id, reason)`` each
        unfinished job of the previous one. Returns how many were cancelled."""
        previous = self.latest.get(key)
        self.latest[key] = handles
        if not previous or not handles:
            return 0
        reason = f"replaced by job {handles[0].job_id} (key {key!r})"
        return sum(1 for h in previous if not h.finished and cancel(h.job_id, reason))


class InFlight:
    """The job computing each cache key right now (the leader identical jobs follow).

    Read and written without a lock: a leader that ends meanwhile at worst leaves a later
    identical job to run itself, or hands its outcome to a follower at once (its done
    callback runs immediately on a job that has ended).
    """

    def __init__(self) -> None:
        self.leaders: dict[str, JobHandle] = {}

    def leader(self, cache_key: str, key: str | None) -> JobHandle | None:
        """The unfinished job computing ``cache_key``, unless it belongs to the run ``key``
        replaces (it is about to be cancelled)."""
        leader = self.leaders.get(cache_key)
        if leader is None or leader.finished or (key is not None and leader.key == key):
            return None
        return leader

    def lead(self, cache_key: str, handle: JobHandle) -> None:
        self.leaders[cache_key] = handle

    def ended(self, handle: JobHandle) -> None:
        """``handle`` ended: it leads nothing any more."""
        cache_key = handle.cache_key
        if cache_key is not None and self.leaders.get(cache_key) is handle:
            del self.leaders[cache_key]
