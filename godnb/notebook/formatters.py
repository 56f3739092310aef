"""Pure text and HTML formatting of display snapshots (the tqdm ``format_meter`` idea).

Every function takes a snapshot from :mod:`godnb.notebook.snapshots` and returns a string:
no I/O, no clock, no widgets. The widgets render these strings, the fallbacks in every
mime bundle are these strings, and the tests pin them as strings.

A progress line reads like tqdm's, in fixed-width columns so lines of different jobs (in
different cells) align::

    score                 40% ████████            16/40 [00:04<00:07, 3.32it/s]
    parse                     ████████████████████ [00:00] failed · KeyError: 'id'

Numbers go through :mod:`godnb.utils.formatting` (one formatter for every display), the
HTML pieces through :mod:`godnb.views.bars`, tables through :mod:`godnb.utils.tables`;
user text in HTML is escaped.
"""

from __future__ import annotations

from html import escape

from godnb.dataflow.profile import StageProfile, format_stage_table
from godnb.models.job import JobStatus
from godnb.notebook.logpanel import format_log_html, format_log_text
from godnb.notebook.snapshots import (
    EngineSnapshot,
    GroupSnapshot,
    JobSnapshot,
    LaneSnapshot,
    PipelineSnapshot,
    QueueRow,
    QueueSnapshot,
    StageSnapshot,
)
from godnb.utils.formatting import (
    ellipsize,
    first_line,
    fit_name,
    format_clock,
    format_count,
    format_duration,
    format_elapsed,
    format_percent,
    format_rate,
    text_bar,
)
from godnb.utils.profile import ProfileTable
from godnb.utils.tables import Column, Markup, html_table, text_table
from godnb.views.bars import (
    BAR_HEIGHT_PX,
    FONT,
    LABEL_STYLE,
    LINE_STYLE,
    NAME_CH,
    bar_html,
    error_html,
    name_html,
    percent_html,
    stacked_bar_html,
    status_html,
)
from godnb.views.palette import STATUS_FALLBACK, status_text_colour

__all__ = [
    "BAR_CHARS",
    "BAR_STYLE",
    "COLOURS",
    "ROW_PX",
    "bar_state",
    "format_engine_html",
    "format_engine_text",
    "format_group_html",
    "format_group_text",
    "format_job_html",
    "format_job_text",
    "format_pipeline_html",
    "format_pipeline_text",
    "format_profile_html",
    "format_profile_text",
    "format_queue_html",
    "format_queue_text",
    "cell_label",
    "group_bar_html",
    "group_label_html",
    "job_label_html",
    "pipeline_header_html",
    "stage_bar_state",
    "stage_label_html",
]

# Fallback hex colours by status (HTML uses Lab's theme variables with these fallbacks).
COLOURS = {s: STATUS_FALLBACK[s.value] for s in JobStatus}
# ipywidgets progress bar styles, by status: green on success, red on failure.
BAR_STYLE = {
    JobStatus.PENDING: "",
    JobStatus.RUNNING: "",
    JobStatus.COMPLETED: "success",
    JobStatus.FAILED: "danger",
    JobStatus.CANCELLED: "warning",
}
ROW_PX = 28     # queue rows and cancel buttons share this height, so they line up
BAR_CHARS = 20  # text bars
ERROR_CH = 60   # an error on a progress line, before the ellipsis


# -- what a bar shows ------------------------------------------------------------------------
def bar_state(s: JobSnapshot) -> tuple[float | None, str, bool]:
    """(fraction to fill, colour status, striped) of a job's bar.

    With progress the bar shows the share done in the status's colour (a failed job
    stops red where it failed). Without progress there is no placeholder: a job that
    ended fills its bar in its state's colour, one that runs is striped, a pending one
    is empty.
    """
    status = s.status
    fraction = s.fraction
    if status is JobStatus.RUNNING and fraction is None:
        return 1.0, "unknown", True
    if status.is_terminal and fraction is None:
        return 1.0, status.value, False
    return fraction or 0.0, status.value, False


def _counts(done: float, total: float | None) -> str:
    if total:
        return f"{format_count(done)}/{format_count(total)}"
    return f"{format_count(done)}it" if done else ""


def _times(elapsed: float | None, eta: float | None, rate: str | None) -> str:
    """``[00:04<00:07, 3.32it/s]``, ``[00:04]``; empty before a start."""
    if elapsed is None:
        return ""
    inner = format_elapsed(elapsed, eta)
    return f"[{inner}, {rate}]" if rate else f"[{inner}]"


