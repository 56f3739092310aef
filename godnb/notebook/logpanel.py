"""A job's log panel as text and HTML: the newest lines it printed, and what was left out.

Pure formatting of an :class:`~godnb.notebook.snapshots.OutputSnapshot` (the live widget
is :class:`godnb.notebook.logview.LogPanel`). The panel never grows a cell without bound:
it shows the newest :data:`~godnb.notebook.snapshots.LOG_TAIL` lines in a box of fixed
height that scrolls, says how many earlier lines it does not show and how many the buffer
dropped, and points at ``h.output_text()`` for everything kept. In HTML it is a
``<details>`` element, so a saved notebook or an nbconvert page can fold it away.
"""

from __future__ import annotations

from html import escape

from godnb.notebook.snapshots import OutputSnapshot
from godnb.utils.formatting import format_count

__all__ = ["LOG_BOX_STYLE", "TEXT_TAIL", "format_log_html", "format_log_lines_html",
           "format_log_summary", "format_log_text"]

TEXT_TAIL = 10  # lines the text/plain fallback shows (the HTML shows the snapshot's tail)
# The box fits the snapshot's LOG_TAIL lines (12 at 1.35em) without scrolling, so the newest
# line is in sight; it scrolls only after "show all".
STDERR_COLOUR = "#b71c1c"
LOG_BOX_STYLE = ("max-height:17em;overflow:auto;margin:2px 0 4px 0;padding:4px 8px;"
                 "background:var(--jp-layout-color2,#f5f5f5);border-radius:3px;"
                 "font-family:var(--jp-code-font-family,monospace);font-size:12px;"
                 "line-height:1.35;white-space:pre-wrap;word-break:break-all")


def _count(n: int, word: str = "line") -> str:
    return f"{format_count(n)} {word}{'s' if n != 1 else ''}"


def format_log_summary(o: OutputSnapshot, shown: int | None = None) -> str:
    """``output: 1,200 lines (newest 20 shown; 3,000 earlier cut)``."""
    shown = len(o.lines) if shown is None else shown
    notes = []
    if shown < o.kept:
        notes.append(f"newest {format_count(shown)} shown")
    if o.cut:
        notes.append(f"{format_count(o.cut)} earlier cut")
    return f"output: {_count(o.total)}" + (f" ({'; '.join(notes)})" if notes else "")


def format_log_text(o: OutputSnapshot, tail: int = TEXT_TAIL) -> str:
    """The summary, then the newest ``tail`` lines, each after ``  | ``."""
    lines = o.lines[-tail:] if tail > 0 else []
    head = format_log_summary(o, len(lines))
    if len(lines) < o.total:
        head += "; h.output_text() has all kept lines"
    body = [f"  | {text}" for _, text in lines]
    return "\n".join([head, *body])


def format_log_lines_html(lines: list[tuple[str, str]]) -> str:
    """The lines inside the panel's box: escaped, stderr in red."""
    out = []
    for stream, text in lines:
        line = escape(text)
        if stream == "stderr":
            line = f'<span style="color:{STDERR_COLOUR}">{line}</span>'
        out.append(line)
    return "\n".join(out)


def format_log_html(o: OutputSnapshot) -> str:
    """A ``<details>`` panel (open), its summary, and the newest lines in a scrolling box."""
    summary = escape(format_log_summary(o))
    if len(o.lines) < o.total:
        summary += " &middot; <code>h.output_text()</code> has all kept lines"
    return (f'<details class="godnb-log" open><summary style="cursor:pointer;'
            f'font-size:12px;color:#616161">{summary}</summary>'
            f'<pre class="godnb-log-lines" style="{LOG_BOX_STYLE}">'
            f"{format_log_lines_html(o.lines)}</pre></details>")
