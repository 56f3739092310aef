"""Live displays started by library code in the running cell: ``godnb.core.display.show``.

A library call made in a cell (a joblib ``Parallel`` call) can show a godnb view without
being the cell's last expression. While the call blocks the cell, the kernel's loop can
not refresh widgets, so the caller ticks the display from the kernel's thread itself: the
only thread that writes widget state stays the loop's own. When the call ends,
``close()`` writes the final state, replaces the live widget in the output by the static
text and HTML of that state (so the saved notebook shows it, and the view and what it
follows can be freed) and closes the widget.

The display is a :class:`godnb.notebook.saved.LiveDisplay`, the class that keeps every
godnb output live while running and static once done; here its caller, not the saved
views' machinery, decides when it ends (a joblib group grows while it runs, so "all its
jobs ended" is not the end).
"""

from __future__ import annotations

from typing import Any

from godnb.core import display
from godnb.execution.loop import running_loop
from godnb.notebook.rich import in_kernel, kind_of, static_bundle, widgets_enabled
from godnb.notebook.saved import LiveDisplay, with_hint

__all__ = ["LiveDisplay", "install", "show"]


def show(obj: Any) -> LiveDisplay | None:
    """Display ``obj`` in the running cell; None outside a kernel or off its thread."""
    kind = kind_of(obj)
    if kind is None or not in_kernel() or running_loop() is None:
        return None
    from IPython.display import display as ipy_display

    view = None
    if widgets_enabled():
        from godnb.notebook.widgets import make_view

        view = make_view(kind, obj)
        bundle = view._repr_mimebundle_()  # not the view itself: its _ipython_display_
        # would show it under an id of its own, followed by the saved views' machinery
    else:
        static = static_bundle(obj)
        assert static is not None  # kind_of(obj) is not None
        bundle = with_hint(static)
    handle = ipy_display(bundle, raw=True, display_id=True)
    return LiveDisplay(kind, obj, view, handle, owned=True)


def install() -> None:
    """Answer :func:`godnb.core.display.show` with :func:`show` (idempotent)."""
    display.set_shower(show)