def _job_tail(s: JobSnapshot, error_ch: int | None = ERROR_CH) -> list[str]:
    # tqdm's line says nothing of a running job; one without progress says "running"
    quiet = s.status is JobStatus.RUNNING and bool(s.total or s.done)
    tail = [] if quiet else [s.status.value]
    if s.message:
        tail.append(s.message)
    if s.error:
        error = first_line(s.error)
        tail.append(error if error_ch is None else ellipsize(error, error_ch))
    return tail


def _job_meta(s: JobSnapshot) -> str:
    """Counts and times: ``16/40 [00:04<00:07, 3.32it/s]``."""
    rate = format_rate(s.rate) if s.rate else None
    parts = [_counts(s.done, s.total), _times(s.elapsed, s.eta, rate)]
    return " ".join(p for p in parts if p)


# -- jobs ------------------------------------------------------------------------------------
def format_job_text(s: JobSnapshot) -> str:
    """``train                 40% ████████            10/25 [00:00<00:00, 49.2it/s]``.

    The name column is ``NAME_CH`` wide, the percentage four; ended jobs add their state,
    the last progress message and the error, on the same line. What the job printed
    follows (its log panel as text).
    """
    fraction, _, striped = bar_state(s)
    if s.status is JobStatus.PENDING:
        bar = " " * BAR_CHARS
    elif striped:
        bar = text_bar(None, BAR_CHARS, "░")
    else:
        bar = text_bar(fraction, BAR_CHARS)
    pct = format_percent(s.fraction) if s.total or s.status is JobStatus.COMPLETED else ""
    line = f"{fit_name(s.name, NAME_CH)} {pct:>4} {bar}"
    meta = _job_meta(s)
    if meta:
        line += f" {meta}"
    tail = _job_tail(s, error_ch=None)
    if tail:
        line += " " + " · ".join(tail)
    line = line.rstrip()
    if s.output is not None:  # what it printed, under its line
        line += "\n" + format_log_text(s.output)
    return line


def job_label_html(s: JobSnapshot) -> str:
    """What the widget shows right of the bar: counts, times, state, message, error."""
    parts = []
    meta = _job_meta(s)
    if meta:
        parts.append(escape(meta))
    if s.status is not JobStatus.RUNNING or not (s.total or s.done):
        parts.append(status_html(s.status.value))
    if s.message:
        parts.append(f'<span style="opacity:.75;flex:0 1 auto;min-width:0;overflow:hidden;'
                     f'text-overflow:ellipsis;margin-right:6px" title="{escape(s.message)}">'
                     f"{escape(s.message)}</span>")
    if s.error:
        parts.append(error_html(s.error, max_ch=ERROR_CH))
    return _label_span(parts)


def _label_span(parts: list[str]) -> str:
    """The label as one flex row; plain text parts keep their width, the last may shrink."""
    items = "".join(p if p.startswith("<") else
                    f'<span style="flex:none;margin-right:6px">{p}</span>' for p in parts)
    return f'<span class="godnb-label" style="{FONT};{LABEL_STYLE}">{items}</span>'


def _line(name: str, pct: str, bar: str, label: str, status: str, kind: str) -> str:
    return (f'<div class="godnb godnb-{kind}" data-status="{status}" style="{LINE_STYLE}">'
            f"{name_html(name)}{percent_html(pct)}{bar}{label}</div>")


def format_job_html(s: JobSnapshot) -> str:
    """A static bar (for nbconvert, GitHub, untrusted notebooks) with the same facts."""
    fraction, colour, striped = bar_state(s)
    pct = format_percent(s.fraction) if s.total or s.status is JobStatus.COMPLETED else ""
    bar = bar_html(fraction, colour, striped=striped)
    if s.output is None:
        return _line(s.name, pct, bar, job_label_html(s), s.status.value, "job")
    # The log panel goes under the line, so line and panel share one box for the job.
    line = _line(s.name, pct, bar, job_label_html(s), s.status.value, "job-line")
    return (f'<div class="godnb godnb-job" data-status="{s.status.value}" style="{FONT}">'
            f"{line}{format_log_html(s.output)}</div>")


# -- groups ----------------------------------------------------------------------------------
def _group_outcome(s: GroupSnapshot) -> list[str]:
    """``["96 completed", "4 failed"]`` once ended; failures and cancels while running."""
    failed, cancelled = s.counts.get("failed", 0), s.counts.get("cancelled", 0)
    if s.finished:
        ok = max(0, s.done - failed - cancelled)
        if not failed and not cancelled:
            return ["completed"]
        parts = [f"{format_count(ok)} completed"] if ok else []
    else:
        parts = []
    parts += [f"{format_count(n)} {what}" for n, what in ((failed, "failed"),
                                                          (cancelled, "cancelled")) if n]
    return parts


