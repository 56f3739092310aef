"""``eng.to_pandas()``: the jobs an engine knows as a DataFrame (pandas optional).

One row per job: the active ones and the last ``keep_finished`` finished ones (an
executor's jobs only while they wait or run), oldest submit first. The columns:

==========  =======================  ================================================
column      dtype                    meaning
==========  =======================  ================================================
id          string                   the job id
name        string                   the job's name (its task's name unless set)
task        string                   what it runs: a task name or ``"module:qualname"``
status      category                 pending, running, completed, failed, cancelled
priority    int64                    higher runs first
group       string                   the submitter, for fair turns
backend     category                 thread, process, async, inline, or a plugin's name
attempts    int64                    attempts started (0: it never ran)
cell        string                   the notebook cell that submitted it (<NA>: unknown)
submitted   datetime64[ns, UTC]      when it was submitted
started     datetime64[ns, UTC]      when it started running (NaT: it never ran)
finished    datetime64[ns, UTC]      when it ended (NaT: not yet)
wait        float64                  seconds from submitted to started (so far, or until
                                     it ended, for a job that never started)
run         float64                  seconds it ran, every attempt (so far, while it
                                     runs); NaN when it never ran (a cache hit too)
error       string                   the last attempt's error, ``"Type: message"``
==========  =======================  ================================================

``started`` costs the hot path nothing: a job keeps no start time of its own, so it is
derived here, from the running attempt's monotonic start (while it runs) or as the last
update minus the run seconds (once it ran): exact for a job that ran once; for a retried
job, as if its attempts had run back to back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from godnb.core.handles import JobHandle
from godnb.models.job import JobStatus, task_reference
from godnb.utils.frames import Categories, make_frame

if TYPE_CHECKING:
    from godnb.core.engine import Engine

__all__ = ["JOB_COLUMNS", "job_row", "jobs_frame"]

STATUSES = Categories(tuple(s.value for s in JobStatus))
_TIME = "datetime64[ns, UTC]"


def _columns(backends: tuple[str, ...]) -> list[tuple[str, str | Categories]]:
    return [("id", "string"), ("name", "string"), ("task", "string"), ("status", STATUSES),
            ("priority", "int64"), ("group", "string"), ("backend", Categories(backends)),
            ("attempts", "int64"), ("cell", "string"), ("submitted", _TIME),
            ("started", _TIME), ("finished", _TIME), ("wait", "float64"),
            ("run", "float64"), ("error", "string")]


JOB_COLUMNS = tuple(name for name, _ in _columns(()))


def jobs_frame(engine: Engine) -> Any:
    """The DataFrame ``eng.to_pandas()`` returns (see the module docs for the columns)."""
    handles = sorted(engine.jobs(), key=lambda h: h.job.created_at)
    clock: Callable[[], float] = engine._rt.clock
    now, mono = datetime.now(UTC), clock()
    rows = [job_row(h, now, mono) for h in handles]
    backends = set(engine.executors) | {r[6] for r in rows if r[6] is not None}
    return make_frame("eng.to_pandas()", _columns(tuple(sorted(backends))), rows)


def job_row(h: JobHandle, now: datetime, mono: float) -> tuple[Any, ...]:
    """One job's row; ``now`` and ``mono`` are the wall and engine clocks read once."""
    job = h.job
    run, finished = h.run, h.finished
    submitted = job.created_at
    ended = job.updated_at if finished else None
    ran: float = math.nan
    started: datetime | None = None
    if run is not None and not finished:  # running: the attempt's start is known
        elapsed = max(0.0, mono - run.started)
        started = now - timedelta(seconds=elapsed)
        ran = h.execution_time + elapsed
    elif job.attempts:  # ran before: ended, or waiting for a retry
        ran = h.execution_time
        started = max(submitted, job.updated_at - timedelta(seconds=ran))
    until = started or ended or now
    wait = max(0.0, (until - submitted).total_seconds())
    task = job.task
    return (h.job_id, h.name, task if isinstance(task, str) else task_reference(task),
            job.status.value, job.priority, job.group, job.backend, job.attempts,
            _cell(h), submitted, started, ended, wait, ran, job.error)


def _cell(h: JobHandle) -> str | None:
    """The cell that submitted the job, once handles record it (else None: <NA>)."""
    cell = getattr(h, "cell", None)
    if cell is None:
        cell = getattr(h.job, "cell", None)
    return None if cell is None else str(cell)
