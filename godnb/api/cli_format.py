"""Pure text formatters for the CLI: every command's output is one of these, from data.

Nothing here reads a store, a clock or a terminal: callers pass the jobs, the counts,
``now`` and the ``width``, so each formatter is tested as a string.

Example:
    >>> format_counts({"pending": 2, "running": 1, "completed": 5, "failed": 0,
    ...                "cancelled": 0})
    'pending 2  running 1  completed 5  failed 0  cancelled 0'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from godnb.models import Job, JobStatus, Result
from godnb.models.job import task_reference
from godnb.storage.recovery import EngineInfo
from godnb.utils.formatting import format_count, format_percent, format_rate

__all__ = [
    "MonitorSnapshot",
    "engine_dict",
    "format_age",
    "format_bar",
    "format_counts",
    "format_job",
    "format_jobs",
    "format_monitor",
    "format_result",
    "format_status",
    "job_dict",
    "result_dict",
    "to_json",
]

_STATUSES = tuple(s.value for s in JobStatus)


# -- JSON ----------------------------------------------------------------------------------
def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)  # a pickled output or argument: show it rather than fail


def to_json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON; datetimes in ISO 8601, anything else JSON can not hold as repr.

    Example:
        >>> to_json({"n": 1, "s": {2}})
        '{"n": 1, "s": [2]}'
    """
    return json.dumps(value, default=_default, indent=indent, ensure_ascii=False)


def _task_text(job: Job) -> str:
    task = job.task
    return task if isinstance(task, str) else task_reference(task)


def job_dict(job: Job) -> dict[str, Any]:
    """A job as plain JSON-ready data (a stored callable shows as its reference)."""
    return {
        "job_id": job.job_id, "name": job.task_name, "task": _task_text(job),
        "args": job.payload["args"], "kwargs": job.payload["kwargs"],
        "status": job.status.value, "priority": job.priority, "group": job.group,
        "retries": job.retries, "timeout": job.timeout, "backend": job.backend,
        "attempts": job.attempts, "tags": list(job.tags),
        "progress": None if job.progress is None else job.progress.model_dump(),
        "error": job.error, "created_at": job.created_at, "updated_at": job.updated_at,
    }


def result_dict(result: Result) -> dict[str, Any]:
    """A result as plain JSON-ready data."""
    return {
        "job_id": result.job_id, "status": result.status.value, "output": result.output,
        "errors": [e.model_dump() for e in result.errors],
        "execution_time": result.execution_time, "attempts": result.attempts,
        "cached": result.cached, "finished_at": result.finished_at,
    }


def engine_dict(info: EngineInfo) -> dict[str, Any]:
    """An engine registered on a store, as plain data."""
    return {"owner": info.owner, "pid": info.pid, "host": info.host,
            "started_at": info.started_at, "last_seen": info.last_seen}


# -- small pieces ----------------------------------------------------------------------------
def format_age(seconds: float) -> str:
    """A short duration: ``0.4s``, ``12s``, ``3m05s``, ``2h10m``, ``3d04h``.

    Example:
        >>> [format_age(s) for s in (0.42, 12, 185, 7800, 273600)]
        ['0.4s', '12s', '3m05s', '2h10m', '3d04h']
    """
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _since(moment: datetime, now: datetime) -> str:
    return format_age((now - moment).total_seconds())


