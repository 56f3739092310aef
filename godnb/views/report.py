"""A run on one page: summary, outcomes, timeline, profile and failures, self-contained.

Like Dask's ``performance_report``: one HTML file to keep or send after a run. It needs
no network and no kernel: no script, no external stylesheet, font or image; the styles
are inline and the timeline is inline SVG (hover a mark for its task, duration and
status). It follows the reader's light or dark colour scheme.

:func:`format_report_html` is pure: :meth:`godnb.Engine.report` fills a
:class:`RunReport` from a live engine, ``godnb report --db FILE PATH`` from a store.

Example:
    >>> page = format_report_html(RunReport(title="demo", counts={"completed": 3}))
    >>> page.startswith("<!DOCTYPE html>") and "http" not in page
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from godnb.utils.formatting import first_line, format_count, format_time
from godnb.utils.profile import ProfileTable, format_profile_html
from godnb.utils.tables import Column, Markup, html_table
from godnb.views.bars import stacked_bar_html, status_html
from godnb.views.palette import STATUS_FALLBACK
from godnb.views.timeline import TimelineData, format_timeline_html

__all__ = ["RunReport", "format_report_html", "outcome_segments"]

_ORDER = ("completed", "failed", "cancelled", "running", "pending")


@dataclass
class RunReport:
    """What a report shows. Everything but ``title`` is optional.

    ``summary`` rows are (label, value) pairs (workers, throughput, latency...);
    ``failures`` are (job name, job id, error) of some failed jobs; ``notes`` say what is
    approximate or left out.
    """

    title: str
    source: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: dict[str, int] = field(default_factory=dict)
    summary: list[tuple[str, str]] = field(default_factory=list)
    profile: ProfileTable | None = None
    timeline: TimelineData | None = None
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    failures_total: int = 0
    notes: list[str] = field(default_factory=list)
    version: str = ""


def outcome_segments(counts: dict[str, int]) -> list[tuple[str, float, str]]:
    """Shares of completed, failed and cancelled jobs of all jobs, for a stacked bar."""
    total = sum(counts.get(s, 0) for s in _ORDER)
    if not total:
        return []
    return [(s, counts.get(s, 0) / total, f"{s}: {format_count(counts.get(s, 0))}")
            for s in ("completed", "failed", "cancelled") if counts.get(s, 0)]


# Lab's theme variables, defined for a page without Lab: light, and dark on request.
_STYLE = """
:root { color-scheme: light dark;
  --jp-layout-color0:#ffffff; --jp-layout-color2:#eeeeee; --jp-layout-color4:#757575;
  --jp-border-color2:#bdbdbd; --jp-ui-font-color1:#212121; --jp-ui-font-color2:#616161;
  --jp-success-color0:#1b5e20; --jp-success-color1:#2e7d32;
  --jp-error-color1:#c62828; --jp-warn-color0:#b45309;
  --jp-brand-color1:#1976d2; --jp-info-color1:#00838f;
  --jp-code-font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
@media (prefers-color-scheme: dark) { :root {
  --jp-layout-color0:#111111; --jp-layout-color2:#424242; --jp-layout-color4:#9e9e9e;
  --jp-border-color2:#555555; --jp-ui-font-color1:#e0e0e0; --jp-ui-font-color2:#9e9e9e;
  --jp-success-color0:#66bb6a; --jp-success-color1:#4caf50;
  --jp-error-color1:#f44336; --jp-warn-color0:#f57c00;
  --jp-brand-color1:#2196f3; --jp-info-color1:#00bcd4; } }
body { margin:24px; background:var(--jp-layout-color0); color:var(--jp-ui-font-color1);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif; }
h1 { font-size:20px; margin:0 0 2px; } h2 { font-size:15px; margin:22px 0 6px; }
.meta { opacity:.75; font-size:12px; }
.tiles { display:flex; flex-wrap:wrap; gap:10px; margin:14px 0 8px; }
.tile { min-width:92px; padding:6px 12px; border:1px solid var(--jp-border-color2);
  border-left-width:4px; }
.tile b { display:block; font-size:20px; font-variant-numeric:tabular-nums; }
.note { font-size:12px; opacity:.8; margin:4px 0; }
section { overflow-x:auto; }
"""


def _tiles(counts: dict[str, int]) -> str:
    total = sum(counts.get(s, 0) for s in _ORDER)
    tiles = [f'<div class="tile"><b>{format_count(total)}</b>jobs</div>']
    for s in _ORDER:
        n = counts.get(s, 0)
        if n or s in ("completed", "failed"):
            tiles.append(f'<div class="tile" data-status="{s}" style="border-left-color:'
                         f'var(--jp-{_VAR[s]},{STATUS_FALLBACK[s]})"><b>{format_count(n)}</b>'
                         f"{status_html(s)}</div>")
    bar = ""
    segments = outcome_segments(counts)
    if segments:
        bar = stacked_bar_html(segments, "completed", width_px=480, height_px=12,
                               title=" · ".join(tip for *_, tip in segments))
    return f'<div class="tiles">{"".join(tiles)}</div>{bar}'


_VAR = {"completed": "success-color1", "failed": "error-color1", "cancelled": "warn-color0",
        "running": "brand-color1", "pending": "layout-color4"}

_SUMMARY = (Column("what"), Column("value"))
_FAILURES = (Column("job"), Column("id"), Column("error"))


def _failures(report: RunReport) -> str:
    rows = [[name, job_id, Markup(f'<span title="{escape(err)}">'
                                  f"{escape(first_line(err))}</span>")]
            for name, job_id, err in report.failures]
    shown = len(report.failures)
    total = max(report.failures_total, shown)
    head = f"Failures ({format_count(total)})"
    more = (f'<p class="note">showing the first {format_count(shown)} of '
            f"{format_count(total)}</p>" if total > shown else "")
    return (f"<h2>{escape(head)}</h2>"
            f"{html_table(_FAILURES, rows, css_class='godnb-failures')}{more}")


def format_report_html(report: RunReport) -> str:
    """The whole page, as one string (write it to a ``.html`` file)."""
    when = format_time(report.generated_at, report.generated_at)
    iso = report.generated_at.astimezone(UTC).isoformat(timespec="seconds")
    meta = " · ".join(x for x in (report.source, f"written at {when} ({iso})",
                                  f"godnb {report.version}" if report.version else "") if x)
    parts = [f"<header><h1>{escape(report.title)}</h1>"
             f'<div class="meta">{escape(meta)}</div></header>', _tiles(report.counts)]
    for note in report.notes:
        parts.append(f'<p class="note">{escape(note)}</p>')
    if report.summary:
        parts.append("<h2>Summary</h2>" + html_table(_SUMMARY, [list(r) for r in report.summary],
                                                    css_class="godnb-summary"))
    if report.timeline is not None:
        parts.append(f"<h2>Timeline</h2><section>{format_timeline_html(report.timeline)}"
                     f"</section>")
    if report.profile is not None:
        parts.append(f"<h2>Profile</h2><section>{format_profile_html(report.profile)}"
                     f"</section>")
    if report.failures:
        parts.append(_failures(report))
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(report.title)}</title><style>{_STYLE}</style></head>"
            f'<body class="godnb-report">{"".join(parts)}</body></html>\n')