def _group_meta(s: GroupSnapshot) -> str:
    rate = format_rate(s.rate, "jobs") if s.rate else None
    return f"{format_count(s.done)}/{format_count(s.total)} " + \
        _times(s.elapsed or 0.0, s.eta, rate)


def format_group_text(s: GroupSnapshot) -> str:
    """One line for the group (tqdm's layout, then what ended badly), then one line per
    task name when the names are mixed."""
    line = (f"{fit_name(s.name, NAME_CH)} {format_percent(s.fraction):>4} "
            f"{text_bar(s.fraction, BAR_CHARS)} {_group_meta(s)}")
    tail = _group_outcome(s)
    if s.error:
        tail.append(f"first error: {ellipsize(first_line(s.error), ERROR_CH)}")
    if tail:
        line += " " + " · ".join(tail)
    lines = [line]
    for t in s.per_task:
        f = t.done / t.total if t.total else 1.0
        extra = ", ".join(f"{k} {format_count(v)}" for k, v in
                          (("failed", t.failed), ("cancelled", t.cancelled)) if v)
        lines.append(f"  {fit_name(t.name, NAME_CH - 2)} {format_percent(f):>4} "
                     f"{text_bar(f, BAR_CHARS)} {format_count(t.done)}/{format_count(t.total)}"
                     + (f" ({extra})" if extra else ""))
    return "\n".join(lines)


def group_bar_html(s: GroupSnapshot, height_px: int = BAR_HEIGHT_PX, gap: bool = True) -> str:
    """The group's stacked bar: completed (or running), failed and cancelled shares."""
    segments = [(status, share, f"{format_count(n)} {'done' if status == 'running' else status}")
                for status, share, n in s.shares()]
    title = " · ".join(tip for *_, tip in segments) or "nothing ended yet"
    return stacked_bar_html(segments, s.status.value, title=title, height_px=height_px,
                            gap=gap)


def group_label_html(s: GroupSnapshot) -> str:
    parts = [escape(_group_meta(s))]
    for part in _group_outcome(s):  # each count in its own colour: "96 completed · 4 failed"
        parts.append(status_html(part.rpartition(" ")[2], part))
    if s.error:
        parts.append(error_html(s.error, prefix="first error: ", max_ch=ERROR_CH))
    return _label_span(parts)


def format_group_html(s: GroupSnapshot) -> str:
    rows = [_line(s.name, format_percent(s.fraction), group_bar_html(s),
                  group_label_html(s), s.status.value, "group-line")]
    for t in s.per_task:
        f = t.done / t.total if t.total else 1.0
        status = "failed" if t.failed else "completed" if t.done >= t.total else "running"
        label = f"{format_count(t.done)}/{format_count(t.total)}" + (
            f" (failed {format_count(t.failed)})" if t.failed else "")
        rows.append(_line(t.name, format_percent(f), bar_html(f, status),
                          f"<span>{escape(label)}</span>", status, "task"))
    return (f'<div class="godnb godnb-group" data-status="{s.status.value}" style="{FONT}">'
            f'{"".join(rows)}</div>')


# -- the queue -------------------------------------------------------------------------------
_QUEUE_COLUMNS = (
    Column("job"), Column("name"), Column("cell", title="the cell that submitted it"),
    Column("priority", numeric=True), Column("group"), Column("status"),
    Column("progress", numeric=True), Column("age", numeric=True,
                                              title="time since it was submitted"))
_STATUS_COLUMN = [c.name for c in _QUEUE_COLUMNS].index("status")


def _progress_cell(r: QueueRow) -> str:
    if r.total:
        return f"{format_percent(r.fraction).strip()} {_counts(r.done, r.total)}"
    return _counts(r.done, r.total) or "-"


def _queue_cells(s: QueueSnapshot) -> list[list[str]]:
    return [[r.job_id, r.name, cell_label(r.cell), format_count(r.priority), r.group,
             r.status.value, _progress_cell(r), format_duration(r.age)] for r in s.rows]


def cell_label(cell: int | None) -> str:
    """``In[10]`` for the cell a job came from, ``-`` when it did not come from one."""
    return "-" if cell is None else f"In[{cell}]"


