"""Engine liveness and the rules for taking back a dead engine's jobs.

These are pure functions over job rows (see :mod:`godnb.storage.codec`), shared by every
store so that cancel, release and recovery mean exactly the same thing in each.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from godnb.models import ErrorInfo, JobStatus, Result
from godnb.models.job import utcnow
from godnb.storage.codec import note_json, result_row, to_us
from godnb.utils.formatting import format_count

__all__ = [
    "ACTIVE",
    "KEEP_RECOVERIES",
    "STALE_AFTER",
    "Change",
    "EngineInfo",
    "RecoveryRecord",
    "RecoveryReport",
    "cancel_change",
    "dead_engines",
    "engine_is_dead",
    "plan_recovery",
    "release_change",
]

#: Seconds without a heartbeat after which an engine counts as dead.
STALE_AFTER = 60.0
#: Status values of jobs that have not ended.
ACTIVE = (JobStatus.PENDING.value, JobStatus.RUNNING.value)
#: How many :class:`RecoveryRecord` a store keeps (the oldest go first).
KEEP_RECOVERIES = 100


@dataclass(frozen=True)
class EngineInfo:
    """One engine registered on a store: who it is, where it runs, when it was last seen."""

    owner: str
    pid: int
    host: str
    started_at: datetime
    last_seen: datetime


@dataclass(frozen=True)
class RecoveryReport:
    """What :meth:`Store.recover` did.

    ``requeued``: jobs given back as unowned pending (``interrupted`` of them, with those
    in ``failed``, were running); ``failed``: interrupted jobs with no retries left;
    ``cancelled``: jobs whose cancel was requested before their engine died;
    ``completed``: jobs left active whose result was stored already (the engine died
    between writing the result and the status), ended from that result, not run again.
    """

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    interrupted: int = 0
    cancelled: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.cancelled or self.completed)

    def __str__(self) -> str:
        n = format_count
        done = f", completed {n(len(self.completed))} from their stored result" \
            if self.completed else ""
        return (f"recovered {n(len(self.requeued))} job(s) ({n(self.interrupted)} "
                f"interrupted), failed {n(len(self.failed))}, cancelled "
                f"{n(len(self.cancelled))}{done}")


@dataclass(frozen=True)
class RecoveryRecord:
    """One non-empty :meth:`Store.recover` as the store remembers it (``godnb status``).

    ``owner`` is the engine that recovered, ``dead`` the engines it found dead; the
    counts are those of its :class:`RecoveryReport`.
    """

    at: datetime
    owner: str
    dead: tuple[str, ...]
    requeued: int
    interrupted: int
    failed: int
    cancelled: int
    completed: int

    @classmethod
    def of(cls, report: RecoveryReport, owner: str, dead: Iterable[str], at: datetime
           ) -> RecoveryRecord:
        return cls(at, owner, tuple(sorted(dead)), len(report.requeued), report.interrupted,
                   len(report.failed), len(report.cancelled), len(report.completed))

    def __str__(self) -> str:
        n = format_count
        done = f", {n(self.completed)} completed from their result" if self.completed else ""
        return (f"{n(self.requeued)} re-queued ({n(self.interrupted)} interrupted), "
                f"{n(self.failed)} failed, {n(self.cancelled)} cancelled{done}")


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or os.name == "nt":
        return True  # can not check: os.kill on Windows would terminate the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just someone else's
    except OSError:
        return False
    return True


def engine_is_dead(info: EngineInfo, *, now: datetime | None = None,
                   stale_after: float = STALE_AFTER, host: str | None = None) -> bool:
    """The default liveness rule of :meth:`Store.recover`.

    Dead when its heartbeat is older than ``stale_after`` seconds, or when it ran on this
    host (``host``, default :func:`socket.gethostname`) and its pid no longer exists.
    """
    now = now or utcnow()
    if (now - info.last_seen).total_seconds() > stale_after:
        return True
    if info.host == (host or socket.gethostname()):
        return not _pid_alive(info.pid)
    return False


@dataclass
class Change:
    """New values for one job row (the columns in :data:`FIELDS`), maybe with a result."""

    FIELDS = ("status", "owner", "error", "notes", "cancel_requested", "updated_at")

    values: dict[str, Any]
    result: dict[str, Any] | None = None

    @property
    def job_id(self) -> str:
        return str(self.values["job_id"])


def _change(row: Mapping[str, Any], now: datetime, **new: Any) -> Change:
    values = {k: row[k] for k in ("job_id", *Change.FIELDS)}
    values.update(new, updated_at=to_us(now))
    return Change(values)


def cancel_change(row: Mapping[str, Any], now: datetime) -> Change:
    """Cancel a job that no engine is running, with a cancelled :class:`Result`."""
    change = _change(row, now, status=JobStatus.CANCELLED.value, cancel_requested=0)
    result = Result(job_id=row["job_id"], status=JobStatus.CANCELLED,
                    attempts=row["attempts"], finished_at=now)
    change.result = result_row(result, row["notes"])
    return change


def release_change(row: Mapping[str, Any], now: datetime) -> Change:
    """Give a job back as unowned pending; one whose cancel was asked for is cancelled."""
    if row["cancel_requested"]:
        return cancel_change(row, now)
    return _change(row, now, status=JobStatus.PENDING.value, owner=None)


def _interrupted(row: Mapping[str, Any], who: str, now: datetime, retry_all: bool
                 ) -> Change:
    attempt = row["attempts"]
    allowed = 1 + row["retries"]
    retry = attempt < allowed or retry_all
    then = "it was re-queued to run again" if attempt < allowed else \
        "it was re-queued to run again (retry_interrupted=True)" if retry else \
        "it has no retries left"
    note = ErrorInfo(
        type="Interrupted", attempt=attempt, at=now,
        message=f"the process running this job died ({who}) during attempt {attempt} of "
                f"{allowed}; {then}",
    )
    notes = note_json(row["notes"], note)
    if retry:
        return _change(row, now, status=JobStatus.PENDING.value, owner=None,
                       error=str(note), notes=notes)
    change = _change(row, now, status=JobStatus.FAILED.value, error=str(note), notes=notes)
    result = Result(job_id=row["job_id"], status=JobStatus.FAILED, attempts=attempt,
                    finished_at=now)
    change.result = result_row(result, notes)
    return change


def _who(owner: str | None, engines: Mapping[str, EngineInfo]) -> str:
    if owner is None:
        return "no engine owned it"
    info = engines.get(owner)
    if info is None:
        return f"engine {owner}, no longer registered"
    return f"engine {owner}, pid {info.pid} on {info.host}"


def dead_engines(engines: Mapping[str, EngineInfo], owner: str,
                 is_dead: Callable[[EngineInfo], bool]) -> set[str]:
    """The registered engines other than ``owner`` that ``is_dead`` says are dead."""
    return {o for o, info in engines.items() if o != owner and is_dead(info)}


def plan_recovery(
    rows: Iterable[Mapping[str, Any]], engines: Mapping[str, EngineInfo], owner: str,
    dead: set[str], now: datetime, *, retry_interrupted: bool = False,
    ended: Mapping[str, str] | None = None,
) -> tuple[list[Change], RecoveryReport]:
    """Decide what happens to each active job row whose engine is gone.

    ``dead`` is from :func:`dead_engines`; rows of ``owner`` and of live engines are
    left alone, so a store may pass every active row or only the likely ones. ``ended``
    maps the ids of those rows that have a stored result to that result's status: such
    a job finished (its status write was lost), so it ends with that status and is never
    run again. ``retry_interrupted`` re-queues interrupted jobs that have no retries
    left instead of failing them (for idempotent work).
    """
    changes: list[Change] = []
    report = RecoveryReport()
    interrupted = 0
    ended = ended or {}
    for row in rows:
        held_by = row["owner"]
        if held_by == owner or (held_by in engines and held_by not in dead):
            continue
        running = row["status"] == JobStatus.RUNNING.value
        if held_by is None and not running:
            continue  # already claimable: nothing to recover
        if row["job_id"] in ended:
            change = _change(row, now, status=ended[row["job_id"]], cancel_requested=0)
            report.completed.append(change.job_id)
        elif row["cancel_requested"]:
            change = cancel_change(row, now)
            report.cancelled.append(change.job_id)
        elif running:
            interrupted += 1
            change = _interrupted(row, _who(held_by, engines), now, retry_interrupted)
            done = report.failed if change.result else report.requeued
            done.append(change.job_id)
        else:
            change = _change(row, now, owner=None)
            report.requeued.append(change.job_id)
        changes.append(change)
    report = RecoveryReport(report.requeued, report.failed, interrupted, report.cancelled,
                            report.completed)
    return changes, report
