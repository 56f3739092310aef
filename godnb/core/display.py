"""A seam for rich display: core objects ask here, the notebook layer answers.

Core never imports IPython or ipywidgets, nor names the notebook layer: ``godnb/__init__``
wires it in. It installs a *loader* that imports ``godnb.notebook`` on demand; importing
that package installs the renderer and the view factories here. Without them objects show
as text; ``view(name, obj)`` calls the loader first, so ``eng.queue_view()`` works from a
script too when ipywidgets is installed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["INSTALL_HINT", "Shown", "ipython_display", "mimebundle", "register_view",
           "set_displayer", "set_renderer", "set_shower", "set_view_loader", "show", "view",
           "view_names"]

INSTALL_HINT = 'live views need ipywidgets: pip install "godnb[notebook]"'

_renderer: Callable[[Any], dict[str, Any] | None] | None = None
_views: dict[str, Callable[..., Any]] = {}
_loader: Callable[[], Any] | None = None
_shower: Callable[[Any], Shown | None] | None = None


class Shown(Protocol):
    """What :func:`show` returns: a display that library code keeps current."""

    def tick(self) -> None:
        """Bring the display up to date now (on the kernel's thread), or soon (elsewhere)."""

    def close(self) -> None:
        """Show the final state; the live view gives way to its static text and HTML."""


_displayer: Callable[[Any], None] | None = None


def set_renderer(renderer: Callable[[Any], dict[str, Any] | None] | None) -> None:
    """Install (or remove, with None) the function that turns objects into mime bundles."""
    global _renderer
    _renderer = renderer


def set_view_loader(loader: Callable[[], Any] | None) -> None:
    """Install the function ``view()`` calls first, to load the layer that registers views."""
    global _loader
    _loader = loader


def set_shower(shower: Callable[[Any], Shown | None] | None) -> None:
    """Install (or remove, with None) the function :func:`show` calls."""
    global _shower
    _shower = shower


def show(obj: Any) -> Shown | None:
    """Display ``obj`` live in the notebook cell that is running, from library code.

    For code that runs inside a cell without being its last expression (a joblib backend
    shows one bar per ``Parallel`` call). Returns None when nothing was displayed: outside
    a kernel, or off the kernel's own thread. A blocking caller on the kernel's thread
    keeps the display current with ``tick()`` (the kernel's loop can not while it waits).
    """
    if _shower is None:
        if _loader is None or "IPython" not in sys.modules:
            return None  # no frontend can be attached without IPython
        _loader()  # the notebook layer installs the shower on import
    return _shower(obj) if _shower is not None else None


def set_displayer(displayer: Callable[[Any], None] | None) -> None:
    """Install the function that shows an object in IPython (``_ipython_display_``)."""
    global _displayer
    _displayer = displayer


def ipython_display(obj: Any) -> None:
    """What ``_ipython_display_`` of a handle, group, engine or pipeline does.

    IPython calls that method instead of building a bundle, for a cell's last expression
    and for ``display(obj)``. The notebook layer's displayer shows the live view under a
    display id and rewrites it with its final state once the object ends, so a saved
    notebook shows the outcome, not a frozen "running". Only IPython calls this, so the
    notebook layer (which needs IPython) can always be loaded here.
    """
    if _displayer is None and _loader is not None:
        _loader()
    if _displayer is None:
        raise RuntimeError("no IPython displayer installed: import godnb.notebook")
    _displayer(obj)


def mimebundle(obj: Any) -> dict[str, Any] | None:
    """The rich display of ``obj``, or None to let IPython fall back to ``repr``."""
    if _renderer is None:
        return None
    return _renderer(obj)


def register_view(name: str, factory: Callable[..., Any]) -> None:
    """Make ``view(name, obj, **kw)`` call ``factory(obj, **kw)`` (the notebook layer does)."""
    _views[name] = factory


def view_names() -> list[str]:
    """The names ``view()`` accepts once the notebook layer is loaded."""
    return sorted(_views)


def view(name: str, obj: Any, **kwargs: Any) -> Any:
    """A live widget for ``obj``: ``view("queue", eng, rows=20)``.

    Raises:
        ImportError: ipywidgets is not installed (the message says how to install it).
        ValueError: ``name`` is not a known view (the message lists the valid names).
    """
    if importlib.util.find_spec("ipywidgets") is None:
        raise ImportError(INSTALL_HINT)
    if _loader is not None:
        _loader()  # registers the factories on first call
    factory = _views.get(name)
    if factory is None:
        raise ValueError(f"unknown view {name!r}; valid views: {view_names()}")
    return factory(obj, **kwargs)
