"""``eng.report(path)``: an engine's run as one self-contained HTML page.

Gathers what the engine knows (counts, throughput, latency, workers, the profile table,
the timeline and some failures) into a :class:`~godnb.views.report.RunReport` and writes
:func:`~godnb.views.report.format_report_html` of it. No IPython, no widgets: it works
from a script or the CLI as well as from a notebook.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any

from godnb.models.job import JobStatus
from godnb.utils.formatting import format_count, format_duration, format_rate
from godnb.views.report import RunReport, format_report_html

__all__ = ["FAILURES_SHOWN", "engine_report", "godnb_version", "write_report"]

FAILURES_SHOWN = 20


def godnb_version() -> str:
    """The installed godnb's version ("" when it is not installed as a package)."""
    try:
        return metadata.version("godnb")
    except metadata.PackageNotFoundError:
        return ""


def _workers(stats: Any) -> str:
    parts = []
    for name, w in stats.workers.items():
        if not w["started"] and name != "thread":
            continue
        parts.append(f"{name} {w['workers']}" + ("" if w["started"] else " (not started)"))
    return ", ".join(parts) or "-"


def engine_report(engine: Any) -> RunReport:
    """What ``engine`` knows now, as a :class:`RunReport`."""
    stats = engine.stats()
    timeline = engine.timeline().snapshot()
    failed = engine.jobs(JobStatus.FAILED)[:FAILURES_SHOWN]
    failures = [(h.name, h.job_id, str(h.errors[-1]) if h.errors else (h.job.error or ""))
                for h in failed]
    summary = [
        ("engine", engine.name + (" (shut down)" if engine.closed else "")),
        ("up for", format_duration(stats.uptime)),
        ("jobs submitted", format_count(stats.submitted)),
        ("retried attempts", format_count(stats.retried)),
        ("throughput", (format_rate(stats.throughput, "jobs") if stats.throughput else
                        "0 jobs/s") + " over the engine's life"),
        ("start latency", f"p50 {format_duration(stats.latency_p50)}, "
                          f"p99 {format_duration(stats.latency_p99)}"),
        ("workers", _workers(stats)),
    ]
    notes = []
    if timeline.dropped:
        notes.append(f"The timeline holds the last {format_count(timeline.runs)} runs of "
                     f"{format_count(timeline.recorded)} (Engine(timeline_size=...) keeps "
                     f"more).")
    return RunReport(title=f"godnb run report: {engine.name}",
                     source=f"engine {engine.name} on {os.uname().nodename}, pid {os.getpid()}",
                     counts=dict(stats.counts), summary=summary, profile=engine.profile(),
                     timeline=timeline, failures=failures,
                     failures_total=stats.counts.get("failed", 0), notes=notes,
                     version=godnb_version())


def write_report(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report`` as HTML to ``path`` (parent folders must exist); the path."""
    target = Path(path)
    target.write_text(format_report_html(report), encoding="utf-8")
    return target
