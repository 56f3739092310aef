"""A seam for rich display: core objects ask here, the notebook layer answers.

Core never imports IPython or ipywidgets. ``godnb.notebook`` installs a renderer when it is
imported (``import godnb`` does that inside a kernel); without one, objects show as text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["mimebundle", "set_renderer"]

_renderer: Callable[[Any], dict[str, Any] | None] | None = None


def set_renderer(renderer: Callable[[Any], dict[str, Any] | None] | None) -> None:
    """Install (or remove, with None) the function that turns objects into mime bundles."""
    global _renderer
    _renderer = renderer


def mimebundle(obj: Any) -> dict[str, Any] | None:
    """The rich display of ``obj``, or None to let IPython fall back to ``repr``."""
    if _renderer is None:
        return None
    return _renderer(obj)
