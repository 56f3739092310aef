"""Pure text and HTML formatting of display snapshots (the tqdm ``format_meter`` idea).

Every function takes a snapshot from :mod:`godnb.notebook.snapshots` and returns a string:
no I/O, no clock, no widgets. The widgets render these strings, the fallbacks in every
mime bundle are these strings, and the tests pin them as strings. Durations go through
:func:`godnb.utils.profile.format_duration`; user text in HTML goes through
:func:`html.escape`.
"""

from __future__ import annotations

from html import escape

from godnb.dataflow.profile import STAGE_COLUMNS, StageProfile, format_stage_table, stage_cells
from godnb.models.job import JobStatus
from godnb.notebook.snapshots import (
    EngineSnapshot,
    GroupSnapshot,
    JobSnapshot,
    PipelineSnapshot,
    QueueSnapshot,
    StageSnapshot,
)
from godnb.utils.profile import ProfileTable, format_duration
from godnb.utils.profile import format_rate as _rate

__all__ = [
    "BAR_STYLE",
    "COLOURS",
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
    "group_label_html",
    "job_label_html",
    "stage_label_html",
]

COLOURS = {
    JobStatus.PENDING: "#757575",
    JobStatus.RUNNING: "#1565c0",
    JobStatus.COMPLETED: "#2e7d32",
    JobStatus.FAILED: "#c62828",
    JobStatus.CANCELLED: "#ef6c00",
}
# ipywidgets progress bar styles, by status: green on success, red on failure.
BAR_STYLE = {
    JobStatus.PENDING: "",
    JobStatus.RUNNING: "",
    JobStatus.COMPLETED: "success",
    JobStatus.FAILED: "danger",
    JobStatus.CANCELLED: "warning",
}
ROW_PX = 28  # queue rows and cancel buttons share this height, so they line up
_BAR_WIDTH = 20
_FONT = "font-family:var(--jp-code-font-family,monospace);font-size:12px"


# -- small pieces ----------------------------------------------------------------------------
def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def _pct(fraction: float | None) -> str:
    return "  ?%" if fraction is None else f"{round(fraction * 100):3d}%"


def _bar_text(fraction: float | None, width: int = _BAR_WIDTH) -> str:
    filled = 0 if fraction is None else round(fraction * width)
    return "|" + "█" * filled + " " * (width - filled) + "|"


def _bar_html(fraction: float | None, colour: str, width_px: int = 160) -> str:
    pct = 0.0 if fraction is None else fraction * 100
    return (f'<span class="godnb-bar" style="display:inline-block;width:{width_px}px;'
            f'height:10px;background:#e0e0e0;border-radius:3px;vertical-align:middle;'
            f'overflow:hidden"><span style="display:block;height:100%;width:{pct:.1f}%;'
            f'background:{colour}"></span></span>')


def _status_html(status: JobStatus, text: str | None = None) -> str:
    return (f'<span class="godnb-status" style="color:{COLOURS[status]}">'
            f"{escape(text or status.value)}</span>")


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


# -- jobs ------------------------------------------------------------------------------------
def _job_meta(s: JobSnapshot) -> str:
    return f"[{format_duration(s.elapsed)}, {_rate(s.rate, 'it')}]"


def format_job_text(s: JobSnapshot) -> str:
    """``name: 40%|████    | 4/10 [1.20 s, 3.33 it/s] running``; failures add the error."""
    line = (f"{s.name}: {_pct(s.fraction)}{_bar_text(s.fraction)} "
            f"{_num(s.done)}/{_num(s.total)} {_job_meta(s)} {s.status.value}")
    if s.message:
        line += f" - {s.message}"
    if s.error:
        line += f"\n  error: {s.error}"
    return line


def job_label_html(s: JobSnapshot) -> str:
    """What the widget shows right of the bar: count, time, rate, status, error."""
    parts = [f"{_num(s.done)}/{_num(s.total)}", escape(_job_meta(s)), _status_html(s.status)]
    if s.message:
        parts.append(f'<span style="color:#616161">{escape(s.message)}</span>')
    if s.error:
        parts.append(f'<span class="godnb-error" style="color:{COLOURS[JobStatus.FAILED]}">'
                     f"{escape(s.error)}</span>")
    return f'<span style="{_FONT}">{" ".join(parts)}</span>'


def format_job_html(s: JobSnapshot) -> str:
    """A static bar (for nbconvert, GitHub, untrusted notebooks) with the same facts."""
    return (f'<div class="godnb godnb-job" data-status="{s.status.value}" '
            f'style="{_FONT};line-height:1.8"><b>{escape(s.name)}</b> '
            f"{_bar_html(s.fraction, COLOURS[s.status])} {job_label_html(s)}</div>")


