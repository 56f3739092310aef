"""The task stream: one lane per worker, one mark per run, as SVG, HTML and text.

Like Dask's task stream: time runs left to right, each worker (``thread-1``..``n``,
``process-1``..``n``, ``async``, ``dask``) is a lane, and each run of a job (an attempt)
is a mark from its start to its end, coloured by task. A failed run has a red outline
and a red tick under it; a cancelled one a dashed outline and a paler fill; a run still
going is striped and ends at "now". Every mark has a hover title: task, duration,
status, lane, start.

It stays readable and bounded at any number of runs (100,000 and more):

* lanes whose runs overlap (the async and Dask backends run many at once) are drawn in
  up to :data:`MAX_SUBROWS` sub-rows, packed greedily by start time;
* per row, a mark narrower than ``min_px`` pixels, or one that overlaps the previous
  mark, is merged with its neighbours into one rect (coloured by its main task, the
  title counting what it holds, a red tick if any of it failed);
* if the chart would still have more than ``max_elements`` SVG elements, ``min_px``
  doubles and the rows are merged again, so the DOM stays bounded whatever the data.

Example:
    >>> data = TimelineData(lanes=("thread-1",), tasks=("fit",), start=[0.0], end=[1.5],
    ...                     lane=[0], task=[0], status=[COMPLETED], now=2.0)
    >>> svg = format_timeline_svg(data)
    >>> svg.startswith("<svg") and "fit" in svg and "thread-1" in svg
    True
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from godnb.utils.formatting import (
    ellipsize,
    format_clock,
    format_count,
    format_duration,
    format_time,
)
from godnb.views.palette import FAILED_MARK, TRACK, task_colour

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "MAX_ELEMENTS",
    "MAX_SUBROWS",
    "RETRIED",
    "RUNNING",
    "STATUS_NAMES",
    "TimelineData",
    "format_timeline_html",
    "format_timeline_svg",
    "format_timeline_text",
    "lane_order",
    "timeline_summary",
]

# Status codes of a run (one byte each in the recorder's arrays).
COMPLETED, FAILED, CANCELLED, RETRIED, RUNNING = 0, 1, 2, 3, 4
STATUS_NAMES = ("completed", "failed", "cancelled", "failed, then retried", "running")

MAX_ELEMENTS = 3000  # SVG elements of one chart, at most (marks, merged marks, ticks)
MAX_SUBROWS = 6      # rows of a lane whose runs overlap
MAX_LANES = 40       # lanes drawn one by one; the rest share one last lane
PLOT_PX = 860        # width of the time axis
LABEL_PX = 92        # lane labels, left of the plot
ROW_PX = 16          # a lane of one row
SUBROW_PX = 10       # each row of a packed lane
LANE_GAP = 4
MIXED = "#9e9e9e"    # a merged mark with no main task
_FONT = "font-family:var(--jp-code-font-family,monospace);font-size:11px"
_BAD = frozenset((FAILED, RETRIED))
_BACKEND_RANK = {"thread": 0, "process": 1, "async": 2, "dask": 3, "inline": 4}


@dataclass(frozen=True, slots=True)
class TimelineData:
    """Runs to draw: parallel sequences, one entry per run (an attempt of a job).

    A slotted dataclass over plain sequences (``array('d')`` from the engine's ring
    buffer, or lists), not a pydantic model: 100,000 runs must not cost 100,000 model
    validations. Times are seconds on one clock; ``origin`` and ``wall`` pin that clock
    to wall time (for the axis caption); ``now`` is where running runs end.

    ``packed`` names lanes whose runs overlap (drawn in sub-rows); ``recorded`` counts
    every run ever recorded (more than ``len(start)`` once the ring buffer wrapped);
    ``note`` says what is approximate (e.g. a timeline rebuilt from a store).
    """

    lanes: tuple[str, ...]
    tasks: tuple[str, ...]
    start: Sequence[float]
    end: Sequence[float]
    lane: Sequence[int]
    task: Sequence[int]
    status: Sequence[int]
    now: float
    origin: float = 0.0
    wall: datetime | None = None
    packed: frozenset[int] = field(default_factory=frozenset)
    recorded: int = -1
    title: str = "timeline"
    note: str | None = None

    @property
    def runs(self) -> int:
        return len(self.start)

    @property
    def dropped(self) -> int:
        """Runs recorded but no longer held (the oldest, once the ring wrapped)."""
        return max(0, self.recorded - len(self.start))

    def wall_at(self, t: float) -> datetime | None:
        """The wall-clock time of clock reading ``t`` (None without ``wall``)."""
        if self.wall is None:
            return None
        return self.wall + timedelta(seconds=t - self.origin)

    @classmethod
    def empty(cls, title: str = "timeline", now: float = 0.0) -> TimelineData:
        return cls(lanes=(), tasks=(), start=[], end=[], lane=[], task=[], status=[],
                   now=now, title=title)


# -- lanes -------------------------------------------------------------------------------------
def _lane_key(label: str) -> tuple[int, str, int]:
    m = re.fullmatch(r"(.*?)-?(\d+)", label)
    prefix, number = (m.group(1), int(m.group(2))) if m else (label, -1)
    return (_BACKEND_RANK.get(prefix, len(_BACKEND_RANK)), prefix, number)


def lane_order(labels: Sequence[str]) -> list[int]:
    """Lane indices in reading order: threads, processes, async, dask, inline, others;
    numbered lanes by number (``thread-2`` before ``thread-10``).

    Example:
        >>> lane_order(["async", "thread-10", "process-1", "thread-2"])
        [3, 1, 2, 0]
    """
    return sorted(range(len(labels)), key=lambda i: _lane_key(labels[i]))


@dataclass(slots=True)
class _Row:
    """One drawn row: its lane, its y, and the run indices in it (by start)."""

    lane: int
    label: str
    y: float
    height: float
    runs: list[int]
    first: bool  # the lane's first row (carries the label)
    peak: int = 1  # most runs at once in the lane (packed lanes)


def _pack(idx: list[int], start: Sequence[float], end: Sequence[float]) -> list[list[int]]:
    """Runs (sorted by start) into rows where they do not overlap; at most MAX_SUBROWS,
    the overflow goes to the row that frees first (and is merged there)."""
    rows: list[list[int]] = []
    ends: list[float] = []
    for i in idx:
        s = start[i]
        for r, e in enumerate(ends):
            if e <= s:
                rows[r].append(i)
                ends[r] = end[i]
                break
        else:
            if len(rows) < MAX_SUBROWS:
                rows.append([i])
                ends.append(end[i])
            else:
                r = min(range(len(ends)), key=ends.__getitem__)
                rows[r].append(i)
                ends[r] = max(ends[r], end[i])
    for row in rows:  # the overflow appended out of order
        row.sort(key=start.__getitem__)
    return rows


def _peak(idx: list[int], start: Sequence[float], end: Sequence[float]) -> int:
    """The most runs under way at once (a sweep over starts and ends)."""
    events = sorted([(start[i], 1) for i in idx] + [(end[i], -1) for i in idx])
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def _rows(data: TimelineData, ends: Sequence[float], top: float) -> list[_Row]:
    order = sorted(range(data.runs), key=data.start.__getitem__)
    per_lane: dict[int, list[int]] = {}
    for i in order:
        per_lane.setdefault(data.lane[i], []).append(i)
    lanes = [k for k in lane_order(data.lanes) if k in per_lane]
    packed = set(data.packed)
    if len(lanes) > MAX_LANES:  # the rest share one lane, packed
        rest = lanes[MAX_LANES - 1:]
        lanes = lanes[:MAX_LANES - 1]
        merged = sorted((i for k in rest for i in per_lane[k]), key=data.start.__getitem__)
        per_lane[-1] = merged
        lanes.append(-1)
        packed.add(-1)
    rows: list[_Row] = []
    y = top
    for k in lanes:
        label = data.lanes[k] if k >= 0 else f"+{len(per_lane) - MAX_LANES + 1} lanes"
        idx = per_lane[k]
        groups = _pack(idx, data.start, ends) if k in packed else [idx]
        height = ROW_PX if len(groups) == 1 else SUBROW_PX
        peak = _peak(idx, data.start, ends) if len(groups) >= MAX_SUBROWS else len(groups)
        for n, runs in enumerate(groups):
            rows.append(_Row(k, label, y, height, runs, n == 0, peak))
            y += height + (1 if n < len(groups) - 1 else 0)
        y += LANE_GAP
    return rows


# -- marks -------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Group:
    """Runs drawn as one element: a single mark, or several merged."""

    x0: float
    x1: float
    first: int
    count: int = 1
    failed: int = 0
    cancelled: int = 0
    running: int = 0
    busy: float = 0.0
    tasks: Counter[int] | None = None


class _Canvas:
    """Turns rows of runs into SVG elements, merging what is too small or overlapping.

    Failures are drawn where they happened whatever was merged: a red tick under each
    failed run, one per ``min_px`` bucket of a row, so 4 failures among 100 runs show
    as 4 ticks, not as a red chart. A single failed run also gets a red outline.
    """

    def __init__(self, data: TimelineData, ends: Sequence[float], t0: float, scale: float,
                 min_px: float) -> None:
        self.data, self.ends, self.t0, self.scale = data, ends, t0, scale
        self.min_px = min_px
        self.gap = max(1.0, min_px / 2)
        self.parts: list[str] = []
        self.elements = 0

    def row(self, row: _Row) -> None:
        # The hot loop of a 100k-run chart: plain locals, no call per run.
        d, ends, t0, k = self.data, self.ends, self.t0, self.scale
        start, status, task = d.start, d.status, d.task
        min_px, gap = self.min_px, self.gap
        failed: dict[int, tuple[float, float]] = {}  # bucket -> x range of failed runs
        g: _Group | None = None
        tasks: dict[int, int] | None = None
        for i in row.runs:
            s, e, st = start[i], ends[i], status[i]
            x0, x1 = (s - t0) * k, (e - t0) * k
            if st in _BAD:
                b = int(x0 / min_px)
                lo, hi = failed.get(b, (x0, x1))
                failed[b] = (min(lo, x0), max(hi, x1))
            if g is not None and (x0 < g.x1 - 0.5 or (
                    (x1 - x0 < min_px or (g.count == 1 and g.x1 - g.x0 < min_px))
                    and x0 <= g.x1 + gap)):
                if tasks is None:
                    tasks = {task[g.first]: 1}
                t = task[i]
                tasks[t] = tasks.get(t, 0) + 1
                g.count += 1
                if x1 > g.x1:
                    g.x1 = x1
                g.busy += e - s
                if st != COMPLETED:
                    self._count(g, st)
                continue
            if g is not None:
                g.tasks = None if tasks is None else Counter(tasks)
                self._flush(g, row)
            g, tasks = _Group(x0, x1, i, busy=e - s), None
            if st != COMPLETED:
                self._count(g, st)
        if g is not None:
            g.tasks = None if tasks is None else Counter(tasks)
            self._flush(g, row)
        self._ticks(failed, row)

    @staticmethod
    def _count(g: _Group, status: int) -> None:
        if status in (FAILED, RETRIED):
            g.failed += 1
        elif status == CANCELLED:
            g.cancelled += 1
        elif status == RUNNING:
            g.running += 1

    def _emit(self, part: str) -> None:
        self.parts.append(part)
        self.elements += 1

    def _flush(self, g: _Group, row: _Row) -> None:
        x = LABEL_PX + g.x0
        w = max(g.x1 - g.x0, 1.0)
        y, h = row.y, row.height
        if g.count == 1:
            fill, title = self._single(g.first)
            bands = [(fill, h)]
        else:
            bands, title = self._merged(g, h)
        attrs = ""
        if g.count == 1 and g.failed:
            attrs = f' stroke="{FAILED_MARK}" stroke-width="1.5"'
        elif g.cancelled == g.count:
            attrs = (' stroke="currentColor" stroke-width="1" stroke-dasharray="3 2" '
                     'fill-opacity="0.45"')
        head = (f'class="godnb-run" data-status="{self._status(g)}" '
                f'data-runs="{g.count}" x="{x:.1f}"')
        top = y
        for n, (fill, band_h) in enumerate(bands):
            tip = f"<title>{escape(title)}</title>" if n == 0 else ""
            cls = head if n == 0 else f'pointer-events="none" x="{x:.1f}"'
            self._emit(f'<rect {cls} y="{top:.1f}" width="{w:.1f}" height="{band_h:.1f}" '
                       f'fill="{fill}"{attrs}>{tip}</rect>')
            top += band_h
        if g.running:
            self._emit(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
                       f'fill="url(#godnb-tl-stripes)" pointer-events="none"/>')

    def _ticks(self, failed: dict[int, tuple[float, float]], row: _Row) -> None:
        """A red tick under the failed runs of a row, adjacent buckets joined."""
        y = row.y + row.height - 3
        run: tuple[float, float] | None = None
        for b in sorted(failed):
            lo, hi = failed[b]
            if run is not None and lo <= run[1] + 1:
                run = (run[0], max(run[1], hi))
                continue
            if run is not None:
                self._tick(run, y)
            run = (lo, hi)
        if run is not None:
            self._tick(run, y)

    def _tick(self, span: tuple[float, float], y: float) -> None:
        x = LABEL_PX + span[0]
        self._emit(f'<rect class="godnb-tick" x="{x:.1f}" y="{y:.1f}" '
                   f'width="{max(span[1] - span[0], 2.0):.1f}" height="3" '
                   f'fill="{FAILED_MARK}" pointer-events="none"/>')

    @staticmethod
    def _status(g: _Group) -> str:
        if g.count == 1 and g.failed:
            return "failed"
        if g.running:
            return "running"
        if g.cancelled == g.count:
            return "cancelled"
        return "completed" if g.count == 1 else "merged"

    def _single(self, i: int) -> tuple[str, str]:
        d = self.data
        task = d.tasks[d.task[i]]
        status = STATUS_NAMES[d.status[i]]
        duration = self.ends[i] - d.start[i]
        start = d.start[i] - self.t0
        title = (f"{task}\n{format_duration(duration)} · {status}\n"
                 f"{d.lanes[d.lane[i]]}, started at +{format_duration(start)}")
        return task_colour(d.task[i]), title

    def _merged(self, g: _Group, height: float) -> tuple[list[tuple[str, float]], str]:
        """Horizontal bands, one per main task (up to three), as tall as its share."""
        d = self.data
        assert g.tasks is not None
        top = g.tasks.most_common(3)
        bands = [(task_colour(t), height * n / g.count) for t, n in top]
        rest = g.count - sum(n for _, n in top)
        if rest:
            bands.append((MIXED, height * rest / g.count))
        names = ", ".join(f"{d.tasks[t]} {format_count(n)}" for t, n in top)
        if len(g.tasks) > 3:
            names += f", {len(g.tasks) - 3} more tasks"
        span = (g.x1 - g.x0) / self.scale
        lines = [f"{format_count(g.count)} runs in {format_duration(span)}: {names}"]
        outcomes = [f"{format_count(n)} {what}" for n, what in
                    ((g.failed, "failed"), (g.cancelled, "cancelled"),
                     (g.running, "running")) if n]
        if outcomes:
            lines.append(", ".join(outcomes))
        start = format_duration(g.x0 / self.scale)
        lines.append(f"busy {format_duration(g.busy)} · from +{start}")
        return bands, "\n".join(lines)


# -- the chart ---------------------------------------------------------------------------------
def _ends(data: TimelineData) -> list[float]:
    """End of each run; a running one ends now."""
    now = data.now
    return [now if st == RUNNING else e for e, st in zip(data.end, data.status, strict=True)]


def _span(data: TimelineData, ends: Sequence[float]) -> tuple[float, float]:
    t0 = min(data.start)
    t1 = max(max(ends), t0)
    return t0, t1


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)  # pragma: no cover


def _tick_label(t: float, step: float, span: float) -> str:
    if span >= 120:
        return format_clock(t)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{t:.{decimals}f} s"


def _axis(t_span: float, scale: float, y: float) -> list[str]:
    if t_span <= 0:
        return []
    step = _nice_step(t_span)
    parts = [f'<line x1="{LABEL_PX}" y1="{y:.1f}" x2="{LABEL_PX + PLOT_PX}" y2="{y:.1f}" '
             f'stroke="currentColor" stroke-opacity="0.4"/>']
    n = 0
    while n * step <= t_span * 1.0001:
        x = LABEL_PX + n * step * scale
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" '
                     f'stroke="currentColor" stroke-opacity="0.4"/>')
        anchor = "start" if n == 0 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{y + 15:.1f}" text-anchor="{anchor}" '
                     f'fill="currentColor" fill-opacity="0.75">'
                     f"{escape(_tick_label(n * step, step, t_span))}</text>")
        n += 1
    return parts


def _legend(data: TimelineData, y: float) -> tuple[list[str], float]:
    counts = Counter(data.task)
    statuses = Counter(data.status)
    items: list[tuple[str, str]] = []
    for t, n in counts.most_common(10):
        items.append((f'<rect width="10" height="10" fill="{task_colour(t)}"/>',
                      f"{ellipsize(data.tasks[t], 24)} ({format_count(n)})"))
    if len(counts) > 10:
        items.append((f'<rect width="10" height="10" fill="{MIXED}"/>',
                      f"{len(counts) - 10} more tasks"))
    failed = statuses[FAILED] + statuses[RETRIED]
    if failed:
        items.append((f'<rect width="10" height="10" fill="none" stroke="{FAILED_MARK}" '
                      f'stroke-width="2"/>', f"failed ({format_count(failed)})"))
    if statuses[CANCELLED]:
        items.append(('<rect width="10" height="10" fill="none" stroke="currentColor" '
                      'stroke-dasharray="3 2"/>',
                      f"cancelled ({format_count(statuses[CANCELLED])})"))
    if statuses[RUNNING]:
        items.append(('<rect width="10" height="10" fill="#888" /><rect width="10" height="10" '
                      'fill="url(#godnb-tl-stripes)"/>',
                      f"running ({format_count(statuses[RUNNING])})"))
    parts: list[str] = []
    x, width = float(LABEL_PX), LABEL_PX + PLOT_PX
    for swatch, text in items:
        w = 16 + 6.8 * len(text) + 14
        if x + w > width and x > LABEL_PX:
            x, y = float(LABEL_PX), y + 16
        parts.append(f'<g transform="translate({x:.1f},{y - 9:.1f})">{swatch}'
                     f'<text x="14" y="9" fill="currentColor">{escape(text)}</text></g>')
        x += w
    return parts, y + 10


def _caption(data: TimelineData, t0: float, t1: float) -> str:
    lanes = len({data.lane[i] for i in range(data.runs)})
    text = (f"{data.title}: {format_count(data.runs)} runs on {lanes} "
            f"lane{'s' if lanes != 1 else ''} over {format_duration(t1 - t0)}")
    wall = data.wall_at(t0)
    if wall is not None:
        text += f", from {format_time(wall)}"
    if data.dropped:
        text += f" (the last {format_count(data.runs)} of {format_count(data.recorded)} runs)"
    return text


_DEFS = ('<defs><pattern id="godnb-tl-stripes" width="6" height="6" '
         'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
         '<rect width="3" height="6" fill="#ffffff" fill-opacity="0.45"/></pattern></defs>')


def format_timeline_svg(data: TimelineData, *, max_elements: int = MAX_ELEMENTS,
                        standalone: bool = False) -> str:
    """The chart as one ``<svg>`` element (``standalone=True`` adds the XML namespace, for
    a ``.svg`` file; HTML pages do not need it). At most ``max_elements`` marks."""
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    if not data.runs:
        return (f'<svg{ns} class="godnb-timeline-svg" width="{LABEL_PX + PLOT_PX}" height="28" '
                f'style="{_FONT}"><text x="4" y="18" fill="currentColor">'
                f"{escape(data.title)}: no runs recorded yet</text></svg>")
    ends = _ends(data)
    t0, t1 = _span(data, ends)
    span = max(t1 - t0, 1e-9)
    scale = PLOT_PX / span
    legend, top = _legend(data, 14.0)
    rows = _rows(data, ends, top + 8)
    min_px = 2.0
    while data.runs > max_elements * min_px * 8:  # skip passes that can not fit
        min_px *= 2
    while True:
        canvas = _Canvas(data, ends, t0, scale, min_px)
        for row in rows:
            canvas.row(row)
        if canvas.elements <= max_elements or min_px >= PLOT_PX:
            break
        min_px *= 2
    bottom = (rows[-1].y + rows[-1].height if rows else top) + 6
    lanes = []
    for row in rows:
        if not row.first:
            continue
        height = sum(r.height + 1 for r in rows if r.lane == row.lane) - 1
        lanes.append(f'<rect x="{LABEL_PX}" y="{row.y:.1f}" width="{PLOT_PX}" '
                     f'height="{height:.0f}" fill="{TRACK}" fill-opacity="0.6"/>'
                     f'<text x="{LABEL_PX - 8}" y="{row.y + min(height, ROW_PX) / 2 + 4:.1f}" '
                     f'text-anchor="end" fill="currentColor">{escape(ellipsize(row.label, 12))}'
                     f"</text>")
        if row.peak > 1:  # a packed lane: how many ran at once, under its name
            lanes.append(f'<text x="{LABEL_PX - 8}" y="{row.y + ROW_PX / 2 + 16:.1f}" '
                         f'text-anchor="end" fill="currentColor" fill-opacity="0.65" '
                         f'font-size="10">{format_count(row.peak)} at once</text>')
    axis = _axis(span, scale, bottom)
    height = bottom + 24
    body = "".join([_DEFS, *legend, *lanes, *canvas.parts, *axis])
    return (f'<svg{ns} class="godnb-timeline-svg" width="{LABEL_PX + PLOT_PX + 16}" '
            f'height="{height:.0f}" viewBox="0 0 {LABEL_PX + PLOT_PX + 16} {height:.0f}" '
            f'role="img" aria-label="{escape(_caption(data, t0, t1))}" '
            f'style="{_FONT};max-width:100%;height:auto" '
            f'data-elements="{canvas.elements}">{body}</svg>')


def format_timeline_html(data: TimelineData, *, max_elements: int = MAX_ELEMENTS) -> str:
    """The chart with its caption (and note), for a widget, a fallback or a report."""
    caption = _caption(data, *_span(data, _ends(data))) if data.runs else data.title
    note = (f'<div class="godnb-note" style="opacity:.75">{escape(data.note)}</div>'
            if data.note else "")
    return (f'<div class="godnb godnb-timeline" style="{_FONT};overflow-x:auto">'
            f'<div class="godnb-caption" style="font-weight:600;margin:2px 0">'
            f"{escape(caption)}</div>{note}"
            f"{format_timeline_svg(data, max_elements=max_elements)}</div>")


# -- text ------------------------------------------------------------------------------------
def timeline_summary(data: TimelineData) -> list[tuple[str, int, int, float]]:
    """Per lane in reading order: (label, runs, failed, busy seconds)."""
    return [row[1:] for row in _lane_stats(data)]


def _lane_stats(data: TimelineData) -> list[tuple[int, str, int, int, float]]:
    runs: Counter[int] = Counter()
    failed: Counter[int] = Counter()
    busy: dict[int, float] = {}
    ends = _ends(data)
    for i in range(data.runs):
        k = data.lane[i]
        runs[k] += 1
        if data.status[i] in (FAILED, RETRIED):
            failed[k] += 1
        busy[k] = busy.get(k, 0.0) + ends[i] - data.start[i]
    return [(k, data.lanes[k], runs[k], failed[k], busy[k])
            for k in lane_order(data.lanes) if runs[k]]


def format_timeline_text(data: TimelineData, width: int = 60) -> str:
    """A strip per lane: ``█`` mostly busy, ``▓`` half, ``░`` a little, ``✗`` a failure.

    Example:
        >>> d = TimelineData(lanes=("thread-1",), tasks=("fit",), start=[0.0], end=[1.0],
        ...                  lane=[0], task=[0], status=[COMPLETED], now=1.0)
        >>> print(format_timeline_text(d, width=10))
        timeline: 1 runs on 1 lane over 1.00 s
          thread-1 |██████████| 1 run · busy 100%
          tasks: fit 1
    """
    if not data.runs:
        return f"{data.title}: no runs recorded yet"
    ends = _ends(data)
    t0, t1 = _span(data, ends)
    span = max(t1 - t0, 1e-9)
    cells: dict[int, list[float]] = {}
    bad: dict[int, set[int]] = {}
    per_cell = span / width
    for i in range(data.runs):
        k = data.lane[i]
        row = cells.setdefault(k, [0.0] * width)
        s, e = data.start[i] - t0, ends[i] - t0
        c = min(width - 1, int(s / per_cell))
        if int(e / per_cell) <= c:  # most runs fit in one cell
            row[c] += e - s
        else:
            while c < width and c * per_cell < e:
                lo, hi = max(s, c * per_cell), min(e, (c + 1) * per_cell)
                row[c] += max(0.0, hi - lo)
                c += 1
        if data.status[i] in (FAILED, RETRIED):
            bad.setdefault(k, set()).add(min(width - 1, int(max(s, e - 1e-12) / per_cell)))
    lines = [_caption(data, t0, t1)]
    if data.note:
        lines.append(f"  ({data.note})")
    stats = _lane_stats(data)
    label_w = max(len(ellipsize(label, 12)) for _, label, *_ in stats)
    for k, label, n, failed, busy in stats:
        strip = "".join("✗" if c in bad.get(k, ()) else _shade(v / per_cell)
                        for c, v in enumerate(cells[k]))
        tail = f"{format_count(n)} run{'s' if n != 1 else ''}"
        if failed:
            tail += f" · {format_count(failed)} failed"
        peak = _peak([i for i in range(data.runs) if data.lane[i] == k], data.start,
                     ends) if k in data.packed else 1
        if peak > 1:  # runs overlap: say how many at once, not a busy share above 100%
            tail += f" · up to {format_count(peak)} at once"
        else:
            tail += f" · busy {round(100 * busy / span)}%"
        lines.append(f"  {ellipsize(label, 12).rjust(label_w)} |{strip}| {tail}")
    counts = Counter(data.task).most_common(8)
    lines.append("  tasks: " + ", ".join(f"{data.tasks[t]} {format_count(n)}"
                                         for t, n in counts))
    return "\n".join(lines)


def _shade(busy: float) -> str:
    if busy >= 0.66:
        return "█"
    if busy >= 0.33:
        return "▓"
    return "░" if busy > 0 else " "
