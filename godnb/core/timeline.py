"""Where the time went: every finished run, per worker lane, for ``eng.timeline()``.

:class:`TimelineRecorder` keeps, for each ended attempt of a job, its worker, start,
end, task and outcome in parallel columns used as a ring buffer: the most recent
``capacity`` runs (100,000 by default, ~4 MB at most), the oldest overwritten after that.
The columns grow by doubling up to ``capacity``, so an engine that runs ten jobs holds ten
entries' worth.

Recording is on the hot path of every job, under the runtime's lock: six stores, no lookup
(~0.25 us). The numbers go into C arrays (start, end, status), so the recorder keeps no
float objects alive (as list items, the floats of the last 100k runs of a drained million-
job queue, scattered over the heap, kept 13% of its peak RSS from going back to the OS; in
arrays 8%, and 5% with no timeline at all). The worker, backend and task are references to
objects the engine holds anyway, in lists; workers become lanes and tasks get ids when the
timeline is read (:meth:`register`). Measured on no-op jobs, what was tried before cost
more: looking up the lane and task per run, ~0.5 us, and with four thread workers ~2 us of
CPU a job (others waited for the lock held longer); a tuple per run in a queue, ~0.2 us,
but the allocations made a 100k-job async map run ten times as many garbage collections,
one of them full (+10% wall time).

Lanes: a thread worker is ``thread-N`` (its thread's name), a process worker
``process-N`` (its slot), and backends without workers of their own, whose runs overlap
(``async``, ``dask``), are one lane each, drawn in sub-rows.

:class:`Timeline` is what ``eng.timeline()`` returns: it takes a
:class:`~godnb.views.timeline.TimelineData` snapshot (finished runs plus the ones still
running), displays as a live chart in a kernel and as SVG elsewhere.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from godnb.models.job import JobStatus
from godnb.views.timeline import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    TimelineData,
    format_timeline_html,
    format_timeline_svg,
    format_timeline_text,
    lane_order,
)

if TYPE_CHECKING:
    from godnb.core.handles import JobHandle
    from godnb.core.runtime import Runtime
    from godnb.execution.executor import Run

__all__ = ["DEFAULT_CAPACITY", "STATUS_CODE", "Timeline", "TimelineRecorder", "lane_label"]

DEFAULT_CAPACITY = 100_000
_INITIAL = 1024
_MAX_IDS = 65_535  # lanes and tasks are stored as unsigned shorts
STATUS_CODE = {JobStatus.COMPLETED: COMPLETED, JobStatus.FAILED: FAILED,
               JobStatus.CANCELLED: CANCELLED}


def lane_label(worker: Any, backend: str, index: int) -> str:
    """A worker's lane name: ``thread-3`` (a thread ``godnb-thread-3``), ``process-2`` (a
    process slot with ``index`` 1), the backend's name for runs without a worker;
    else ``backend-index`` (numbered in order of appearance)."""
    if worker is None:
        return backend
    if isinstance(worker, threading.Thread):
        name = worker.name
        return name[len("godnb-"):] if name.startswith("godnb-") else name
    slot = getattr(worker, "index", None)
    if isinstance(slot, int):
        return f"{backend}-{slot + 1}"
    return f"{backend}-{index}"


class TimelineRecorder:
    """The last ``capacity`` runs: lane, start, end, task, status; a ring of C arrays.

    Not thread-safe by itself: the runtime calls :meth:`record` and :meth:`snapshot`
    under its lock. ``clock`` must be the clock runs are stamped with (``Run.started``).

    Example:
        >>> rec = TimelineRecorder(capacity=2, clock=lambda: 5.0)
        >>> class R: worker, backend, started = None, "async", 1.0
        >>> rec.record(R, "fit", COMPLETED); rec.record(R, "fit", FAILED)
        >>> rec.record(R, "load", COMPLETED)           # the ring drops the oldest
        >>> data = rec.snapshot()
        >>> data.runs, data.recorded, [data.tasks[t] for t in data.task]
        (2, 3, ['fit', 'load'])
    """

    __slots__ = ("_backend", "_clock", "_end", "_lanes", "_pos", "_seen", "_size", "_start",
                 "_status", "_task", "_tasks", "_worker", "capacity", "count", "lane_names",
                 "origin", "packed", "task_names", "wall")

    def __init__(self, capacity: int = DEFAULT_CAPACITY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        self.capacity = capacity
        self._clock = clock
        self.count = 0  # runs recorded in all
        self._pos = 0   # next slot
        self._seen = 0  # runs whose worker and task have ids (see register)
        self._size = size = min(_INITIAL, capacity)
        self._start = array("d", bytes(8 * size))
        self._end = array("d", bytes(8 * size))
        self._status = array("B", bytes(size))
        self._worker: list[Any] = [None] * size
        self._backend: list[str] = [""] * size
        self._task: list[str] = [""] * size
        self._lanes: dict[Any, int] = {}   # worker object (or backend name) -> lane id
        self._tasks: dict[str, int] = {}
        self.lane_names: list[str] = []
        self.task_names: list[str] = []
        self.packed: set[int] = set()      # lanes whose runs overlap
        self.origin = clock()              # this clock reading ...
        self.wall = datetime.now(UTC)      # ... is this wall time

    def record(self, run: Run, task: str, status: int, end: float | None = None) -> None:
        """``run`` ended at ``end`` (default: now) with ``status`` (a
        :mod:`godnb.views.timeline` code). The runtime passes ``end``: it read the clock."""
        i = self._pos
        if i == self._size:
            i = self._make_room()
        self._start[i] = run.started
        self._end[i] = self._clock() if end is None else end
        self._worker[i] = run.worker
        self._backend[i] = run.backend
        self._task[i] = task
        self._status[i] = status
        self._pos = i + 1
        self.count += 1

    def _make_room(self) -> int:
        """Grow the columns (doubling up to ``capacity``) or wrap around; the next slot."""
        if self._size < self.capacity:
            grow = min(self._size, self.capacity - self._size)
            for numbers in (self._start, self._end, self._status):
                numbers.frombytes(bytes(numbers.itemsize * grow))
            for refs in (self._worker, self._backend, self._task):
                refs.extend([refs[0]] * grow)
            self._size += grow
            return self._pos
        self._pos = 0
        return 0

    def lane_of(self, worker: Any, backend: str) -> int:
        """The lane id of ``worker`` (``None``: the backend's shared lane), registered
        if new."""
        lane = self._lanes.get(backend if worker is None else worker)
        return lane if lane is not None else self._add_lane(worker, backend)

    def _add_lane(self, worker: Any, backend: str) -> int:
        key = backend if worker is None else worker
        if len(self.lane_names) >= _MAX_IDS:  # pathological: share the last lane
            return _MAX_IDS - 1
        lane = len(self.lane_names)
        self.lane_names.append(lane_label(worker, backend, lane + 1))
        if worker is None:
            self.packed.add(lane)
        self._lanes[key] = lane
        return lane

    def _add_task(self, task: str) -> int:
        if len(self.task_names) >= _MAX_IDS - 1:
            task = "(other tasks)"
            found = self._tasks.get(task)
            if found is not None:
                return found
        t = len(self.task_names)
        self.task_names.append(task)
        self._tasks[task] = t
        return t

    def register(self) -> None:
        """Give lanes and task ids to the workers and tasks of runs recorded since the last
        call, in the order the runs ended (what :meth:`record` leaves for later)."""
        n = min(self.count, self._size)
        new = min(self.count - self._seen, n)
        self._seen = self.count
        for k in range(self._pos - new, self._pos):  # a negative k: the ring wrapped
            self.lane_of(self._worker[k], self._backend[k])
            self.task_id(self._task[k])

    def snapshot(self, running: list[tuple[int, float, int]] | None = None,
                 title: str = "timeline") -> TimelineData:
        """The held runs, oldest first, plus ``running`` (lane, start, task) ones."""
        self.register()
        n = min(self.count, self._size)
        cut = self._pos if self.count > self._size else 0
        start, end = _ordered(self._start, cut, n), _ordered(self._end, cut, n)
        status = _ordered(self._status, cut, n)
        # Workers and tasks get their ids here, in the order their runs ended.
        lane = array("H", map(self.lane_of, _ordered(self._worker, cut, n),
                              _ordered(self._backend, cut, n)))
        task = array("H", map(self.task_id, _ordered(self._task, cut, n)))
        now = self._clock()
        for lane_id, started, task_id in running or ():
            start.append(started)
            end.append(now)
            lane.append(lane_id)
            task.append(task_id)
            status.append(RUNNING)
        return TimelineData(
            lanes=tuple(self.lane_names), tasks=tuple(self.task_names), start=start, end=end,
            lane=lane, task=task, status=status, now=now, origin=self.origin, wall=self.wall,
            packed=frozenset(self.packed), recorded=self.count + len(running or ()),
            title=title)

    def task_id(self, task: str) -> int:
        t = self._tasks.get(task)
        return t if t is not None else self._add_task(task)

    def clear(self) -> None:
        """Forget every run (lanes and tasks keep their ids and colours)."""
        self.count = self._pos = self._seen = 0


_Column = TypeVar("_Column", "list[Any]", "array[Any]")


def _ordered(column: _Column, cut: int, n: int) -> _Column:
    """A copy of a ring's first ``n`` entries, oldest first (``cut``: the oldest slot)."""
    return column[cut:n] + column[:cut] if cut else column[:n]


class Timeline:
    """``eng.timeline()``: the task stream of an engine, one lane per worker.

    Displays as a live chart in a kernel (redrawn at most twice a second while jobs run)
    and as static SVG elsewhere (``text/html``); ``str()`` is a text strip per lane.
    :meth:`snapshot` gives the data; :meth:`to_svg` / :meth:`save` write it out.

    Example:
        >>> with Engine() as eng:                                  # doctest: +SKIP
        ...     eng.map(work, range(100)).results()
        ...     eng.timeline()
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @property
    def runtime(self) -> Runtime:
        return self.engine._rt  # type: ignore[no-any-return]

    def snapshot(self) -> TimelineData:
        """Finished runs (the last ``capacity``) and the runs under way now."""
        rt = self.runtime
        with rt.lock:
            rec = rt.timeline
            rec.register()  # the ended runs' lanes and tasks first, as they ended
            running = []
            for h in rt.running.values():
                run = h.run
                if run is not None and not run.ended:
                    running.append((rec.lane_of(run.worker, run.backend), run.started,
                                    rec.task_id(h.job.task_name)))
            return rec.snapshot(running, title=f"timeline {self.engine.name}")

    def lanes_now(self) -> list[tuple[str, str, list[JobHandle]]]:
        """Each worker lane now: (name, backend, the jobs it runs), in reading order.

        Thread and process workers are listed idle or busy; the shared lanes of async
        and Dask jobs appear while they run something or ran something before.
        """
        rt = self.runtime
        keys = [(name, ex.worker_keys()) for name, ex in rt.executors.items()]
        with rt.lock:  # the executors' own locks are taken above, never under this one
            rec = rt.timeline
            rec.register()  # shared lanes that ran something before
            lanes: dict[int, tuple[str, list[JobHandle]]] = {}
            for backend, workers in keys:
                for worker in workers:
                    lanes.setdefault(rec.lane_of(worker, backend), (backend, []))
            for lane in rec.packed:
                backend = rec.lane_names[lane]
                if backend in rt.executors:
                    lanes.setdefault(lane, (backend, []))
            for h in rt.running.values():
                run = h.run
                if run is not None and not run.ended:
                    lane = rec.lane_of(run.worker, run.backend)
                    lanes.setdefault(lane, (run.backend, []))[1].append(h)
            names = list(rec.lane_names)
        order = lane_order(names)
        return [(names[k], *lanes[k]) for k in order if k in lanes]

    def to_svg(self) -> str:
        """The chart as a standalone SVG document."""
        return format_timeline_svg(self.snapshot(), standalone=True)

    def save(self, path: str) -> str:
        """Write the chart to ``path`` (``.svg``: SVG; anything else: an HTML report of
        the engine, as :meth:`godnb.Engine.report`). Returns the path."""
        if str(path).lower().endswith(".svg"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.to_svg())
            return str(path)
        return str(self.engine.report(path))

    def __str__(self) -> str:
        return format_timeline_text(self.snapshot())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return format_timeline_html(self.snapshot())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        from godnb.core.display import mimebundle

        return mimebundle(self)

    def _ipython_display_(self) -> None:
        # Live under a display id, rewritten with the static chart whenever the engine
        # goes idle (as the engine's own views), so a saved notebook keeps the picture.
        from godnb.core.display import ipython_display

        ipython_display(self)
