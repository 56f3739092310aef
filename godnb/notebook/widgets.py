"""Live ipywidgets views of jobs, groups, the queue, the engine, profiles and pipelines.

Each view is an ``ipywidgets.VBox`` that renders snapshots with the pure formatters. How
they stay current without flooding the kernel (one trait write is a comm message, ~80 µs):

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

import functools
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from godnb.core.handles import JobGroup, JobHandle
from godnb.execution.loop import running_loop
from godnb.models.job import JobStatus
from godnb.notebook.formatters import (
    BAR_STYLE,
    ROW_PX,
    bar_state,
    format_engine_html,
    format_engine_text,
    format_group_html,
    format_group_text,
    format_job_html,
    format_job_text,
    format_pipeline_html,
    format_pipeline_text,
    format_profile_html,
    format_profile_text,
    format_queue_html,
    format_queue_text,
    group_bar_html,
    group_label_html,
    job_label_html,
    pipeline_header_html,
    stage_bar_state,
    stage_label_html,
)
from godnb.notebook.live import Refresher, view_loop
from godnb.notebook.logview import LogPanel
from godnb.notebook.snapshots import (
    GroupSnapshot,
    group_counts,
    snapshot_engine,
    snapshot_group,
    snapshot_job,
    snapshot_pipeline,
    snapshot_queue,
    task_names,
)
from godnb.utils.formatting import format_count, format_percent
from godnb.utils.profile import ProfileTable
from godnb.views.bars import BAR_WIDTH_PX, FONT, GAP, STRIPES, name_html, percent_html
from godnb.views.palette import status_colour
from godnb.views.timeline import format_timeline_html, format_timeline_text

__all__ = ["EngineView", "GroupView", "JobView", "PipelineView", "ProfileView", "QueueView",
           "TimelineView", "make_view"]

# Once per view (in its name cell): the animation of a running bar of unknown length, on
# ipywidgets' own progress bar (class "godnb-striped"). Only in live widgets; the static
# fallbacks show the stripes without motion.
_CSS = ("<style>.godnb-striped .progress-bar{" + STRIPES + ";"
        "animation:godnb-stripes 1s linear infinite}"
        "@keyframes godnb-stripes{from{background-position:16px 0}to{background-position:0 0}}"
        # an HTML widget's content box does not shrink below its text by default: let a
        # label shrink with its cell, so its message and error end in an ellipsis
        ".godnb-labelbox .widget-html-content{min-width:0;overflow:hidden}"
        "</style>")
BAR_HEIGHT_PX = 20  # ipywidgets' own bar: 28px high with 4px margins


class _View(W.VBox):
    """A VBox that redraws itself from snapshots through a :class:`Refresher`."""

    # Called after each redraw (on the loop): how a saved display learns that its view
    # reached a final state (godnb.notebook.saved).
    render_hooks: tuple[Callable[[], Any], ...] = ()

    def _start(self, owner: Any, interval: float) -> None:
        self._refresher = Refresher(view_loop(owner), self._refresh, interval)
        self._cleanups: list[Callable[[], Any]] = []

    def _refresh(self) -> bool:
        again = self._render()
        for hook in self.render_hooks:
            hook()
        return again

    def _render(self) -> bool:
        """Write the current state to the traits; True to be polled again."""
        raise NotImplementedError

    # (text formatter, HTML formatter) of what snapshot() returns; a tuple, so no binding.
    _formats: tuple[Callable[[Any], str], Callable[[Any], str]]

    def snapshot(self) -> Any:
        """The state now, as the formatters take it."""
        raise NotImplementedError

    def text(self) -> str:
        """The current state as plain text (the ``text/plain`` fallback)."""
        return self._formats[0](self.snapshot())

    def html(self) -> str:
        """The current state as static HTML (the ``text/html`` fallback)."""
        return self._formats[1](self.snapshot())

    @property
    def refresher(self) -> Refresher:
        return self._refresher

    def flush(self) -> None:
        """Write the current state now; call on the loop's thread (or with no loop)."""
        if self._refresher.closed:
            return
        self._refresher.touch()
        if self._refresh():
            self._refresher.request()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        snapshot = self.snapshot()
        data["text/plain"] = self._formats[0](snapshot)
        data["text/html"] = self._formats[1](snapshot)
        return data

    def _ipython_display_(self) -> None:
        # Shown under a display id, so its final state replaces the live view once it
        # ends (a saved notebook then shows the outcome): see godnb.notebook.saved.
        from godnb.notebook.saved import show_view

        show_view(self)

    def _stop(self) -> None:
        cleanups, self._cleanups = self._cleanups, []
        for fn in cleanups:
            fn()

    def close(self) -> None:
        """Stop following and close the widgets."""
        if getattr(self, "_refresher", None) is not None:
            self._refresher.close()
            self._stop()
        for child in _descendants(self):
            child.close()
        super().close()