def _fit(text: str, width: int, ascii: bool = False) -> str:
    """``text`` cut to ``width`` characters, marking the cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    mark = "~" if ascii else "…"
    return text[: width - 1] + mark


def format_bar(fraction: float | None, width: int, ascii: bool = False) -> str:
    """A bar ``width`` characters wide; an unknown fraction draws an empty bar.

    Example:
        >>> format_bar(0.5, 10, ascii=True)
        '#####.....'
    """
    if width <= 0:
        return ""
    full, empty = ("#", ".") if ascii else ("█", "░")
    frac = 0.0 if fraction is None else max(0.0, min(1.0, fraction))
    filled = int(frac * width + 1e-9)
    return full * filled + empty * (width - filled)


def format_counts(counts: Mapping[str, int]) -> str:
    """Counts by status, in life order, on one line (thousands separated)."""
    return "  ".join(f"{s} {format_count(counts.get(s, 0))}" for s in _STATUSES)


def _progress_text(job: Job) -> str:
    p = job.progress
    if p is None:
        return ""
    parts = []
    if p.fraction is not None:
        parts.append(format_percent(p.fraction))
    parts.append(format_count(p.done) + (f"/{format_count(p.total)}" if p.total else ""))
    if p.message:
        parts.append(p.message)
    return " ".join(parts)


# -- status, list, result --------------------------------------------------------------------
def format_status(counts: Mapping[str, int], engines: Sequence[EngineInfo], db: str,
                  now: datetime) -> str:
    """``godnb status``: counts by status and the engines registered on the store."""
    total = sum(counts.get(s, 0) for s in _STATUSES)
    lines = [f"db       {db}", f"jobs     {total}: {format_counts(counts)}",
             f"engines  {len(engines)}"]
    for e in engines:
        lines.append(f"  {e.owner}  pid {e.pid} on {e.host}  up {_since(e.started_at, now)}"
                     f"  seen {_since(e.last_seen, now)} ago")
    return "\n".join(lines)


def format_job(job: Job, result: Result | None, now: datetime) -> str:
    """``godnb status JOB``: one job's fields, one per line."""
    rows: list[tuple[str, Any]] = [
        ("job", job.job_id), ("name", job.task_name), ("task", _task_text(job)),
        ("status", job.status.value), ("priority", job.priority), ("group", job.group),
        ("attempts", f"{job.attempts} of {1 + job.retries}"),
    ]
    args, kwargs = job.payload["args"], job.payload["kwargs"]
    if args or kwargs:
        rows.append(("args", to_json(args) + (f" {to_json(kwargs)}" if kwargs else "")))
    if job.timeout is not None:
        rows.append(("timeout", f"{job.timeout:g} s"))
    if job.backend:
        rows.append(("backend", job.backend))
    if job.tags:
        rows.append(("tags", ", ".join(job.tags)))
    if job.progress is not None:
        rows.append(("progress", _progress_text(job)))
    if job.error:
        rows.append(("error", job.error))
    rows.append(("created", f"{job.created_at.isoformat(timespec='seconds')} "
                            f"({_since(job.created_at, now)} ago)"))
    rows.append(("updated", f"{job.updated_at.isoformat(timespec='seconds')} "
                            f"({_since(job.updated_at, now)} ago)"))
    if result is not None:
        rows.append(("run time", f"{result.execution_time:.3f} s"))
    return "\n".join(f"{key:<9} {value}" for key, value in rows)


_LIST_HEADER = ("ID", "NAME", "STATUS", "PRI", "GROUP", "TRIES", "UPDATED")


def format_jobs(jobs: Sequence[Job], now: datetime, name_width: int = 28) -> str:
    """``godnb list``: a table of jobs (id, name, status, priority, group, tries, updated)."""
    if not jobs:
        return "no jobs"
    rows = [_LIST_HEADER] + [
        (j.job_id, _fit(j.task_name, name_width), j.status.value, str(j.priority),
         _fit(j.group, 16), f"{j.attempts}/{1 + j.retries}", f"{_since(j.updated_at, now)} ago")
        for j in jobs
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_LIST_HEADER))]
    right = {3, 5}  # PRI and TRIES are numbers
    lines = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_result(job: Job, result: Result | None) -> str:
    """``godnb result JOB``: the output as JSON, or what went wrong.

    Example:
        >>> job = Job(job_id="j1", payload={"task": "math:sqrt", "args": [4]})
        >>> format_result(job, Result(job_id="j1", status="completed", output=2.0))
        '2.0'
    """
    status = job.status
    if result is not None and result.status is JobStatus.COMPLETED:
        return to_json(result.output)
    if status is JobStatus.CANCELLED:
        return f"job {job.job_id} ({job.task_name}) was cancelled"
    if not status.is_terminal:
        return f"job {job.job_id} ({job.task_name}) is {status.value}; no result yet"
    errors = result.errors if result is not None else []
    lines = [f"job {job.job_id} ({job.task_name}) failed after {job.attempts} attempt(s)"]
    lines += [f"  attempt {e.attempt}: {e}" for e in errors]
    if not errors and job.error:
        lines.append(f"  {job.error}")
    last = errors[-1].traceback.rstrip() if errors else ""
    if last:
        lines += ["", last]
    return "\n".join(lines)


