"""A seam for rich display: core objects ask here, the notebook layer answers.

Core never imports IPython or ipywidgets. ``godnb.notebook`` installs a renderer and its
view factories when it is imported (``import godnb`` does that inside a kernel); without
one, objects show as text. ``view(name, obj)`` imports ``godnb.notebook`` by name on
demand, so ``eng.queue_view()`` works from a script too when ipywidgets is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["INSTALL_HINT", "autoload_notebook", "mimebundle", "register_view", "set_renderer",
           "view", "view_names"]

INSTALL_HINT = 'live views need ipywidgets: pip install "godnb[notebook]"'

_renderer: Callable[[Any], dict[str, Any] | None] | None = None
_views: dict[str, Callable[..., Any]] = {}


def set_renderer(renderer: Callable[[Any], dict[str, Any] | None] | None) -> None:
    """Install (or remove, with None) the function that turns objects into mime bundles."""
    global _renderer
    _renderer = renderer


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
    importlib.import_module("godnb.notebook")  # registers the factories on import
    factory = _views.get(name)
    if factory is None:
        raise ValueError(f"unknown view {name!r}; valid views: {view_names()}")
    return factory(obj, **kwargs)


def autoload_notebook() -> bool:
    """Inside IPython (a kernel), load ``godnb.notebook`` and register ``%god``.

    Cheap and import-free elsewhere: IPython is only looked up in ``sys.modules``, so a
    script that never imported IPython does not import it (nor ipywidgets) through godnb.
    Returns True when the magics were registered (or already were).
    """
    if "IPython" not in sys.modules:
        return False
    notebook = importlib.import_module("godnb.notebook")
    return bool(notebook.register_in_kernel())