def _descendants(box: W.Box) -> list[W.Widget]:
    out: list[W.Widget] = []
    for child in box.children:
        if isinstance(child, W.Box):
            out.extend(_descendants(child))
        out.append(child)
    return out


# The parts of a widget line sit at the x of the static line's parts (views.bars): a
# finished job shown static (godnb.notebook.saved) lines up with a running one's widget.
# So no widget margin of ipywidgets' own (2px a side) between them: the HTML parts carry
# their gaps, and a bar is followed by the same gap as a static bar.
BAR_MARGIN = f"0 {GAP.partition(':')[2]} 0 0"


def _name(name: str, css: bool = True) -> W.HTML:
    """The fixed-width, ellipsised name column (full name on hover)."""
    return W.HTML(value=(_CSS if css else "") + name_html(name),
                  layout=W.Layout(flex="0 0 auto", margin="0"))


def _percent() -> W.HTML:
    return W.HTML(value=percent_html(""), layout=W.Layout(flex="0 0 auto", margin="0"))


def _label() -> W.HTML:
    # Takes the rest of the line and never wraps: a long error is ellipsised inside.
    label = W.HTML(layout=W.Layout(flex="1 1 auto", min_width="0", overflow="hidden",
                                   margin="0"))
    label.add_class("godnb-labelbox")
    return label


def _progress(cls: type[W.FloatProgress] | type[W.IntProgress] = W.FloatProgress,
              **kwargs: Any) -> Any:
    return cls(layout=W.Layout(width=f"{BAR_WIDTH_PX}px", flex="0 0 auto", margin=BAR_MARGIN),
               **kwargs)


def _row(*children: W.Widget) -> W.HBox:
    return W.HBox(list(children), layout=W.Layout(flex_flow="row nowrap",
                                                  align_items="center", width="100%"))


def _set_bar(bar: Any, value: float, maximum: float, style: str, striped: bool) -> None:
    with bar.hold_sync():
        bar.max = maximum
        bar.value = value
        bar.bar_style = style
        if striped:
            bar.add_class("godnb-striped")
        else:
            bar.remove_class("godnb-striped")


# -- one job ---------------------------------------------------------------------------------
class JobView(_View):
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
        bar = _progress(value=0.0, min=0.0, max=1.0)
        label = _label()
        percent = _percent()
        buffer = handle.captured
        if buffer is None and handle.capturing:
            buffer = handle.capture_output()  # made now, so the view can watch it
        log = LogPanel(handle.output_text) if buffer is not None else None
        children: list[W.Widget] = [_row(_name(handle.name), percent, bar, label)]
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
        _set_bar(self.bar, value, total, style, striped)
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
class GroupView(_View):
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
        label = _label()
        percent = _percent()
        mixed = len(task_names(group.handles)) > 1
        self_counts = group_counts(group.handles, mixed)
        rows: list[tuple[str, W.IntProgress, W.HTML, W.HTML]] = []
        for t in self_counts[1]:
            rows.append((t.name, _progress(W.IntProgress, value=0, min=0, max=max(1, t.total)),
                         _percent(), _label()))
        children: list[W.Widget] = [_row(_name(group.name), percent, bar, label)]
        children += [_row(_name(n, css=False), pct, b, lab) for n, b, pct, lab in rows]
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
            _set_bar(bar, t.done, max(1, t.total), style, False)
            self._task_percent[t.name].value = percent_html(
                format_percent(t.done / t.total if t.total else 1.0))
            label.value = (f'<span style="{FONT}">{format_count(t.done)}/'
                           f"{format_count(t.total)}"
                           + (f" (failed {format_count(t.failed)})" if t.failed else "")
                           + "</span>")
        return not finished


