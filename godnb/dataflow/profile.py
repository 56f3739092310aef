"""Per-stage pipeline statistics and their frozen snapshot, :class:`PipelineProfile`.

A running stage writes plain attributes of its :class:`StageStats` from the thread that
runs it (no lock: CPython makes each attribute store atomic, and a snapshot that is one
item stale is fine). :meth:`PipelineProfile` snapshots are pydantic models, and the text
and HTML renderings are pure functions of them. There is one stage table
(:data:`STAGE_COLUMNS`, :func:`stage_cells`, :func:`format_stage_table`): ``print(p.profile())``
and the notebook's pipeline view show the same columns.

Example:
    >>> st = StageStats("map[0]:double", "map")
    >>> st.n_in = st.n_out = 3
    >>> st.snapshot(elapsed=1.0).throughput
    3.0
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from godnb.utils.formatting import (
    format_count,
    format_duration,
    format_number,
    format_rate,
)
from godnb.utils.frames import make_frame
from godnb.utils.tables import Column, html_table, text_table
from godnb.utils.timing import finite_or_none, percentile_of

__all__ = [
    "STAGE_COLUMNS",
    "PipelineProfile",
    "StageProfile",
    "StageStats",
    "format_pipeline_html",
    "format_pipeline_text",
    "format_stage_table",
    "stage_cells",
]

# Latency samples kept per stage for p50/p95: a sliding window, so memory stays bounded
# on an infinite stream and the percentiles follow recent behaviour.
LATENCY_WINDOW = 512


class LatencySample:
    """The last ``size`` latencies in a preallocated ring of C doubles.

    Unlike :class:`godnb.utils.timing.Histogram` (a lock and a deque of float objects) it
    takes no lock (one writer per stage) and allocates nothing after construction, so the
    memory of a run does not depend on how many items went through.
    """

    __slots__ = ("_ring", "count")

    def __init__(self, size: int = LATENCY_WINDOW) -> None:
        self._ring = array("d", bytes(8 * size))
        self.count = 0

    def observe(self, value: float) -> None:
        ring = self._ring
        ring[self.count % len(ring)] = value
        self.count += 1

    def percentiles(self, *ps: float) -> list[float]:
        ordered = sorted(self._ring[:min(self.count, len(self._ring))])
        return [percentile_of(ordered, p) for p in ps]


class StageStats:
    """Live counters of one stage in one run (written by the stage, read by snapshots).

    ``busy`` is the time spent in the stage's own function. Sequential stages time a
    sample of the items when the function is fast (see :mod:`godnb.dataflow.stages`): then
    ``busy`` is a weighted sum standing for ``timed`` items, scaled to ``n_in`` on read.
    """

    __slots__ = ("backend", "busy", "errors", "kind", "latency", "max_depth", "n_in",
                 "n_out", "name", "sampled", "timed", "workers")

    def __init__(self, name: str, kind: str, *, workers: int = 1, backend: str | None = None,
                 timed: bool = True) -> None:
        self.name = name
        self.kind = kind
        self.workers = workers
        self.backend = backend
        self.n_in = 0
        self.n_out = 0
        self.errors = 0
        self.busy = 0.0  # seconds, standing for `timed` items
        self.timed = 0 if timed else -1  # -1: this stage runs no user function
        self.max_depth: int | None = None
        self.sampled = True  # False once a worker reports exact times (observe)
        self.latency = LatencySample()

    def flush(self, n_in: int, n_out: int, errors: int, busy: float, timed: int) -> None:
        """Publish a sequential stage's local counters (it keeps them in locals for speed)."""
        self.n_in, self.n_out, self.errors, self.busy, self.timed = n_in, n_out, errors, busy, timed

    def depth(self, value: int) -> None:
        if self.max_depth is None or value > self.max_depth:
            self.max_depth = value

    def observe(self, busy: float, samples: list[float], items: int) -> None:
        """Add a chunk measured by a worker: ``busy`` seconds over ``items`` items, with a
        sample of single-item durations for the percentiles."""
        self.sampled = False
        self.busy += busy
        self.timed += items
        for d in samples:
            self.latency.observe(d)

    def snapshot(self, elapsed: float) -> StageProfile:
        busy: float | None = None
        p50 = p95 = None
        if self.timed > 0:
            # Sampled stages scale the weighted sum to the items seen; worker-measured
            # stages (``observe``) hold the exact time of every finished item.
            busy = self.busy * self.n_in / self.timed if self.sampled else self.busy
            p50, p95 = (finite_or_none(x) for x in self.latency.percentiles(50, 95))
        return StageProfile(
            name=self.name, kind=self.kind, backend=self.backend, workers=self.workers,
            items_in=self.n_in, items_out=self.n_out, errors=self.errors, busy=busy,
            p50=p50, p95=p95, max_queue_depth=self.max_depth,
            throughput=self.n_out / elapsed if elapsed > 0 else None,
            rate=self.n_in / busy if busy else None)