def _queue_header(s: QueueSnapshot) -> str:
    counts = ", ".join(f"{k} {format_count(v)}" for k, v in s.counts.items())
    return (f"queue {s.engine}: {counts} (showing {format_count(len(s.rows))} of "
            f"{format_count(s.active)} active)")


def format_queue_text(s: QueueSnapshot) -> str:
    """Counts by status, then the top rows as an aligned table (numbers right-aligned)."""
    if not s.rows:
        return _queue_header(s) + "\n  (no pending or running jobs)"
    return "\n".join([_queue_header(s), *text_table(_QUEUE_COLUMNS, _queue_cells(s),
                                                    rule=False)])


def format_queue_html(s: QueueSnapshot) -> str:
    """The same as a table whose rows are ``ROW_PX`` high (the widget's buttons match)."""
    rows = []
    for r, cells in zip(s.rows, _queue_cells(s), strict=True):
        row: list[str] = [*cells]
        row[_STATUS_COLUMN] = Markup(status_html(r.status.value))
        rows.append(row)
    table = html_table(_QUEUE_COLUMNS, rows, css_class="godnb-queue-table",
                       empty="no pending or running jobs")
    # every row (header included) ROW_PX high, so the cancel buttons beside them line up
    table = table.replace("<tr>", f'<tr style="height:{ROW_PX}px">')
    return (f'<div class="godnb godnb-queue" style="{FONT}">'
            f'<div style="height:{ROW_PX}px;line-height:{ROW_PX}px;white-space:nowrap">'
            f"{escape(_queue_header(s))}</div>{table}</div>")


# -- the engine ------------------------------------------------------------------------------
def _workers_text(s: EngineSnapshot) -> str:
    parts = []
    for name, w in s.workers.items():
        state = f"{w.busy}/{w.workers} busy" if w.started else f"{w.workers} (not started)"
        parts.append(f"{name} {state}")
    return ", ".join(parts)


def _engine_lines(s: EngineSnapshot) -> list[tuple[str, str]]:
    state = " (shut down)" if s.closed else ""
    counts = ", ".join(f"{k} {format_count(v)}" for k, v in s.counts.items())
    return [
        ("engine", f"{s.name}{state}"),
        ("jobs", counts),
        ("workers", _workers_text(s)),
        ("throughput", f"{format_rate(s.throughput, 'jobs') if s.throughput else '0 jobs/s'}"
                       f" over {format_duration(s.uptime)}"),
        ("start latency", f"p50 {format_duration(s.latency_p50)}, "
                          f"p99 {format_duration(s.latency_p99)}"),
        ("queue", f"depth {format_count(s.queue_depth)}, submitted "
                  f"{format_count(s.submitted)}, retried {format_count(s.retried)}"),
        *([("recovery", s.recovery)] if s.recovery else []),
    ]


_LANE_COLUMNS = (Column("lane"), Column("now"), Column("for", numeric=True),
                 Column("progress", numeric=True))


def _lane_cells(lane: LaneSnapshot) -> list[str]:
    if not lane.running:
        return [lane.name, "idle", "", ""]
    if len(lane.running) == 1:
        job = lane.running[0]
        return [lane.name, f"{job.name} ({job.job_id[:8]})", format_clock(job.elapsed),
                format_percent(job.fraction).strip()]
    names: dict[str, int] = {}
    for job in lane.running:
        names[job.name] = names.get(job.name, 0) + 1
    what = ", ".join(f"{n} {name}" for name, n in names.items())
    longest = max(job.elapsed for job in lane.running)
    return [lane.name, f"{format_count(len(lane.running))} running: {what}",
            format_clock(longest), ""]


def format_engine_text(s: EngineSnapshot) -> str:
    """Counts by status, workers, throughput, start latency; then each worker lane and
    what it runs now."""
    lines = _engine_lines(s)
    width = max(len(k) for k, _ in lines)
    out = [f"{k.ljust(width)}  {v}" for k, v in lines]
    if s.lanes:
        out += text_table(_LANE_COLUMNS, [_lane_cells(lane) for lane in s.lanes],
                          rule=False, indent="  ")
    return "\n".join(out)


_SUMMARY_COLUMNS = (Column(""), Column(""))