# -- the live monitor ------------------------------------------------------------------------
class MonitorSnapshot(BaseModel):
    """What ``godnb monitor`` shows at one moment; built by :func:`godnb.api.monitor.take_snapshot`.

    ``running`` and ``failures`` hold at most a few jobs each (the newest ones); ``rate``
    is finished jobs per second since the previous snapshot (None on the first).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    db: str
    at: datetime
    counts: dict[str, int]
    engines: int = 0
    running: list[Job] = Field(default_factory=list)
    failures: list[Job] = Field(default_factory=list)
    rate: float | None = None
    title: str = "godnb"

    @property
    def total(self) -> int:
        return sum(self.counts.get(s, 0) for s in _STATUSES)

    @property
    def active(self) -> int:
        return self.counts.get("pending", 0) + self.counts.get("running", 0)

    @property
    def finished(self) -> int:
        return self.total - self.active


def _header(snap: MonitorSnapshot) -> str:
    parts = [snap.title, snap.at.strftime("%H:%M:%S UTC"),
             f"{snap.engines} engine{'s' if snap.engines != 1 else ''}"]
    if snap.rate is not None:
        parts.append(format_rate(snap.rate, "jobs") if snap.rate > 0 else "0 jobs/s")
    return " · ".join([*parts, snap.db])  # the path last: it is what a narrow screen cuts


def _overall(snap: MonitorSnapshot, width: int, ascii: bool) -> str:
    total = snap.total
    if total == 0:
        return "no jobs yet"
    done = snap.finished
    tail = f" {format_count(done)}/{format_count(total)} done {format_percent(done / total)}"
    if snap.active == 0:
        tail = f" all {format_count(total)} jobs done"
    bar_width = max(0, min(40, width - len(tail)))
    return format_bar(done / total, bar_width, ascii) + tail


def _running_line(job: Job, now: datetime, width: int, ascii: bool) -> str:
    head = f"  {_fit(job.job_id, 16, ascii):<16} {_fit(job.task_name, 16, ascii):<16} "
    tail = f" {_fit(_progress_text(job), 24, ascii):<24} {_since(job.updated_at, now):>6}"
    bar = format_bar(job.progress.fraction if job.progress else None,
                     max(0, min(20, width - len(head) - len(tail))), ascii)
    return head + bar + tail


def _failure_line(job: Job, now: datetime, ascii: bool) -> str:
    error = (job.error or "failed").splitlines()[0] if job.error else "failed"
    return (f"  {_fit(job.job_id, 16, ascii):<16} {_fit(job.task_name, 16, ascii):<16} "
            f"{error}  (attempt {job.attempts}, {_since(job.updated_at, now)} ago)")


def format_monitor(snapshot: MonitorSnapshot, width: int = 80, ascii: bool = False) -> str:
    """The live view: header, overall bar, counts, running jobs with bars, recent failures.

    Every line fits in ``width`` columns; ``ascii=True`` draws with ``#``/``.`` only.
    """
    width = max(width, 20)
    snap, now = snapshot, snapshot.at
    lines = [_header(snap), _overall(snap, width, ascii), format_counts(snap.counts)]
    running = snap.counts.get("running", 0)
    if snap.running or running:
        lines += ["", f"running ({running})"]
        lines += [_running_line(j, now, width, ascii) for j in snap.running]
        more = running - len(snap.running)
        if more > 0:
            lines.append(f"  ... and {more} more")
    if snap.failures:
        lines += ["", f"recent failures ({snap.counts.get('failed', 0)})"]
        lines += [_failure_line(j, now, ascii) for j in snap.failures]
    if ascii:
        lines = [line.replace(" · ", " | ") for line in lines]
    return "\n".join(_fit(line.rstrip(), width, ascii) for line in lines)