class StageProfile(BaseModel):
    """One stage's row: counts, time in its function, latency and throughput.

    ``busy`` sums the time spent in the stage's function over all workers (so it can
    exceed the wall time of a parallel stage); None for stages without a function.
    ``rate`` is the stage's own speed: items in per second of its busy time (None without
    a function); it tells a slow stage from a fast one. ``throughput`` is items out per
    second of the run's wall time (the same clock for every stage). ``max_queue_depth`` is
    the most items the stage held at once (in flight, buffered or reordering); None for
    stages that hold at most the item they are working on.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    backend: str | None = None
    workers: int = 1
    items_in: int = 0
    items_out: int = 0
    errors: int = 0
    busy: float | None = None
    p50: float | None = None
    p95: float | None = None
    throughput: float | None = None
    max_queue_depth: int | None = None
    rate: float | None = None


class PipelineProfile(BaseModel):
    """A snapshot of one pipeline run, stage by stage (the source first).

    Example:
        >>> prof = PipelineProfile(stages=[StageProfile(name="source", kind="source",
        ...                                             items_out=2)], elapsed=0.5)
        >>> "source" in str(prof) and "<table" in prof._repr_html_()
        True
    """

    model_config = ConfigDict(frozen=True)

    stages: list[StageProfile] = Field(default_factory=list)
    elapsed: float = 0.0
    running: bool = False
    profiled: bool = True
    started: bool = True  # False: the pipeline has not been iterated yet

    @property
    def state(self) -> str:
        """``"not started"``, ``"running"`` or ``"finished"``."""
        if not self.started:
            return "not started"
        return "running" if self.running else "finished"

    @property
    def items_out(self) -> int:
        """Items the whole pipeline produced."""
        return self.stages[-1].items_out if self.stages else 0

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.stages)

    def stage(self, name: str) -> StageProfile:
        """The row whose name is ``name`` or starts with ``name + ":"`` (``"map[1]"``)."""
        for s in self.stages:
            if s.name == name or s.name.startswith(name + ":"):
                return s
        raise KeyError(f"no stage {name!r}; stages: {[s.name for s in self.stages]}")

    def to_pandas(self) -> Any:
        """The stages as a :class:`pandas.DataFrame`, one row per stage (the source first).

        Columns are :class:`StageProfile`'s fields: ``name``, ``kind``, ``backend``
        (string), ``workers``, ``items_in``, ``items_out``, ``errors`` (int64), ``busy``,
        ``p50``, ``p95`` (seconds), ``throughput`` (items out per second of the run) and
        ``rate`` (items in per second of the stage's own busy time) as float64 (NaN when
        unknown), ``max_queue_depth`` (Int64, <NA> for stages that hold one item at most);
        ``df.attrs`` holds ``elapsed``, ``running`` and ``profiled``. Needs pandas
        (``pip install "godnb[pandas]"``).

        Example:
            >>> p.profile().to_pandas().set_index("name")["busy"]   # doctest: +SKIP
        """
        columns = [(name, _DTYPES.get(name, "float64")) for name in StageProfile.model_fields]
        df = make_frame("PipelineProfile.to_pandas()", columns,
                        (tuple(getattr(stage, name) for name, _ in columns)
                         for stage in self.stages))
        df.attrs.update(elapsed=self.elapsed, running=self.running, profiled=self.profiled)
        return df

    def __str__(self) -> str:
        return format_pipeline_text(self)

    def _repr_html_(self) -> str:
        return format_pipeline_html(self)


_DTYPES = {"name": "string", "kind": "string", "backend": "string", "workers": "int64",
           "items_in": "int64", "items_out": "int64", "errors": "int64",
           "max_queue_depth": "Int64"}

#: The columns of the stage table, shared by ``print(p.profile())`` and the notebook's
#: pipeline view (its text; its HTML draws a bar per stage instead).
STAGE_COLUMNS = (
    Column("stage"),
    Column("in", numeric=True),
    Column("out", numeric=True),
    Column("errors", numeric=True),
    Column("items/s", numeric=True, title="items in per second of the stage's own busy time"),
    Column("busy", numeric=True, title="time spent in the stage's function (all workers)"),
    Column("p50", numeric=True, title="median time per item"),
    Column("p95", numeric=True, title="95th percentile time per item"),
    Column("max queue", numeric=True, title="most items the stage held at once"),
)


def stage_cells(s: StageProfile) -> list[str]:
    """One stage's row of the table, as text in :data:`STAGE_COLUMNS` order."""
    name = s.name if s.workers <= 1 else f"{s.name} ({s.backend} x{s.workers})"
    return [name, "-" if s.kind == "source" else format_count(s.items_in),
            format_count(s.items_out), format_count(s.errors), format_number(s.rate),
            format_duration(s.busy), format_duration(s.p50), format_duration(s.p95),
            format_count(s.max_queue_depth)]


