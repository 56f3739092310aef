"""Frozen snapshots of what the displays show, taken from live handles and engines.

Each ``snapshot_*()`` reads a live object once; the pure ``format_*()`` functions in
:mod:`godnb.notebook.formatters` and the widgets render only snapshots. Times are passed
in (``now=``) so tests get deterministic output.

Cost matters here: a widget takes a snapshot up to ten times a second while the kernel
is busy, so nothing below walks 100,000 jobs per call except where it says so.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from godnb.core.handles import JobGroup, JobHandle, cancel_reason
from godnb.models.job import JobStatus
from godnb.utils.formatting import eta_seconds

__all__ = [
    "EngineSnapshot",
    "GroupSnapshot",
    "JobSnapshot",
    "LaneJob",
    "LaneSnapshot",
    "OutputSnapshot",
    "PipelineSnapshot",
    "QueueRow",
    "QueueSnapshot",
    "StageSnapshot",
    "TaskTally",
    "WorkerSnapshot",
    "group_counts",
    "task_names",
    "snapshot_engine",
    "snapshot_group",
    "snapshot_job",
    "snapshot_output",
    "snapshot_pipeline",
    "snapshot_queue",
]

_FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
LOG_TAIL = 12  # newest output lines a job's view shows (h.output_text() has the rest)
_job_status = attrgetter("job.status")
_job_name = attrgetter("job.name")
_job_updated = attrgetter("job.updated_at")


class _Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutputSnapshot(_Snapshot):
    """The newest lines a job printed or logged (its view's log panel)."""

    lines: list[tuple[str, str]] = Field(default_factory=list)  # (stream, text), oldest first
    kept: int = 0   # lines the job's buffer holds (h.output_text() returns them)
    cut: int = 0    # older lines the buffer dropped
    total: int = 0  # lines written in all

    @property
    def hidden(self) -> int:
        """Lines written but not in ``lines``: kept ones left out of the view, and cut ones."""
        return self.total - len(self.lines)


class JobSnapshot(_Snapshot):
    """One job: what its progress bar shows."""

    job_id: str
    name: str
    status: JobStatus
    done: float = 0.0
    total: float | None = None
    message: str | None = None
    elapsed: float | None = None  # run time in seconds (all attempts); None before a start
    rate: float | None = None     # progress units per second of run time
    error: str | None = None      # "Type: message" of the last failed attempt
    attempts: int = 0
    priority: int = 0
    group: str = "default"
    backend: str | None = None
    cell: int | None = None                # In[n] of the cell that submitted it
    output: OutputSnapshot | None = None   # the newest lines it printed, if captured

    @property
    def fraction(self) -> float | None:
        if self.status is JobStatus.COMPLETED:
            return 1.0
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, while running with a known total."""
        if self.status is not JobStatus.RUNNING:
            return None
        return eta_seconds(self.done, self.total, self.rate)


class TaskTally(_Snapshot):
    """One task name's share of a mixed group."""

    name: str
    total: int
    done: int
    failed: int = 0
    cancelled: int = 0


class GroupSnapshot(_Snapshot):
    """A group of jobs (one ``eng.map``): one combined bar, per task name when mixed."""

    name: str
    total: int
    done: int
    counts: dict[str, int] = Field(default_factory=dict)  # by status; may lag ``done``
    elapsed: float | None = None
    rate: float | None = None  # jobs ended per second
    error: str | None = None   # the first failure's message, if any
    per_task: list[TaskTally] = Field(default_factory=list)  # only when names are mixed

    @property
    def fraction(self) -> float:
        return 1.0 if not self.total else min(1.0, self.done / self.total)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, while jobs remain."""
        return None if self.finished else eta_seconds(self.done, self.total, self.rate)

    def shares(self) -> list[tuple[str, float, int]]:
        """(status, share of all jobs, count) of ended jobs: one stacked bar's segments.

        Completed jobs read "running" (the bar's working colour) until the group ends,
        then "completed"; failed and cancelled keep their colours throughout, so 4
        failures among 100 jobs are a 4% red segment, not a red bar. ``counts`` may lag
        ``done`` (it is refreshed less often): the shares never exceed ``done``.
        """
        if not self.total:
            return []
        failed, cancelled = self.counts.get("failed", 0), self.counts.get("cancelled", 0)
        bad = min(self.done, failed + cancelled)
        failed = min(failed, bad)
        ok = max(0, self.done - bad)
        ok_status = "completed" if self.finished else "running"
        out = [(ok_status, ok / self.total, ok), ("failed", failed / self.total, failed),
               ("cancelled", (bad - failed) / self.total, bad - failed)]
        return [seg for seg in out if seg[2]]

    @property
    def status(self) -> JobStatus:
        """The colour of the bar: running until every job ended, then the worst outcome."""
        if not self.finished:
            return JobStatus.RUNNING if self.done or self.counts.get("running") else \
                JobStatus.PENDING
        if self.counts.get("failed"):
            return JobStatus.FAILED
        if self.counts.get("cancelled"):
            return JobStatus.CANCELLED
        return JobStatus.COMPLETED


class QueueRow(_Snapshot):
    """One row of the queue view."""

    job_id: str
    name: str
    priority: int
    group: str
    status: JobStatus
    backend: str | None = None
    done: float = 0.0
    total: float | None = None
    age: float = 0.0  # seconds since submit
    cell: int | None = None  # In[n] of the cell that submitted it

    @property
    def fraction(self) -> float | None:
        return None if not self.total else max(0.0, min(1.0, self.done / self.total))


class QueueSnapshot(_Snapshot):
    """The first ``limit`` jobs to run (running first), plus counts of everything."""

    engine: str
    counts: dict[str, int]
    rows: list[QueueRow]
    limit: int

    @property
    def active(self) -> int:
        return self.counts.get("pending", 0) + self.counts.get("running", 0)


class WorkerSnapshot(_Snapshot):
    workers: int
    busy: int
    started: bool


class LaneJob(_Snapshot):
    """A job running on a lane now."""

    job_id: str
    name: str
    elapsed: float = 0.0
    fraction: float | None = None


class LaneSnapshot(_Snapshot):
    """One worker lane (``thread-1``, ``process-2``, ``async``) and what it runs now."""

    name: str
    backend: str
    running: list[LaneJob] = Field(default_factory=list)


class EngineSnapshot(_Snapshot):
    """An engine summary: counts, workers per backend, throughput, latency."""

    name: str
    counts: dict[str, int]
    queue_depth: int = 0
    submitted: int = 0
    retried: int = 0
    throughput: float = 0.0
    latency_p50: float | None = None
    latency_p99: float | None = None
    workers: dict[str, WorkerSnapshot] = Field(default_factory=dict)
    uptime: float = 0.0
    closed: bool = False
    lanes: list[LaneSnapshot] = Field(default_factory=list)
    recovery: str | None = None  # what the store recovered and the engine adopted, if any

    @property
    def active(self) -> int:
        return self.counts.get("pending", 0) + self.counts.get("running", 0)


class StageSnapshot(_Snapshot):
    name: str
    items_in: int = 0
    items_out: int = 0
    busy: float | None = None        # seconds spent working
    throughput: float | None = None  # the stage's own rate: items in per busy second
    p50: float | None = None
    p95: float | None = None
    queue_depth: int | None = None
    # How far the stage got, scaled to its own input: the share of what its upstream will
    # send that it has taken in (None: unknown, e.g. a source of unknown length).
    fraction: float | None = None
    errors: int = 0
    kind: str = "stage"          # "source", "map", "batch"... (a source has no input)
    backend: str | None = None   # where a parallel stage runs, and on how many workers
    workers: int = 1


class PipelineSnapshot(_Snapshot):
    name: str = "pipeline"
    stages: list[StageSnapshot] = Field(default_factory=list)
    finished: bool = False
    started: bool = True  # False before the pipeline was ever iterated
    elapsed: float | None = None
    total: int | None = None  # items in the source, when it has a length

    @property
    def state(self) -> str:
        """``"not started"``, ``"running"`` or ``"finished"``."""
        if not self.started:
            return "not started"
        return "finished" if self.finished else "running"

    @property
    def items_out(self) -> int:
        return self.stages[-1].items_out if self.stages else 0


# -- jobs -------------------------------------------------------------------------------
def snapshot_output(handle: JobHandle, tail: int = LOG_TAIL) -> OutputSnapshot | None:
    """The newest ``tail`` lines of a job's captured output; None if it printed nothing."""
    out = handle.captured
    if out is None or not out.total_lines:
        return None
    return OutputSnapshot(lines=out.tail(tail), kept=out.lines, cut=out.cut_lines,
                          total=out.total_lines)


def snapshot_job(handle: JobHandle, now: float | None = None) -> JobSnapshot:
    """Read one handle. ``now`` is a ``time.monotonic()`` reading (the engine's clock)."""
    job = handle.job
    status = job.status
    progress = handle.progress
    elapsed: float | None = handle.execution_time
    run = handle.run
    if status is JobStatus.RUNNING and run is not None:
        now = time.monotonic() if now is None else now
        elapsed = (elapsed or 0.0) + max(0.0, now - run.started)
    elif not job.attempts:
        elapsed = None
    error = None
    if status is JobStatus.FAILED:
        error = str(handle.errors[-1]) if handle.errors else (job.error or "failed")
    reported = job.progress is not None  # counts and a rate only for jobs that report
    rate = progress.done / elapsed if reported and elapsed and progress.done > 0 else None
    done, total = (progress.done, progress.total) if reported else (0.0, None)
    message = progress.message
    if status is JobStatus.CANCELLED:
        message = cancel_reason(handle) or message  # e.g. "replaced by job X (key 'k')"
    return JobSnapshot(job_id=handle.job_id, name=handle.name, status=status,
                       done=done, total=total, message=message,
                       elapsed=elapsed, rate=rate, error=error, attempts=job.attempts,
                       priority=job.priority, group=job.group, backend=job.backend,
                       cell=job.cell, output=snapshot_output(handle))


# -- groups -----------------------------------------------------------------------------
def task_names(handles: Sequence[JobHandle]) -> set[str]:
    """The distinct task names in ``handles`` (~15 ms for 100,000)."""
    names: set[str | None] = set(map(_job_name, handles))
    if None in names:  # unnamed jobs: fall back to the task's own name
        return {h.name for h in handles}
    return names  # type: ignore[return-value]


def group_counts(handles: Sequence[JobHandle], mixed: bool | None = None
                 ) -> tuple[dict[str, int], list[TaskTally], str | None]:
    """Counts by status, per-name tallies (only if names differ) and the first error.

    Walks every handle in C-level loops (about 20 ms for 100,000; twice that for mixed
    names): the group view calls it at most once a second and once at the end, never per
    progress tick. Pass ``mixed`` when you know whether the names differ.
    """
    counts = Counter(map(_job_status, handles))
    if mixed is None:
        mixed = len(task_names(handles)) > 1
    error = None
    if counts[JobStatus.FAILED]:
        failed = next(h for h in handles if h.job.status is JobStatus.FAILED)
        error = str(failed.errors[-1]) if failed.errors else failed.job.error
    tallies = []
    if mixed:
        per_name: dict[str, Counter[JobStatus]] = {}
        for (name, status), n in Counter(map(_name_status, handles)).items():
            per_name.setdefault(name, Counter())[status] += n
        for name, c in per_name.items():
            tallies.append(TaskTally(
                name=name, total=sum(c.values()), done=sum(c[s] for s in _FINAL),
                failed=c[JobStatus.FAILED], cancelled=c[JobStatus.CANCELLED]))
    return {s.value: counts.get(s, 0) for s in JobStatus}, tallies, error


def _name_status(h: JobHandle) -> tuple[str, JobStatus]:
    return h.name, h.job.status


def snapshot_group(group: JobGroup, now: datetime | None = None,
                   counts: tuple[dict[str, int], list[TaskTally], str | None] | None = None
                   ) -> GroupSnapshot:
    """Read a group. ``done`` is O(1); ``counts`` is walked unless you pass it in.

    ``now`` is a wall-clock UTC time (jobs stamp ``created_at``/``updated_at`` in UTC).
    """
    handles = group.handles
    total = len(handles)
    done = min(group.finished_count, total)
    if counts is None:
        counts = group_counts(handles)
    by_status, tallies, error = counts
    elapsed = None
    if handles:
        start = handles[0].job.created_at
        end = max(map(_job_updated, handles)) if done >= total else now or datetime.now(UTC)
        elapsed = max(0.0, (end - start).total_seconds())
    rate = done / elapsed if elapsed and done else None
    return GroupSnapshot(name=group.name, total=total, done=done, counts=by_status,
                         elapsed=elapsed, rate=rate, error=error, per_task=tallies)


# -- the queue --------------------------------------------------------------------------
def _running_handles(engine: Any) -> list[JobHandle]:
    return engine.running()  # type: ignore[no-any-return]


def _pending_top(engine: Any, n: int) -> list[JobHandle]:
    return engine.pending(n)  # type: ignore[no-any-return]


def _row(h: JobHandle, now: float) -> QueueRow:
    job = h.job
    p = job.progress
    return QueueRow(job_id=h.job_id, name=h.name, priority=h.priority, group=h.group,
                    status=job.status, backend=job.backend, done=p.done if p else 0.0,
                    total=p.total if p else None, age=max(0.0, now - h.submitted),
                    cell=job.cell)


def snapshot_queue(engine: Any, limit: int = 20, now: float | None = None) -> QueueSnapshot:
    """The next ``limit`` jobs (running ones first, then pending by priority) and counts.

    Never lists the whole queue: 100,000 pending jobs cost the same as 20.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    now = time.monotonic() if now is None else now
    counts = dict(engine.stats().counts)
    running = sorted(_running_handles(engine) if counts.get("running") else [],
                     key=lambda h: (-h.priority, h.submitted))[:limit]
    seen = {h.job_id for h in running}
    pending = [h for h in _pending_top(engine, limit) if h.job_id not in seen]
    rows = [_row(h, now) for h in [*running, *pending][:limit]]
    return QueueSnapshot(engine=engine.name, counts=counts, rows=rows, limit=limit)


# -- the engine -------------------------------------------------------------------------
def snapshot_engine(engine: Any, now: float | None = None) -> EngineSnapshot:
    """Read ``engine.stats()`` and its worker lanes into a display snapshot."""
    s = engine.stats()
    workers = {name: WorkerSnapshot(workers=w["workers"], busy=w["busy"],
                                    started=bool(w["started"]))
               for name, w in s.workers.items()}
    recovery = getattr(engine, "recovery", None)
    shown = recovery is not None and (recovery.recovered or recovery.adopted)
    return EngineSnapshot(name=engine.name, counts=dict(s.counts), queue_depth=s.queue_depth,
                          submitted=s.submitted, retried=s.retried, throughput=s.throughput,
                          latency_p50=s.latency_p50, latency_p99=s.latency_p99,
                          workers=workers, uptime=s.uptime, closed=bool(engine.closed),
                          recovery=str(recovery) if shown else None,
                          lanes=_lanes(engine, now))


def _lanes(engine: Any, now: float | None) -> list[LaneSnapshot]:
    timeline = getattr(engine, "timeline", None)
    if not callable(timeline) or engine.closed:
        return []
    now = time.monotonic() if now is None else now
    lanes = []
    for name, backend, handles in timeline().lanes_now():
        running = []
        for h in handles:
            run = h.run
            started = run.started if run is not None else now
            p = h.job.progress
            fraction = p.done / p.total if p is not None and p.total else None
            running.append(LaneJob(job_id=h.job_id, name=h.name,
                                   elapsed=max(0.0, now - started), fraction=fraction))
        lanes.append(LaneSnapshot(name=name, backend=backend, running=running))
    return lanes


# -- pipelines (duck-typed: the pipeline module is written elsewhere) ----------------------
def _pick(obj: Any, names: Sequence[str], default: Any = None) -> Any:
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj and obj[name] is not None:
                return obj[name]
        else:
            value = getattr(obj, name, None)
            if value is not None and not callable(value):
                return value
    return default


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _as_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _stage(stage: Any, index: int) -> StageSnapshot:
    backend = _pick(stage, ("backend",))
    return StageSnapshot(
        name=str(_pick(stage, ("name", "stage"), f"stage {index}")),
        items_in=_as_int(_pick(stage, ("items_in", "in", "received"), 0)) or 0,
        items_out=_as_int(_pick(stage, ("items_out", "out", "emitted"), 0)) or 0,
        busy=_as_float(_pick(stage, ("busy", "busy_time", "busy_seconds"))),
        throughput=_stage_rate(stage),
        p50=_as_float(_pick(stage, ("p50", "latency_p50"))),
        p95=_as_float(_pick(stage, ("p95", "latency_p95"))),
        queue_depth=_as_int(_pick(stage, ("max_queue_depth", "queue_depth", "max_queue"))),
        errors=_as_int(_pick(stage, ("errors",), 0)) or 0,
        kind=str(_pick(stage, ("kind",), "stage")),
        backend=None if backend is None else str(backend),
        workers=_as_int(_pick(stage, ("workers",), 1)) or 1)


def _stage_rate(stage: Any) -> float | None:
    """The stage's own speed. godnb's StageProfile has ``rate`` (items per busy second,
    None for stages without a function); other profile objects may only have a
    ``throughput``."""
    has_rate = "rate" in stage if isinstance(stage, Mapping) else hasattr(stage, "rate")
    return _as_float(_pick(stage, ("rate",) if has_rate else ("throughput",)))


def _length(obj: Any) -> int | None:
    """Items in a pipeline's source, if it has a length."""
    source = getattr(obj, "source", None)
    if source is None or isinstance(source, str | bytes):
        return None
    try:
        return len(source)
    except TypeError:
        return None


def _fractions(stages: list[StageSnapshot], finished: bool, total: int | None
               ) -> list[float | None]:
    """Each stage's progress, scaled to its own input.

    The first stage (the source) is its items read out of the source's length (all of
    it once the run finished; unknown otherwise). Each later stage is its upstream's
    fraction times the share of the upstream's output it has taken in: a ``batch``
    that turned 4,000 items into 63 lists and an inference stage that took those 63
    both read 100% at the end, and a stage that lags its upstream shows by how much.
    """
    out: list[float | None] = []
    upstream: float | None = None
    for i, st in enumerate(stages):
        if i == 0:
            if finished:
                frac: float | None = 1.0
            elif total:
                frac = min(1.0, st.items_out / total)
            else:
                frac = None
        else:
            sent = stages[i - 1].items_out
            taken = 1.0 if finished and sent == 0 else (
                min(1.0, st.items_in / sent) if sent else 0.0)
            frac = None if upstream is None else upstream * taken
        out.append(frac)
        upstream = frac
    return out


def snapshot_pipeline(obj: Any) -> PipelineSnapshot:
    """Read a pipeline, its ``profile()``, or a plain dict ``{"stages": [...]}``.

    Defensive by design: any object with ``.profile()`` returning something with
    ``.stages`` (each with ``name``, ``items_in``, ``items_out``, ``busy``,
    ``rate``...) works; missing fields show as ``-``.
    """
    profile = obj
    profile_fn = getattr(obj, "profile", None)
    if callable(profile_fn) and not isinstance(obj, Mapping):
        profile = profile_fn()
    stages = _pick(profile, ("stages",), []) or []
    if isinstance(stages, Mapping):  # {"name": stats}
        stages = [{"name": k, **(dict(v) if isinstance(v, Mapping) else
                                 getattr(v, "__dict__", {}))} for k, v in stages.items()]
    name = _pick(obj, ("name",)) or _pick(profile, ("name",)) or "pipeline"
    snapshots = [_stage(s, i) for i, s in enumerate(stages)]
    running = _pick(profile, ("running",))
    started = _pick(profile, ("started",))
    started = True if not isinstance(started, bool) else started
    if isinstance(running, bool):  # godnb's PipelineProfile: a run that stopped is over
        finished = started and not running
    else:
        finished = bool(_pick(profile, ("finished", "done", "closed"), False)
                        or _pick(obj, ("finished", "closed"), False))
    total = _length(obj)
    fractions = _fractions(snapshots, finished, total)
    snapshots = [st.model_copy(update={"fraction": f}) for st, f in
                 zip(snapshots, fractions, strict=True)]
    elapsed = _as_float(_pick(profile, ("elapsed",)))
    return PipelineSnapshot(name=str(name), stages=snapshots, finished=finished,
                            started=started, elapsed=elapsed if started else None,
                            total=total)
