"""Live ipywidgets views of jobs and groups here, of the queue, the engine, profiles,
pipelines and the timeline in :mod:`godnb.notebook.dashboards`; :func:`make_view` makes
any of them by kind.

Each view is an ``ipywidgets.VBox`` (:class:`~godnb.notebook.widget_parts.View`) that
renders snapshots with the pure formatters. How they stay current without flooding the
kernel (one trait write is a comm message, ~80 µs):

* Only the event loop writes traits. Anything that happens on a worker thread just calls
  ``Refresher.request()``, which schedules at most one flush on the loop, at least
  ``interval`` seconds after the previous one; ``hold_sync()`` batches a widget's traits
  into one message; unchanged values send nothing. The final state is always flushed.
* :class:`JobView` follows its job through the job's own event stream (``h.events()``: a
  per-job subscription, so other jobs pay nothing) and stops when the job ends.
* :class:`GroupView`, :class:`QueueView`, :class:`EngineView` summarise many jobs. They
  poll O(1) state (a group's done count, the schedulers' top rows, ``eng.stats()``) on
  the loop while there is work, instead of an engine listener: with any listener
  attached the runtime builds an event object for every job transition, which made a
  100,000-job ``map`` 2.5x slower in our measurements. When the engine goes idle they
  attach a one-shot listener that wakes them on the next event.

Every view's ``_repr_mimebundle_`` carries ``text/plain`` and ``text/html`` beside the
widget, for nbval, GitHub and frontends without widgets. Call ``view.flush()`` to write
the current state now (tests do; so can a notebook before saving widget state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from godnb.core.handles import JobGroup, JobHandle
from godnb.execution.loop import running_loop
from godnb.models.job import JobStatus
from godnb.notebook.dashboards import (
    EngineView,
    PipelineView,
    ProfileView,
    QueueView,
    TimelineView,
)
from godnb.notebook.formatters import (
    BAR_STYLE,
    bar_state,
    format_group_html,
    format_group_text,
    format_job_html,
    format_job_text,
    group_bar_html,
    group_label_html,
    job_label_html,
)
from godnb.notebook.logview import LogPanel
from godnb.notebook.snapshots import (
    GroupSnapshot,
    group_counts,
    snapshot_group,
    snapshot_job,
    task_names,
)
from godnb.notebook.widget_parts import (
    BAR_HEIGHT_PX,
    BAR_MARGIN,
    View,
    label_cell,
    name_cell,
    percent_cell,
    progress_bar,
    row,
    set_bar,
)
from godnb.utils.formatting import format_count, format_percent
from godnb.views.bars import FONT, percent_html
from godnb.views.palette import status_colour

__all__ = ["GroupView", "JobView", "make_view"]

# -- one job ---------------------------------------------------------------------------------
class JobView(View):
    """A job's line, tqdm's layout: name, percentage, bar, done/total, elapsed<ETA, rate.

    Green on success, red on failure, orange when cancelled. A job without progress shows
    its state and elapsed time, its bar full in the state's colour (striped and moving
    while it runs). The name column has a fixed width, so bars of different cells align.

    Traits to read: ``bar.value``, ``bar.max``, ``bar.bar_style`` (``"success"``,
    ``"danger"``, ``"warning"``, ``"info"`` running without a total), ``percent.value``
    and ``label.value`` (HTML) and, for a job whose output is captured (every job in a
    kernel), ``log_panel`` (a :class:`LogPanel` of what it printed, under the line).

    Example:
        >>> JobView(eng.submit(train))   # doctest: +SKIP
    """

    _formats = (format_job_text, format_job_html)

    def __init__(self, handle: JobHandle, *, interval: float = 0.1) -> None:
        bar = progress_bar(value=0.0, min=0.0, max=1.0)
        label = label_cell()
        percent = percent_cell()
        buffer = handle.captured
        if buffer is None and handle.capturing:
            buffer = handle.capture_output()  # made now, so the view can watch it
        log = LogPanel(handle.output_text) if buffer is not None else None
        children: list[W.Widget] = [row(name_cell(handle.name), percent, bar, label)]
        if log is not None:
            children.append(log)
        super().__init__(children=children)
        self.handle = handle
        self.bar = bar
        self.percent = percent
        self.label = label
        self.log_panel = log
        self._buffer = buffer
        self._buffer_version = -1
        self._start(handle, interval)
        self._task: Any = None
        done = handle.done()  # read before rendering: a job ending in between is replayed
        self._render()
        if not done:
            self._follow()

    def snapshot(self) -> Any:
        return snapshot_job(self.handle)

    def _render(self) -> bool:
        s = snapshot_job(self.handle)
        fraction, _, striped = bar_state(s)
        total = s.total or 1.0
        value = total if fraction is None or fraction >= 1 or not s.total else \
            max(0.0, min(s.done, total))
        if s.status is JobStatus.PENDING:
            value = 0.0
        style = "info" if striped else BAR_STYLE[s.status]
        set_bar(self.bar, value, total, style, striped)
        # ipywidgets' "warning" orange is 2.7:1 on white: a cancelled bar takes the darker
        # shade of the theme (see godnb.views.palette)
        colour = status_colour("cancelled") if s.status is JobStatus.CANCELLED else None
        if self.bar.style.bar_color != colour:
            self.bar.style.bar_color = colour
        pct = format_percent(s.fraction) if s.total or s.status is JobStatus.COMPLETED else ""
        self.percent.value = percent_html(pct)
        self.label.value = job_label_html(s)
        buffer = self._buffer
        if self.log_panel is not None and buffer is not None \
                and buffer.version != self._buffer_version:
            self._buffer_version = buffer.version
            self.log_panel.update(s.output)
        if s.status.is_terminal:
            self._stop()
        elif s.status is JobStatus.RUNNING:
            self._refresher.request_in(1.0)  # the elapsed time ticks with no event
        return False

    def _follow(self) -> None:
        refresher = self._refresher
        if self._buffer is not None:
            self._cleanups.append(self._buffer.watch(refresher.request))
        loop = refresher.loop
        if loop is None:
            return

        def start() -> None:
            if not refresher.closed and not loop.is_closed():
                self._task = loop.create_task(self._consume())

        def cancel() -> None:
            task = self._task
            if task is not None and not task.done() and not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)

        self._cleanups.append(cancel)
        if running_loop() is loop:
            start()
        else:
            loop.call_soon_threadsafe(start)

    async def _consume(self) -> None:
        # The job's own stream: status changes in order, progress coalesced while behind.
        try:
            async for _event in self.handle.events():
                self._refresher.request()
        finally:
            self._refresher.request()  # the final state, also after a cancelled stream


# -- a group ---------------------------------------------------------------------------------
class GroupView(View):
    """One line for an ``eng.map`` group (and one per task name when names are mixed).

    Its bar is stacked, like Dask's: the completed share (blue while the group runs,
    green once it ended), the failed share red, the cancelled share orange: 4 failures
    among 100 jobs are a 4% red segment, not a red bar. ``bar.value`` is that bar's HTML;
    ``segments`` maps each drawn status to (share, count). The first error stays on the
    line, ellipsised, the full text in its tooltip.

    Polls the group's done counter (O(1)) up to 10 times a second while jobs run; counts
    by status (which walk every handle) refresh at most every ``count_interval`` seconds
    and once at the end.
    """

    _formats = (format_group_text, format_group_html)

    def __init__(self, group: JobGroup, *, interval: float = 0.1,
                 count_interval: float = 1.0) -> None:
        bar = W.HTML(layout=W.Layout(flex="0 0 auto", height="28px", margin=BAR_MARGIN,
                                     align_items="center"))
        label = label_cell()
        percent = percent_cell()
        mixed = len(task_names(group.handles)) > 1
        self_counts = group_counts(group.handles, mixed)
        rows: list[tuple[str, W.IntProgress, W.HTML, W.HTML]] = []
        for t in self_counts[1]:
            rows.append((t.name, progress_bar(W.IntProgress, value=0, min=0, max=max(1, t.total)),
                         percent_cell(), label_cell()))
        children: list[W.Widget] = [row(name_cell(group.name), percent, bar, label)]
        children += [row(name_cell(n, css=False), pct, b, lab) for n, b, pct, lab in rows]
        super().__init__(children=children)
        self.group = group
        self.bar = bar
        self.percent = percent
        self.label = label
        self.segments: dict[str, tuple[float, int]] = {}
        self.task_bars = {n: (b, lab) for n, b, _pct, lab in rows}
        self._task_percent = {n: pct for n, _b, pct, _lab in rows}
        self.count_interval = count_interval
        self.mixed = mixed
        self._counts = self_counts
        self._counted_at = time.monotonic()
        self._start(group.handles, interval)
        self.flush()

    def snapshot(self) -> GroupSnapshot:
        return snapshot_group(self.group, counts=self._current_counts(force=False))

    def _current_counts(self, force: bool) -> Any:
        now = time.monotonic()
        if force or now - self._counted_at >= self.count_interval:
            self._counts = group_counts(self.group.handles, self.mixed)
            self._counted_at = now
        return self._counts

    def _render(self) -> bool:
        finished = self.group.done()
        s = snapshot_group(self.group, counts=self._current_counts(force=finished))
        self.segments = {status: (share, n) for status, share, n in s.shares()}
        self.bar.value = group_bar_html(s, height_px=BAR_HEIGHT_PX, gap=False)
        self.percent.value = percent_html(format_percent(s.fraction))
        self.label.value = group_label_html(s)
        for t in s.per_task:
            bar, label = self.task_bars.get(t.name, (None, None))
            if bar is None or label is None:
                continue
            style = ("danger" if t.failed else "success") if t.done >= t.total else ""
            set_bar(bar, t.done, max(1, t.total), style, False)
            self._task_percent[t.name].value = percent_html(
                format_percent(t.done / t.total if t.total else 1.0))
            label.value = (f'<span style="{FONT}">{format_count(t.done)}/'
                           f"{format_count(t.total)}"
                           + (f" (failed {format_count(t.failed)})" if t.failed else "")
                           + "</span>")
        return not finished


_FACTORIES: dict[str, Callable[..., W.Widget]] = {
    "job": JobView, "group": GroupView, "queue": QueueView, "engine": EngineView,
    "profile": ProfileView, "pipeline": PipelineView, "timeline": TimelineView,
}


def make_view(kind: str, obj: Any, **kwargs: Any) -> W.Widget:
    """The live view of ``obj`` by kind name (what ``godnb.core.display.view`` calls)."""
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise ValueError(f"unknown view {kind!r}; valid views: {sorted(_FACTORIES)}") from None
    return factory(obj, **kwargs)
