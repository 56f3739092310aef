"""Live views of a whole engine: the queue, the engine and its workers, the profile, a
pipeline's stages and the timeline (the design every view shares:
:mod:`godnb.notebook.widgets`).

The engine-wide views poll O(1) state on the loop while there is work and, once the engine
is idle, wait for its next event through a one-shot listener.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from godnb.notebook.formatters import (
    ROW_PX,
    format_engine_html,
    format_engine_text,
    format_pipeline_html,
    format_pipeline_text,
    format_profile_html,
    format_profile_text,
    format_queue_html,
    format_queue_text,
    pipeline_header_html,
    stage_bar_state,
    stage_label_html,
)
from godnb.notebook.snapshots import (
    snapshot_engine,
    snapshot_pipeline,
    snapshot_queue,
)
from godnb.notebook.widget_parts import (
    View,
    descendants,
    label_cell,
    name_cell,
    percent_cell,
    progress_bar,
    row,
    set_bar,
)
from godnb.utils.formatting import format_percent
from godnb.utils.profile import ProfileTable
from godnb.views.bars import percent_html
from godnb.views.timeline import format_timeline_html, format_timeline_text

__all__ = ["EngineView", "PipelineView", "ProfileView", "QueueView", "TimelineView"]

# -- engine-wide views: poll while busy, wake on the next event when idle --------------------
class _EngineFollower(View):
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


class PipelineView(View):
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
            set_bar(bar, fraction, 1.0, style, striped)
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
        for child in descendants(self.stage_box):
            child.close()
        self.stage_bars = [(progress_bar(value=0.0, min=0.0, max=1.0), label_cell()) for _ in names]
        self._stage_percent = [percent_cell() for _ in names]
        self.stage_box.children = [
            row(name_cell(n, css=i == 0), pct, b, lab)
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
