"""``godnb report --db FILE PATH``: a store's jobs as the same page ``eng.report()`` writes.

A store keeps, per job, when it was created and last updated, and per ended job its
result: the total run time of its attempts (``execution_time``) and when it finished.
It does not keep which worker ran it, nor each attempt. So the timeline built here is
approximate, and says so on the page:

* a job's mark runs from (finished - run time) to finished: one mark for all its
  attempts, the waits between retries left out;
* runs are grouped by backend (``thread``, ``process``, ...), drawn in sub-rows where
  they overlap, not by worker;
* a running job is drawn from its last update (when it was claimed) to now.

:func:`store_report` is a pure function of what it reads (``now`` is passed in); the
CLI writes :func:`~godnb.views.report.format_report_html` of it.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import datetime

from godnb.core.reporting import FAILURES_SHOWN
from godnb.models import Job, JobStatus, Result
from godnb.storage.base import Store
from godnb.utils.formatting import (
    format_count,
    format_duration,
    format_rate,
    format_time,
)
from godnb.utils.profile import ProfileCollector, ProfileTable
from godnb.views.report import RunReport
from godnb.views.timeline import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    TimelineData,
)

__all__ = ["APPROXIMATE", "DEFAULT_LIMIT", "store_report", "store_timeline"]

DEFAULT_LIMIT = 100_000  # the newest jobs a report reads
APPROXIMATE = ("approximate timeline, rebuilt from the store: each job is one mark from "
               "(finished - its run time) to finished, all its attempts together; the store "
               "does not record workers, so runs are grouped by backend")
_CODE = {JobStatus.COMPLETED: COMPLETED, JobStatus.FAILED: FAILED,
         JobStatus.CANCELLED: CANCELLED}


def store_timeline(jobs: Sequence[Job], results: dict[str, Result], now: datetime,
                   title: str = "timeline") -> TimelineData:
    """The timeline the store allows (see the module docstring); times in epoch seconds."""
    lanes: dict[str, int] = {}
    tasks: dict[str, int] = {}
    start, end = array("d"), array("d")
    lane, task, status = array("H"), array("H"), array("B")
    for job in jobs:
        result = results.get(job.job_id)
        if job.status is JobStatus.RUNNING:
            t1, t0, code = now.timestamp(), job.updated_at.timestamp(), RUNNING
        elif result is not None and job.status in _CODE and not result.cached \
                and job.attempts:
            t1 = result.finished_at.timestamp()
            t0, code = t1 - result.execution_time, _CODE[job.status]
        else:
            continue  # pending, cancelled before it ran, or a cache hit: no run
        backend = job.backend or "thread"
        start.append(t0)
        end.append(t1)
        lane.append(lanes.setdefault(backend, len(lanes)))
        task.append(tasks.setdefault(job.task_name, len(tasks)))
        status.append(code)
    origin = min(start) if start else now.timestamp()
    return TimelineData(
        lanes=tuple(lanes), tasks=tuple(tasks), start=start, end=end, lane=lane, task=task,
        status=status, now=now.timestamp(), origin=origin,
        wall=datetime.fromtimestamp(origin, now.tzinfo), packed=frozenset(lanes.values()),
        title=title, note=APPROXIMATE)


def _profile(jobs: Sequence[Job], results: dict[str, Result], now: datetime) -> ProfileTable:
    prof = ProfileCollector(now=lambda: now)
    for job in jobs:
        result = results.get(job.job_id)
        if result is None or not job.status.is_terminal:
            continue
        prof.record(job.task_name, ok=job.status is JobStatus.COMPLETED,
                    run_time=result.execution_time, retried=job.attempts > 1,
                    cancelled=job.status is JobStatus.CANCELLED, cache_hit=result.cached)
    return prof.table()


def _error(job: Job, result: Result | None) -> str:
    if result is not None and result.errors:
        return str(result.errors[-1])
    return job.error or "failed"


def store_report(store: Store, db: str, now: datetime, limit: int = DEFAULT_LIMIT,
                 version: str = "") -> RunReport:
    """A :class:`RunReport` of the newest ``limit`` jobs in ``store``."""
    counts = store.counts()
    jobs = store.list_jobs(limit=limit)
    results = store.get_results([j.job_id for j in jobs if j.status.is_terminal])
    failed = [j for j in jobs if j.status is JobStatus.FAILED]
    summary = [("database", db), ("jobs", format_count(sum(counts.values()))),
               ("engines registered now", format_count(len(store.engines())))]
    if jobs:
        first = min(j.created_at for j in jobs)
        last = max(j.updated_at for j in jobs)
        span = (last - first).total_seconds()
        ended = sum(1 for j in jobs if j.status.is_terminal)
        summary += [("first submitted", format_time(first, now)),
                    ("last update", format_time(last, now)),
                    ("span", format_duration(span))]
        if span > 0:
            summary.append(("throughput", format_rate(ended / span, "jobs") +
                            " from first submit to last update"))
    notes: list[str] = []  # the timeline carries its own note (approximate)
    total = sum(counts.values())
    if total > len(jobs):
        notes.append(f"Only the newest {format_count(len(jobs))} of {format_count(total)} "
                     f"jobs are drawn and profiled (--limit sets how many).")
    return RunReport(
        title=f"godnb run report: {db}", source=f"store {db}", generated_at=now,
        counts=counts, summary=summary, profile=_profile(jobs, results, now),
        timeline=store_timeline(jobs, results, now, title=f"timeline {db}"),
        failures=[(j.task_name, j.job_id, _error(j, results.get(j.job_id)))
                  for j in failed[:FAILURES_SHOWN]],
        failures_total=counts.get("failed", 0), notes=notes, version=version)