# -- groups ----------------------------------------------------------------------------------
def _group_meta(s: GroupSnapshot) -> str:
    return f"[{format_duration(s.elapsed)}, {_rate(s.rate, 'jobs')}]"


def _group_state(s: GroupSnapshot) -> str:
    bad = {k: s.counts.get(k, 0) for k in ("failed", "cancelled") if s.counts.get(k)}
    state = s.status.value
    return state + (f" ({_counts_text(bad)})" if bad else "")


def format_group_text(s: GroupSnapshot) -> str:
    """One bar for the group, then one line per task name when the names are mixed."""
    lines = [f"{s.name}: {_pct(s.fraction)}{_bar_text(s.fraction)} {s.done}/{s.total} "
             f"{_group_meta(s)} {_group_state(s)}"]
    width = max((len(t.name) for t in s.per_task), default=0)
    for t in s.per_task:
        f = t.done / t.total if t.total else 1.0
        extra = ", ".join(f"{k} {v}" for k, v in (("failed", t.failed),
                                                   ("cancelled", t.cancelled)) if v)
        lines.append(f"  {t.name.ljust(width)} {_pct(f)}{_bar_text(f, 10)} {t.done}/{t.total}"
                     + (f" ({extra})" if extra else ""))
    if s.error:
        lines.append(f"  first error: {s.error}")
    return "\n".join(lines)


def group_label_html(s: GroupSnapshot) -> str:
    parts = [f"{s.done}/{s.total}", escape(_group_meta(s)), _status_html(s.status,
                                                                         _group_state(s))]
    if s.error:
        parts.append(f'<span class="godnb-error" style="color:{COLOURS[JobStatus.FAILED]}">'
                     f"first error: {escape(s.error)}</span>")
    return f'<span style="{_FONT}">{" ".join(parts)}</span>'


def format_group_html(s: GroupSnapshot) -> str:
    rows = [f"<div><b>{escape(s.name)}</b> {_bar_html(s.fraction, COLOURS[s.status])} "
            f"{group_label_html(s)}</div>"]
    for t in s.per_task:
        f = t.done / t.total if t.total else 1.0
        colour = COLOURS[JobStatus.FAILED if t.failed else JobStatus.COMPLETED
                         if t.done >= t.total else JobStatus.RUNNING]
        rows.append(f'<div style="padding-left:1.5em">{escape(t.name)} '
                    f"{_bar_html(f, colour, 100)} {t.done}/{t.total}</div>")
    return (f'<div class="godnb godnb-group" data-status="{s.status.value}" '
            f'style="{_FONT};line-height:1.8">{"".join(rows)}</div>')


# -- the queue -------------------------------------------------------------------------------
_QUEUE_COLUMNS = ("job", "name", "priority", "group", "status", "progress", "age")


def _queue_cells(s: QueueSnapshot) -> list[list[str]]:
    cells = []
    for r in s.rows:
        progress = "-" if r.total is None and not r.done else \
            f"{_num(r.done)}/{_num(r.total)}"
        cells.append([r.job_id, r.name, str(r.priority), r.group, r.status.value, progress,
                      format_duration(r.age)])
    return cells


def _queue_header(s: QueueSnapshot) -> str:
    shown = f"showing {len(s.rows)} of {s.active} active"
    return f"queue {s.engine}: {_counts_text(s.counts)} ({shown})"


