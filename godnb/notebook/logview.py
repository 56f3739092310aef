"""The live log panel under a job's bar: newest lines, what was left out, a way to see all.

A :class:`LogPanel` is one row of controls and one box of fixed height:

* the summary (``output: 1,200 lines (newest 20 shown; 3,000 earlier cut)``);
* a toggle that folds the box away and back;
* "show all": the box then holds every kept line (``h.output_text()``), still scrolling
  inside its fixed height, frozen at that moment; "newest" goes back to following.

The box is one ``HTML`` trait holding escaped ``<pre>`` text, so a redraw is one comm
message however many lines changed; the job's view redraws it at most ten times a second
and only when the job wrote something. Until the job prints, the panel is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import ipywidgets as W

from godnb.notebook.logpanel import LOG_BOX_STYLE, format_log_lines_html, format_log_summary
from godnb.notebook.snapshots import OutputSnapshot

__all__ = ["LogPanel"]


class LogPanel(W.VBox):
    """A job's output, bounded: see the module docstring.

    Args:
        full_text: returns everything kept (the job's ``h.output_text``), for "show all".

    Traits to read: ``summary.value``, ``box.value`` (HTML), ``toggle.value`` (open),
    ``show_all.description``, ``layout.display`` (``"none"`` until there is output).
    """

    def __init__(self, full_text: Callable[[], str]) -> None:
        self.summary = W.HTML(layout=W.Layout(margin="0 8px 0 0"))
        self.toggle = W.ToggleButton(value=True, description="hide", icon="chevron-up",
                                     tooltip="fold the output away",
                                     layout=W.Layout(width="auto", height="24px"))
        self.show_all = W.Button(description="show all", icon="list",
                                 tooltip="every kept line (h.output_text())",
                                 layout=W.Layout(width="auto", height="24px"))
        self.box = W.HTML(layout=W.Layout(margin="0"))
        header = W.HBox([self.summary, self.toggle, self.show_all],
                        layout=W.Layout(align_items="center"))
        super().__init__(children=[header, self.box], layout=W.Layout(display="none"))
        self._full_text = full_text
        self.showing_all = False
        self._last: OutputSnapshot | None = None
        self.toggle.observe(self._on_toggle, "value")
        self.show_all.on_click(self._on_show_all)

    def update(self, snapshot: OutputSnapshot | None) -> None:
        """Show ``snapshot`` (on the kernel loop; the job's view calls this)."""
        if snapshot is None:
            return
        self._last = snapshot
        if self.layout.display == "none":
            self.layout.display = ""
        if self.showing_all:
            self.summary.value = _summary_html(format_log_summary(snapshot, snapshot.kept)
                                               + ": all kept lines, as when clicked")
            return
        self.summary.value = _summary_html(format_log_summary(snapshot))
        self.box.value = _box(format_log_lines_html(snapshot.lines))

    def _on_toggle(self, change: dict[str, object]) -> None:
        open_ = bool(change["new"])
        self.box.layout.display = "" if open_ else "none"
        self.toggle.description = "hide" if open_ else "show"
        self.toggle.icon = "chevron-up" if open_ else "chevron-down"

    def _on_show_all(self, _button: W.Button | None = None) -> None:
        self.showing_all = not self.showing_all
        self.show_all.description = "newest" if self.showing_all else "show all"
        if self.showing_all:
            text = self._full_text()
            lines = [("stdout", line) for line in text.split("\n")]
            if lines and not lines[-1][1]:
                lines.pop()
            self.box.value = _box(format_log_lines_html(lines))
        if self._last is not None:
            self.update(self._last)
        if not self.toggle.value:
            self.toggle.value = True


def _summary_html(text: str) -> str:
    return f'<span style="font-size:12px;color:#616161">{escape(text)}</span>'


def _box(lines_html: str) -> str:
    return f'<pre class="godnb-log-lines" style="{LOG_BOX_STYLE}">{lines_html}</pre>'
