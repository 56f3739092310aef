"""What every live view is built from: :class:`View`, a VBox that redraws itself from
snapshots through a :class:`~godnb.notebook.live.Refresher` (with ``text/plain`` and
``text/html`` fallbacks beside the widget), and the cells of a view's line (a fixed-width
name, a percentage, a bar, a label) placed where the static line of
:mod:`godnb.views.bars` puts them, so live and saved views line up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W

from godnb.notebook.live import Refresher, view_loop
from godnb.views.bars import BAR_WIDTH_PX, GAP, STRIPES, name_html, percent_html

__all__ = ["BAR_HEIGHT_PX", "BAR_MARGIN", "CSS", "View", "descendants", "label_cell",
           "name_cell", "percent_cell", "progress_bar", "row", "set_bar"]

# Once per view (in its name cell): the animation of a running bar of unknown length, on
# ipywidgets' own progress bar (class "godnb-striped"). Only in live widgets; the static
# fallbacks show the stripes without motion.
CSS = ("<style>.godnb-striped .progress-bar{" + STRIPES + ";"
       "animation:godnb-stripes 1s linear infinite}"
       "@keyframes godnb-stripes{from{background-position:16px 0}to{background-position:0 0}}"
       # an HTML widget's content box does not shrink below its text by default: let a
       # label shrink with its cell, so its message and error end in an ellipsis
       ".godnb-labelbox .widget-html-content{min-width:0;overflow:hidden}"
       "</style>")
BAR_HEIGHT_PX = 20  # ipywidgets' own bar: 28px high with 4px margins


class View(W.VBox):
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
        for child in descendants(self):
            child.close()
        super().close()


def descendants(box: W.Box) -> list[W.Widget]:
    out: list[W.Widget] = []
    for child in box.children:
        if isinstance(child, W.Box):
            out.extend(descendants(child))
        out.append(child)
    return out


# The parts of a widget line sit at the x of the static line's parts (views.bars): a
# finished job shown static (godnb.notebook.saved) lines up with a running one's widget.
# So no widget margin of ipywidgets' own (2px a side) between them: the HTML parts carry
# their gaps, and a bar is followed by the same gap as a static bar.
BAR_MARGIN = f"0 {GAP.partition(':')[2]} 0 0"


def name_cell(name: str, css: bool = True) -> W.HTML:
    """The fixed-width, ellipsised name column (full name on hover)."""
    return W.HTML(value=(CSS if css else "") + name_html(name),
                  layout=W.Layout(flex="0 0 auto", margin="0"))


def percent_cell() -> W.HTML:
    return W.HTML(value=percent_html(""), layout=W.Layout(flex="0 0 auto", margin="0"))


def label_cell() -> W.HTML:
    # Takes the rest of the line and never wraps: a long error is ellipsised inside.
    label = W.HTML(layout=W.Layout(flex="1 1 auto", min_width="0", overflow="hidden",
                                   margin="0"))
    label.add_class("godnb-labelbox")
    return label


def progress_bar(cls: type[W.FloatProgress] | type[W.IntProgress] = W.FloatProgress,
              **kwargs: Any) -> Any:
    return cls(layout=W.Layout(width=f"{BAR_WIDTH_PX}px", flex="0 0 auto", margin=BAR_MARGIN),
               **kwargs)


def row(*children: W.Widget) -> W.HBox:
    return W.HBox(list(children), layout=W.Layout(flex_flow="row nowrap",
                                                  align_items="center", width="100%"))


def set_bar(bar: Any, value: float, maximum: float, style: str, striped: bool) -> None:
    with bar.hold_sync():
        bar.max = maximum
        bar.value = value
        bar.bar_style = style
        if striped:
            bar.add_class("godnb-striped")
        else:
            bar.remove_class("godnb-striped")