# -- engine-wide views: poll while busy, wake on the next event when idle --------------------
class _EngineFollower(_View):
    engine: Any
    _wake: Callable[[], None] | None = None

    def _follow_engine(self, active: bool) -> bool:
        """After a render: keep polling while busy; when idle, wait for the next event."""
        if self.engine.closed:
            self._unwake()
            return False
        if active:
            self._unwake()
            return True
        if self._wake is None:
            request = self._refresher.request
            self._wake = self.engine.add_listener(lambda _event: request())
            self._cleanups.append(self._unwake)
            if self.engine.stats().active:  # a job slipped in before the listener
                request()
        return False

    def _unwake(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            wake()


class QueueView(_EngineFollower):
    """The next ``rows`` jobs (running first, then pending by priority) with counts.

    Each row has a cancel button (``buttons[i]``, calling ``engine.cancel``). The rows are
    one HTML table, so a redraw is one comm message however many rows change; the buttons
    sit in a column beside it, ``ROW_PX`` high like the rows. The view is as tall as what
    it shows: buttons without a row take no room (``layout.display == "none"``), an empty
    queue is one line, and more than ``max_height`` scrolls. Redraws at most every
    ``interval`` seconds (0.25 by default) while jobs are active.
    """

    _formats = (format_queue_text, format_queue_html)

    def __init__(self, engine: Any, rows: int = 20, *, interval: float = 0.25,
                 max_height: str = "420px") -> None:
        if not isinstance(rows, int) or rows < 1:
            raise ValueError(f"rows must be a positive int, got {rows!r}")
        table = W.HTML(layout=W.Layout(margin="0"))
        buttons = [W.Button(icon="times", tooltip="cancel this job",
                            layout=W.Layout(width="32px", height=f"{ROW_PX}px", margin="0",
                                            padding="0", visibility="hidden", display="none",
                                            flex="0 0 auto"))
                   for _ in range(rows)]
        spacer = W.Box(layout=W.Layout(height=f"{2 * ROW_PX}px", margin="0", flex="0 0 auto"))
        column = W.VBox([spacer, *buttons], layout=W.Layout(margin="0", flex="0 0 auto"))
        box = W.HBox([column, table], layout=W.Layout(max_height=max_height, overflow="auto",
                                                      align_items="flex-start"))
        super().__init__(children=[box])
        self.box = box
        self.engine = engine
        self.rows = rows
        self.table = table
        self.buttons = buttons
        self.row_ids: list[str] = []
        for i, button in enumerate(buttons):
            button.on_click(functools.partial(self._on_cancel, i))
        self._start(engine, interval)
        self.flush()

    def snapshot(self) -> Any:
        return snapshot_queue(self.engine, self.rows)

    def cancel_row(self, i: int) -> bool:
        """Cancel the job shown in row ``i`` (what its button does)."""
        if not 0 <= i < len(self.row_ids):
            return False
        cancelled = bool(self.engine.cancel(self.row_ids[i]))
        self._refresher.request()
        return cancelled

    def _on_cancel(self, i: int, _button: W.Button) -> None:
        self.cancel_row(i)

    def _render(self) -> bool:
        s = snapshot_queue(self.engine, self.rows)
        self.table.value = format_queue_html(s)
        self.row_ids = [r.job_id for r in s.rows]
        for i, button in enumerate(self.buttons):
            shown = i < len(s.rows)
            visibility, display = ("visible", None) if shown else ("hidden", "none")
            if button.layout.visibility != visibility or button.layout.display != display:
                with button.layout.hold_sync():
                    button.layout.visibility = visibility
                    button.layout.display = display
        return self._follow_engine(s.active > 0)


class EngineView(_EngineFollower):
    """The engine summary: counts by status, workers per backend, throughput, p99 latency,
    and each worker lane (``thread-1``, ``process-2``, ``async``) with what it runs now."""

    _formats = (format_engine_text, format_engine_html)

    def __init__(self, engine: Any, *, interval: float = 0.5) -> None:
        summary = W.HTML()
        super().__init__(children=[summary])
        self.engine = engine
        self.summary = summary
        self._start(engine, interval)
        self.flush()

    def snapshot(self) -> Any:
        return snapshot_engine(self.engine)

    def _render(self) -> bool:
        s = snapshot_engine(self.engine)
        self.summary.value = format_engine_html(s)
        return self._follow_engine(s.active > 0)


# -- profiles and pipelines ------------------------------------------------------------------
class ProfileView(_EngineFollower):
    """A profile table; pass an Engine instead of a table to follow ``eng.profile()``
    (redrawn at most every ``interval`` seconds while jobs run, and after the next event
    once idle)."""

    _formats = (format_profile_text, format_profile_html)

    def __init__(self, source: ProfileTable | Any, *, interval: float = 1.0) -> None:
        table_html = W.HTML()
        super().__init__(children=[table_html])
        self.source = source
        self.engine = None if isinstance(source, ProfileTable) else source
        self.table_html = table_html
        self._start(source, interval)
        self.flush()

    def snapshot(self) -> ProfileTable:
        source = self.source
        return source if isinstance(source, ProfileTable) else source.profile()

    def update(self, table: ProfileTable) -> None:
        """Show another table (e.g. a fresh ``eng.profile()``) and stop following."""
        self._stop()
        self.source = table
        self.engine = None
        self.flush()

    def _render(self) -> bool:
        self.table_html.value = format_profile_html(self.snapshot())
        if self.engine is None:
            return False
        return self._follow_engine(self.engine.stats().active > 0)


class PipelineView(_View):
    """A line per pipeline stage: its bar, items in and out, its own rate, busy time.

    Each stage's bar is scaled to its own input (what its upstream sent), not to the
    largest stage: a finished ``batch`` or inference stage reads 100%. The source's bar
    is items read out of the source's length (striped when the length is unknown).
    Before any run the view says "not started" and waits for one (``p.submit(eng)``
    or an iteration elsewhere), polling every second for up to ``wait`` seconds; while
    a run goes it polls every ``interval`` until the run ends; ``flush()`` restarts it.
    """

    _formats = (format_pipeline_text, format_pipeline_html)

    def __init__(self, pipeline: Any, *, interval: float = 0.5, wait: float = 600.0) -> None:
        header = W.HTML()
        stages = W.VBox()
        super().__init__(children=[header, stages])
        self.pipeline = pipeline
        self.header = header
        self.stage_box = stages
        self.stage_bars: list[tuple[W.FloatProgress, W.HTML]] = []
        self._stage_percent: list[W.HTML] = []
        self.interval = interval
        self.wait = wait
        self._waited = 0.0
        self._start(pipeline, interval)
        self.flush()

    def snapshot(self) -> Any:
        return snapshot_pipeline(self.pipeline)

    def flush(self) -> None:
        self._waited = 0.0
        super().flush()

    def _render(self) -> bool:
        s = snapshot_pipeline(self.pipeline)
        self.header.value = pipeline_header_html(s)
        if len(self.stage_bars) != len(s.stages):
            self._rebuild([st.name for st in s.stages])
        for (bar, label), pct, st in zip(self.stage_bars, self._stage_percent, s.stages,
                                         strict=True):
            fraction, colour, striped = stage_bar_state(st, s)
            style = "info" if striped else "success" if colour == "completed" else ""
            _set_bar(bar, fraction, 1.0, style, striped)
            pct.value = percent_html("" if not s.started or st.fraction is None
                                     else format_percent(st.fraction))
            label.value = stage_label_html(st, s.state)
        if s.finished:
            return False
        if not s.started:  # wait for a run, slowly, for a while
            self._refresher.interval = max(self.interval, 1.0)
            self._waited += self._refresher.interval
            return self._waited < self.wait
        self._refresher.interval = self.interval
        return True

    def _rebuild(self, names: list[str]) -> None:
        for child in _descendants(self.stage_box):
            child.close()
        self.stage_bars = [(_progress(value=0.0, min=0.0, max=1.0), _label()) for _ in names]
        self._stage_percent = [_percent() for _ in names]
        self.stage_box.children = [
            _row(_name(n, css=i == 0), pct, b, lab)
            for i, (n, (b, lab), pct) in enumerate(zip(names, self.stage_bars,
                                                       self._stage_percent, strict=True))]


# -- the timeline ----------------------------------------------------------------------------
class TimelineView(_EngineFollower):
    """The task stream of ``eng.timeline()``, live: one lane per worker, a mark per run.

    Redrawn at most every ``interval`` seconds (0.5: two updates a second) while jobs run,
    and less often when a redraw is slow (a redraw waits at least four times as long as
    the last one took), so a chart of 100,000 runs does not hog the kernel. Only the
    event loop writes ``chart.value`` (one HTML trait: the SVG); when the engine goes
    idle it draws the final state and waits for the next event.
    """

    _formats = (format_timeline_text, format_timeline_html)

    def __init__(self, source: Any, *, interval: float = 0.5) -> None:
        timeline = source.timeline() if callable(getattr(source, "timeline", None)) \
            else source
        chart = W.HTML(layout=W.Layout(overflow="auto"))
        super().__init__(children=[chart])
        self.timeline = timeline
        self.engine = timeline.engine
        self.chart = chart
        self.interval = interval
        self.render_seconds = 0.0
        self._start(self.engine, interval)
        self.flush()

    def snapshot(self) -> Any:
        return self.timeline.snapshot()

    def _render(self) -> bool:
        started = time.perf_counter()
        self.chart.value = format_timeline_html(self.timeline.snapshot())
        self.render_seconds = time.perf_counter() - started
        self._refresher.interval = max(self.interval, 4 * self.render_seconds)
        return self._follow_engine(self.engine.stats().active > 0)


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
