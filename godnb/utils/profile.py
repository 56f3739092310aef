"""Profile tables: per-task counts and run times, fed by the engine, and their formatters.

:class:`ProfileCollector` is cheap to feed (the engine calls :meth:`~ProfileCollector.record`
on its hot path) and sorts only when a :class:`ProfileTable` is asked for. The formatters
are pure functions of a table, so the notebook widgets and the CLI render the same text.
They draw with :mod:`godnb.utils.tables` and write numbers with :mod:`godnb.utils.formatting`,
as every table godnb prints does (the pipeline's too).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from godnb.utils.formatting import format_count, format_duration, format_time
from godnb.utils.frames import make_frame
from godnb.utils.tables import Column, html_table, text_table
from godnb.utils.timing import DEFAULT_RESERVOIR, check_reservoir, percentile_of

__all__ = [
    "ProfileCollector",
    "ProfileTable",
    "TaskProfile",
    "format_duration",
    "format_profile_html",
    "format_profile_text",
]


class TaskProfile(BaseModel):
    """One task's row in a profile table.

    ``mean``, ``p50``, ``p95`` and ``total_time`` cover runs that executed; cache hits
    count in ``count``/``ok``/``cache_hits`` but add no time, so they do not hide how long
    the work really takes. The latencies are None when every call was a cache hit.

    Example:
        >>> TaskProfile(task="load", count=1, ok=1, mean=0.5, p50=0.5, p95=0.5,
        ...             total_time=0.5).failed
        0
    """

    model_config = ConfigDict(frozen=True)

    task: str
    count: int = 0
    ok: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    cache_hits: int = 0
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    total_time: float = 0.0


class ProfileTable(BaseModel):
    """Per-task timing rows, most total time first; prints as an aligned table.

    Example:
        >>> table = ProfileTable(rows=[TaskProfile(task="fit", count=2, ok=2, mean=1.5,
        ...     p50=1.5, p95=1.9, total_time=3.0)], generated_at=datetime(2024, 1, 1, tzinfo=UTC))
        >>> "fit" in str(table) and "<table" in table._repr_html_()
        True
    """

    model_config = ConfigDict(frozen=True)

    rows: list[TaskProfile] = Field(default_factory=list)
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def to_text(self) -> str:
        """The table as aligned plain text (see :func:`format_profile_text`)."""
        return format_profile_text(self)

    def to_html(self) -> str:
        """The table as an HTML ``<table>`` (see :func:`format_profile_html`)."""
        return format_profile_html(self)

    def to_pandas(self) -> Any:
        """The rows as a :class:`pandas.DataFrame`, one per task, in this table's order.

        Columns are :class:`TaskProfile`'s fields: ``task`` (string), the counts (int64),
        ``mean``, ``p50``, ``p95`` and ``total_time`` in seconds (float64, NaN when no run
        was timed); ``df.attrs["generated_at"]`` is the table's time. Needs pandas
        (``pip install "godnb[pandas]"``).

        Example:
            >>> eng.profile().to_pandas().set_index("task")["p95"]   # doctest: +SKIP
        """
        columns = [(name, _DTYPES.get(name, "int64")) for name in TaskProfile.model_fields]
        df = make_frame("ProfileTable.to_pandas()", columns,
                        (tuple(getattr(row, name) for name, _ in columns)
                         for row in self.rows))
        df.attrs["generated_at"] = self.generated_at
        return df

    def __str__(self) -> str:
        return format_profile_text(self)

    def _repr_html_(self) -> str:
        return format_profile_html(self)


_DTYPES = {"task": "string", "mean": "float64", "p50": "float64", "p95": "float64",
           "total_time": "float64"}


_COLUMNS = (
    Column("task"),
    Column("count", numeric=True, title="calls that ended (runs and cache hits)"),
    Column("ok", numeric=True),
    Column("failed", numeric=True),
    Column("retried", numeric=True, title="calls that needed more than one attempt"),
    Column("cancelled", numeric=True),
    Column("cache hits", numeric=True),
    Column("mean", numeric=True, title="mean run time of the calls that ran"),
    Column("p50", numeric=True, title="median run time"),
    Column("p95", numeric=True, title="95th percentile run time"),
    Column("total", numeric=True, title="run time summed over every call"),
)


def _row_cells(row: TaskProfile) -> list[str]:
    counts = (row.count, row.ok, row.failed, row.retried, row.cancelled, row.cache_hits)
    times = (row.mean, row.p50, row.p95, row.total_time)
    return [row.task, *map(format_count, counts), *map(format_duration, times)]


def _title(table: ProfileTable, now: datetime | None = None) -> str:
    return f"godnb profile at {format_time(table.generated_at, now)}"


def format_profile_text(table: ProfileTable) -> str:
    """The profile as aligned plain text: task names left, numbers (and their headers)
    right, counts with thousands separators, the time in the local zone.

    Example:
        >>> t = ProfileTable(generated_at=datetime(2024, 1, 1, tzinfo=UTC))
        >>> format_profile_text(t).endswith(": no tasks recorded yet")
        True
    """
    if not table.rows:
        return f"{_title(table)}: no tasks recorded yet"
    lines = text_table(_COLUMNS, [_row_cells(row) for row in table.rows])
    return "\n".join([_title(table), *lines])


def format_profile_html(table: ProfileTable) -> str:
    """The profile as an HTML table (numbers right-aligned under right-aligned headers);
    every name is escaped.

    Example:
        >>> row = TaskProfile(task="<b>", count=1, ok=1, total_time=0.1)
        >>> "&lt;b&gt;" in format_profile_html(ProfileTable(rows=[row]))
        True
    """
    return html_table(_COLUMNS, [_row_cells(row) for row in table.rows],
                      caption=_title(table), css_class="godnb-profile",
                      empty="no tasks recorded yet")


@dataclass(slots=True)
class _TaskStats:
    samples: deque[float]
    count: int = 0
    ok: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    cache_hits: int = 0
    timed_runs: int = 0
    total_time: float = 0.0

    def copy(self) -> _TaskStats:
        return replace(self, samples=deque(self.samples, maxlen=self.samples.maxlen))

    def profile(self, task: str) -> TaskProfile:
        ordered = sorted(self.samples)
        latency: tuple[float | None, ...] = (None, None, None)
        if self.timed_runs:
            latency = (self.total_time / self.timed_runs,
                       percentile_of(ordered, 50), percentile_of(ordered, 95))
        return TaskProfile(
            task=task, count=self.count, ok=self.ok, failed=self.failed,
            retried=self.retried, cancelled=self.cancelled, cache_hits=self.cache_hits,
            mean=latency[0], p50=latency[1], p95=latency[2], total_time=self.total_time,
        )


class ProfileCollector:
    """Per-task run counts and latencies, fed by the engine, read as a :class:`ProfileTable`.

    Args:
        reservoir: Recent run times kept per task for p50/p95.
        now: Wall clock for ``generated_at`` (timezone-aware).

    A cancelled run counts as ``cancelled``, not ``failed``, and adds no time (it was cut
    short). Cache hits add no time either (see
    :class:`TaskProfile`).

    Example:
        >>> prof = ProfileCollector()
        >>> prof.record("fit", ok=True, run_time=1.0)
        >>> prof.record("fit", ok=False, run_time=3.0, retried=True)
        >>> row = prof.table().rows[0]
        >>> row.count, row.ok, row.failed, row.retried, row.mean
        (2, 1, 1, 1, 2.0)
    """

    def __init__(
        self, reservoir: int = DEFAULT_RESERVOIR,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        check_reservoir(reservoir)
        self._reservoir = reservoir
        self._now = now
        self._tasks: dict[str, _TaskStats] = {}
        self._lock = threading.Lock()

    def record(
        self, task: str, *, ok: bool, run_time: float, retried: bool = False,
        cancelled: bool = False, cache_hit: bool = False,
    ) -> None:
        """Count one finished call of ``task`` that took ``run_time`` seconds."""
        with self._lock:
            stats = self._tasks.get(task)
            if stats is None:
                stats = self._tasks[task] = _TaskStats(deque(maxlen=self._reservoir))
            stats.count += 1
            stats.retried += retried
            if cancelled:
                stats.cancelled += 1
            elif ok:
                stats.ok += 1
            else:
                stats.failed += 1
            if cache_hit:
                stats.cache_hits += 1
            elif not cancelled:  # a cut-short run says nothing about the task's run time
                stats.timed_runs += 1
                stats.total_time += run_time
                stats.samples.append(run_time)

    def table(self) -> ProfileTable:
        """A snapshot of every task, most total time first, then by name."""
        with self._lock:  # copy under the lock, sort outside it: record() must not wait
            copies = [(task, stats.copy()) for task, stats in self._tasks.items()]
        rows = [stats.profile(task) for task, stats in copies]
        rows.sort(key=lambda row: (-row.total_time, row.task))
        return ProfileTable(rows=rows, generated_at=self._now())

    def tasks(self) -> list[str]:
        """The task names seen so far, sorted."""
        with self._lock:
            return sorted(self._tasks)

    def reset(self) -> None:
        """Forget every recorded run."""
        with self._lock:
            self._tasks.clear()