def format_engine_html(s: EngineSnapshot) -> str:
    rows = [[k, v] for k, v in _engine_lines(s)]
    rows[1][1] = Markup(" ".join(
        f'<span style="white-space:nowrap"><span style="{status_text_colour(k)}">'
        f"{escape(k)}</span> {format_count(v)}</span>" for k, v in s.counts.items()))
    summary = html_table(_SUMMARY_COLUMNS, rows, css_class="godnb-engine-summary")
    summary = summary.replace("<thead><tr>", '<thead style="display:none"><tr>', 1)
    lanes = ""
    if s.lanes:
        cells = []
        for lane in s.lanes:
            row: list[str] = _lane_cells(lane)
            if not lane.running:
                row[1] = Markup('<span style="opacity:.6">idle</span>')
            cells.append(row)
        lanes = html_table(_LANE_COLUMNS, cells, css_class="godnb-engine-lanes",
                           caption="workers now")
    return (f'<div class="godnb godnb-engine" style="{FONT}">'
            f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">'
            f'<div style="margin-right:24px">{summary}</div>{lanes}</div></div>')


# -- profiles --------------------------------------------------------------------------------
def format_profile_text(table: ProfileTable) -> str:
    """Per-task timing table (the engine's :class:`ProfileTable` formats itself)."""
    return table.to_text()


def format_profile_html(table: ProfileTable) -> str:
    return table.to_html()


# -- pipelines: the stage table of godnb.dataflow.profile in text, a bar per stage in HTML --
def _stage_row(st: StageSnapshot) -> StageProfile:
    return StageProfile(name=st.name, kind=st.kind, backend=st.backend, workers=st.workers,
                        items_in=st.items_in, items_out=st.items_out, errors=st.errors,
                        busy=st.busy, p50=st.p50, p95=st.p95, rate=st.throughput,
                        max_queue_depth=st.queue_depth)


def _pipeline_head(s: PipelineSnapshot) -> str:
    n = len(s.stages)
    head = f"{s.name}: {n} stage{'s' if n != 1 else ''}, {s.state}"
    if s.started and s.stages:
        head += f", {format_count(s.items_out)} items out"
        if s.elapsed:
            head += f" in {format_duration(s.elapsed)}"
            if s.items_out:  # a rate of nothing would read "(-)"
                head += f" ({format_rate(s.items_out / s.elapsed, 'items')})"
    return head


def format_pipeline_text(s: PipelineSnapshot) -> str:
    """Per stage: items in/out, its own rate (items per busy second), busy time, latency."""
    if not s.stages:
        return _pipeline_head(s)
    return "\n".join([_pipeline_head(s), *format_stage_table(map(_stage_row, s.stages))])


def _stage_text(st: StageSnapshot) -> str:
    """``2,000 in → 32 out · busy 183.5 µs (10.9M items/s)``; a source: ``2,000 read``."""
    if st.name == "source" and not st.items_in:
        parts = [f"{format_count(st.items_out)} read"]
    else:
        parts = [f"{format_count(st.items_in)} in → {format_count(st.items_out)} out"]
    if st.busy is not None:
        rate = f" ({format_rate(st.throughput, 'items')})" if st.throughput else ""
        parts.append(f"busy {format_duration(st.busy)}{rate}")
    if st.errors:
        parts.append(f"{format_count(st.errors)} errors")
    return " · ".join(parts)


def stage_label_html(st: StageSnapshot, state: str = "running") -> str:
    if state == "not started":
        return f'<span style="{FONT};opacity:.7">not started</span>'
    return f'<span style="{FONT};white-space:nowrap">{escape(_stage_text(st))}</span>'


def stage_bar_state(st: StageSnapshot, s: PipelineSnapshot) -> tuple[float, str, bool]:
    """(fraction, colour status, striped) of one stage's bar."""
    if not s.started:
        return 0.0, "pending", False
    if st.fraction is None:
        return 1.0, "unknown", True
    return st.fraction, "completed" if s.finished else "running", False


def format_pipeline_html(s: PipelineSnapshot) -> str:
    rows = []
    for st in s.stages:
        fraction, colour, striped = stage_bar_state(st, s)
        pct = "" if not s.started or st.fraction is None else format_percent(st.fraction)
        rows.append(_line(st.name, pct, bar_html(fraction, colour, striped=striped),
                          stage_label_html(st, s.state), colour, "stage"))
    return (f'<div class="godnb godnb-pipeline" data-state="{escape(s.state)}" '
            f'style="{FONT}">{pipeline_header_html(s)}{"".join(rows)}</div>')


def pipeline_header_html(s: PipelineSnapshot) -> str:
    """The pipeline's name, state and overall rate, over its stage lines."""
    return (f'<div class="godnb-pipeline-head" style="{FONT};font-weight:600;'
            f'line-height:28px">{escape(_pipeline_head(s))}</div>')
