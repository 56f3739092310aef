"""Live displays started by library code in the running cell: ``godnb.core.display.show``.

A library call made in a cell (a joblib ``Parallel`` call) can show a godnb view without
being the cell's last expression. While the call blocks the cell, the kernel's loop can
not refresh widgets, so the caller ticks the display from the kernel's thread itself: the
only thread that writes widget state stays the loop's own. When the call ends,
``close()`` writes the final state, replaces the live widget in the output by the static
text and HTML of that state (so the saved notebook shows it, and the view and what it
follows can be freed) and closes the widget.
"""

from __future__ import annotations

import time
from typing import Any

from godnb.core import display
from godnb.execution.loop import running_loop
from godnb.notebook.rich import (
    HINT_HTML,
    in_kernel,
    kind_of,
    static_bundle,
    widgets_available,
    widgets_enabled,
)

__all__ = ["LiveDisplay", "StaticDisplay", "install", "show"]


class LiveDisplay:
    """A widget view shown by :func:`show`, and the output that holds it."""

    def __init__(self, obj: Any, view: Any, handle: Any) -> None:
        self.obj = obj
        self.view = view
        self.handle = handle
        self.closed = False

    def tick(self) -> None:
        if self.closed:
            return
        refresher = self.view.refresher
        if running_loop() is refresher.loop:
            self.view.flush()  # the loop's own thread, blocked in the caller: write now
        else:
            refresher.request()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if running_loop() is self.view.refresher.loop:
            self.view.flush()
        bundle = static_bundle(self.obj)
        if bundle is not None:
            self.handle.update(bundle, raw=True)
        self.view.close()


class StaticDisplay:
    """Text and HTML shown by :func:`show` without widgets, rewritten in place (at most
    once per ``interval`` seconds while ticked, and once at the end)."""

    def __init__(self, obj: Any, handle: Any, interval: float = 1.0) -> None:
        self.obj = obj
        self.handle = handle
        self.interval = interval
        self.closed = False
        self._last = time.monotonic()

    def tick(self) -> None:
        if not self.closed and time.monotonic() - self._last >= self.interval:
            self._update()

    def close(self) -> None:
        if not self.closed:
            self._update()
            self.closed = True

    def _update(self) -> None:
        self._last = time.monotonic()
        bundle = _static(self.obj)
        if bundle is not None:
            self.handle.update(bundle, raw=True)


def _static(obj: Any) -> dict[str, str] | None:
    bundle = static_bundle(obj)
    if bundle is not None and not widgets_available():
        bundle["text/html"] += HINT_HTML
    return bundle


def show(obj: Any) -> LiveDisplay | StaticDisplay | None:
    """Display ``obj`` in the running cell; None outside a kernel or off its thread."""
    kind = kind_of(obj)
    if kind is None or not in_kernel() or running_loop() is None:
        return None
    from IPython.display import display as ipy_display

    if widgets_enabled():
        from godnb.notebook.widgets import make_view

        view = make_view(kind, obj)
        return LiveDisplay(obj, view, ipy_display(view, display_id=True))
    return StaticDisplay(obj, ipy_display(_static(obj), raw=True, display_id=True))


def install() -> None:
    """Answer :func:`godnb.core.display.show` with :func:`show` (idempotent)."""
    display.set_shower(show)