def format_queue_text(s: QueueSnapshot) -> str:
    """Counts by status, then the top rows as an aligned table."""
    lines = [_queue_header(s)]
    if not s.rows:
        return lines[0] + "\n  (no pending or running jobs)"
    grid = [list(_QUEUE_COLUMNS), *_queue_cells(s)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(_QUEUE_COLUMNS))]
    for row in grid:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_queue_html(s: QueueSnapshot) -> str:
    """The same as a table whose rows are ``ROW_PX`` high (the widget's buttons match)."""
    cell = f"padding:0 8px;height:{ROW_PX}px;white-space:nowrap;text-align:left"
    head = "".join(f'<th style="{cell}">{c}</th>' for c in _QUEUE_COLUMNS)
    body = []
    for r, cells in zip(s.rows, _queue_cells(s), strict=True):
        tds = [f'<td style="{cell}">{escape(c)}</td>' for c in cells]
        tds[4] = f'<td style="{cell}">{_status_html(r.status)}</td>'
        body.append(f'<tr style="height:{ROW_PX}px">{"".join(tds)}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(_QUEUE_COLUMNS)}" style="{cell}">'
                    f"no pending or running jobs</td></tr>")
    return (f'<div class="godnb godnb-queue" style="{_FONT}">'
            f'<div style="height:{ROW_PX}px;line-height:{ROW_PX}px;white-space:nowrap">'
            f"{escape(_queue_header(s))}</div>"
            f'<table style="border-collapse:collapse;margin:0"><thead>'
            f'<tr style="height:{ROW_PX}px">{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


# -- the engine ------------------------------------------------------------------------------
def _workers_text(s: EngineSnapshot) -> str:
    parts = []
    for name, w in s.workers.items():
        state = f"{w.busy}/{w.workers} busy" if w.started else f"{w.workers} (idle, not started)"
        parts.append(f"{name} {state}")
    return ", ".join(parts)


def _engine_lines(s: EngineSnapshot) -> list[tuple[str, str]]:
    state = " (shut down)" if s.closed else ""
    return [
        ("engine", f"{s.name}{state}"),
        ("jobs", _counts_text(s.counts)),
        ("workers", _workers_text(s)),
        ("throughput", f"{s.throughput:.1f} jobs/s over {format_duration(s.uptime)}"),
        ("start latency", f"p50 {format_duration(s.latency_p50)}, "
                          f"p99 {format_duration(s.latency_p99)}"),
        ("queue", f"depth {s.queue_depth}, submitted {s.submitted}, retried {s.retried}"),
        *([("recovery", s.recovery)] if s.recovery else []),
    ]


def format_engine_text(s: EngineSnapshot) -> str:
    """Counts by status, workers per backend, throughput and p99 start latency."""
    lines = _engine_lines(s)
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in lines)


def format_engine_html(s: EngineSnapshot) -> str:
    rows = "".join(f'<tr><th style="text-align:left;padding-right:1em">{escape(k)}</th>'
                   f'<td style="text-align:left">{escape(v)}</td></tr>'
                   for k, v in _engine_lines(s))
    return f'<table class="godnb godnb-engine" style="{_FONT}">{rows}</table>'


# -- profiles --------------------------------------------------------------------------------
def format_profile_text(table: ProfileTable) -> str:
    """Per-task timing table (the engine's :class:`ProfileTable` formats itself)."""
    return table.to_text()


def format_profile_html(table: ProfileTable) -> str:
    return table.to_html()


# -- pipelines: the stage table of godnb.dataflow.profile, with a bar per stage in HTML ------
def _stage_row(st: StageSnapshot) -> StageProfile:
    return StageProfile(name=st.name, kind="stage", items_in=st.items_in,
                        items_out=st.items_out, busy=st.busy, p50=st.p50, p95=st.p95,
                        throughput=st.throughput, max_queue_depth=st.queue_depth)


def _stage_fraction(st: StageSnapshot, scale: int) -> float:
    return min(1.0, st.items_out / scale) if scale else 0.0


def _pipeline_scale(s: PipelineSnapshot) -> int:
    return max((st.items_in for st in s.stages), default=0)


def format_pipeline_text(s: PipelineSnapshot) -> str:
    """Per stage: items in/out, throughput, busy time and latency."""
    state = "finished" if s.finished else "running"
    head = f"{s.name}: {len(s.stages)} stage{'s' if len(s.stages) != 1 else ''}, {state}"
    if not s.stages:
        return head
    return "\n".join([head, *format_stage_table(map(_stage_row, s.stages))])


def stage_label_html(st: StageSnapshot) -> str:
    return (f'<span style="{_FONT}">{st.items_in} in, {st.items_out} out, '
            f"{escape(_rate(st.throughput, 'items'))}, busy "
            f"{escape(format_duration(st.busy))}</span>")


def format_pipeline_html(s: PipelineSnapshot) -> str:
    scale = _pipeline_scale(s)
    colour = COLOURS[JobStatus.COMPLETED if s.finished else JobStatus.RUNNING]
    head = "".join(f"<th>{escape(c)}</th>" for c in ("stage", "", *STAGE_COLUMNS[1:]))
    rows = []
    for st in s.stages:
        cells = stage_cells(_stage_row(st))
        tds = [f'<td style="text-align:left">{escape(cells[0])}</td>',
               f"<td>{_bar_html(_stage_fraction(st, scale), colour, 120)}</td>"]
        tds += [f'<td style="text-align:right">{escape(c)}</td>' for c in cells[1:]]
        rows.append(f"<tr>{''.join(tds)}</tr>")
    state = "finished" if s.finished else "running"
    return (f'<div class="godnb godnb-pipeline" style="{_FONT}"><b>{escape(s.name)}</b> '
            f"({state})<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")
