"""Pure text formatters for the CLI: every command's output is one of these, from data.

Nothing here reads a store, a clock or a terminal: callers pass the jobs, the counts,
``now`` and the ``width``, so each formatter is tested as a string.

Text that came from users or from a store (names, groups, tags, ids, errors, paths) goes
through :func:`clean` before it is printed: a job named ``"\x1b]0;pwned\x07"`` must not
retitle the terminal, clear it, or forge lines of output.

Example:
    >>> format_counts({"pending": 2, "running": 1, "completed": 5, "failed": 0,
    ...                "cancelled": 0})
    'pending 2  running 1  completed 5  failed 0  cancelled 0'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from godnb.models import Job, JobStatus, Result
from godnb.models.job import task_reference
from godnb.storage.recovery import EngineInfo, RecoveryRecord
from godnb.utils.formatting import format_count, format_percent, format_rate

__all__ = [
    "MonitorSnapshot",
    "clean",
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

# What a terminal may act on: C0 controls (ESC starts escape sequences, CR rewrites a line,
# BS erases), DEL, C1 controls (0x9b is a one-byte CSI), and the Unicode line separators,
# bidirectional overrides and invisible marks that make text read other than it is.
_OTHER_UNSAFE = "\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
_UNSAFE_RE = re.compile(f"[\x00-\x1f{_OTHER_UNSAFE}]")
_NON_C0_RE = re.compile(f"[{_OTHER_UNSAFE}]")
_UNSAFE_BUT_NEWLINE_RE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHER_UNSAFE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` safe to print on a terminal: control characters escaped as ``\\x1b``.

    Escapes C0 and C1 controls, DEL and the Unicode characters that move or hide text
    (line separators, bidi overrides, zero-width marks). ``keep_newlines`` keeps ``\\n``
    (for multi-line text such as a traceback).

    Example:
        >>> clean("job\\x1b]0;owned\\x07\\nname")
        'job\\\\x1b]0;owned\\\\x07\\\\nname'
    """
    text = str(text)
    pattern = _UNSAFE_BUT_NEWLINE_RE if keep_newlines else _UNSAFE_RE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


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
    return repr(value)  # a pickled output or argument: its stand-in describes it


def to_json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON; datetimes in ISO 8601, anything else JSON can not hold as repr.

    Example:
        >>> to_json({"n": 1, "s": {2}})
        '{"n": 1, "s": [2]}'
    """
    # JSON escapes C0 controls itself; escape the rest a terminal acts on (C1, bidi...).
    text = json.dumps(value, default=_default, indent=indent, ensure_ascii=False)
    return _NON_C0_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


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


def recovery_dict(record: RecoveryRecord) -> dict[str, Any]:
    """A recovery the store remembers, as plain data."""
    return {"at": record.at, "owner": record.owner, "dead": list(record.dead),
            "requeued": record.requeued, "interrupted": record.interrupted,
            "failed": record.failed, "cancelled": record.cancelled,
            "completed": record.completed}


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
                  now: datetime, recoveries: Sequence[RecoveryRecord] = ()) -> str:
    """``godnb status``: counts by status, the engines registered on the store, and the
    latest recoveries of dead engines' jobs (if any)."""
    total = sum(counts.get(s, 0) for s in _STATUSES)
    lines = [f"db       {clean(db)}", f"jobs     {format_count(total)}: {format_counts(counts)}",
             f"engines  {len(engines)}"]
    for e in engines:
        lines.append(f"  {clean(e.owner)}  pid {e.pid} on {clean(e.host)}  up "
                     f"{_since(e.started_at, now)}  seen {_since(e.last_seen, now)} ago")
    if recoveries:
        lines.append(f"recovered  {len(recoveries)} time(s), latest first")
        for r in recoveries:
            gone = f"; engines gone: {', '.join(clean(d) for d in r.dead)}" if r.dead else ""
            lines.append(f"  {_since(r.at, now)} ago by {clean(r.owner)}: {clean(r)}{gone}")
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
        rows.append(("tags", ", ".join(clean(t) for t in job.tags)))
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
    return "\n".join(f"{key:<9} {clean(value)}" for key, value in rows)


_LIST_HEADER = ("ID", "NAME", "STATUS", "PRI", "GROUP", "TRIES", "UPDATED")


def format_jobs(jobs: Sequence[Job], now: datetime, name_width: int = 28) -> str:
    """``godnb list``: a table of jobs (id, name, status, priority, group, tries, updated)."""
    if not jobs:
        return "no jobs"
    rows = [_LIST_HEADER] + [
        (clean(j.job_id), _fit(clean(j.task_name), name_width), j.status.value,
         str(j.priority), _fit(clean(j.group), 16), f"{j.attempts}/{1 + j.retries}",
         f"{_since(j.updated_at, now)} ago")
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
    what = f"job {clean(job.job_id)} ({clean(job.task_name)})"
    if status is JobStatus.CANCELLED:
        return f"{what} was cancelled"
    if not status.is_terminal:
        return f"{what} is {status.value}; no result yet"
    errors = result.errors if result is not None else []
    lines = [f"{what} failed after {job.attempts} attempt(s)"]
    lines += [f"  attempt {e.attempt}: {clean(e)}" for e in errors]
    if not errors and job.error:
        lines.append(f"  {clean(job.error)}")
    last = errors[-1].traceback.rstrip() if errors else ""
    if last:
        lines += ["", clean(last, keep_newlines=True)]
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
    parts = [clean(snap.title), snap.at.strftime("%H:%M:%S UTC"),
             f"{snap.engines} engine{'s' if snap.engines != 1 else ''}"]
    if snap.rate is not None:
        parts.append(format_rate(snap.rate, "jobs") if snap.rate > 0 else "0 jobs/s")
    return " · ".join([*parts, clean(snap.db)])  # the path last: it is what a narrow screen cuts


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
    head = (f"  {_fit(clean(job.job_id), 16, ascii):<16} "
            f"{_fit(clean(job.task_name), 16, ascii):<16} ")
    tail = (f" {_fit(clean(_progress_text(job)), 24, ascii):<24} "
            f"{_since(job.updated_at, now):>6}")
    bar = format_bar(job.progress.fraction if job.progress else None,
                     max(0, min(20, width - len(head) - len(tail))), ascii)
    return head + bar + tail


def _failure_line(job: Job, now: datetime, ascii: bool) -> str:
    error = clean((job.error or "failed").splitlines()[0]) if job.error else "failed"
    return (f"  {_fit(clean(job.job_id), 16, ascii):<16} "
            f"{_fit(clean(job.task_name), 16, ascii):<16} "
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