def format_stage_table(stages: Iterable[StageProfile], *, rule: bool = True) -> list[str]:
    """The lines of the aligned stage table: its header, a rule, then one line per stage."""
    return text_table(STAGE_COLUMNS, [stage_cells(s) for s in stages], rule=rule)


def _title(p: PipelineProfile) -> str:
    note = "" if p.profiled else ", profiling off: counts only"
    stages = sum(1 for s in p.stages if s.kind != "source")
    if not p.started:
        return f"pipeline not started: {stages} stages{note}"
    rate = f" ({format_rate(p.items_out / p.elapsed, 'items')})" \
        if p.elapsed > 0 and p.items_out else ""  # no "(-)" for a run that emitted nothing
    return (f"pipeline {p.state}: {stages} stages, {format_count(p.items_out)} items out, "
            f"{format_count(p.errors)} errors in {format_duration(p.elapsed)}{rate}{note}")


def format_pipeline_text(profile: PipelineProfile) -> str:
    """The profile as an aligned text table: stage names left, numbers (and their headers)
    right.

    Example:
        >>> print(format_pipeline_text(PipelineProfile()).splitlines()[0])
        pipeline finished: 0 stages, 0 items out, 0 errors in 0 s
    """
    return "\n".join([_title(profile), *format_stage_table(profile.stages)])


def format_pipeline_html(profile: PipelineProfile) -> str:
    """The profile as an HTML table; every stage name is escaped.

    Example:
        >>> row = StageProfile(name="map[0]:<lambda>", kind="map")
        >>> "&lt;lambda&gt;" in format_pipeline_html(PipelineProfile(stages=[row]))
        True
    """
    return html_table(STAGE_COLUMNS, [stage_cells(s) for s in profile.stages],
                      caption=_title(profile), css_class="godnb-pipeline-profile",
                      empty="no stages")
