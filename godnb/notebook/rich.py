"""Rich display of godnb objects: a live widget plus ``text/plain`` and ``text/html``.

Installed into :mod:`godnb.core.display` when ``godnb.notebook`` is imported. In a kernel
with ipywidgets, a handle, group, engine, profile table or pipeline displays as its live
view *and* static fallbacks in one bundle (JupyterLab shows the widget; nbval, nbconvert
and GitHub use the text and HTML). Without ipywidgets the bundle is the HTML and text
alone, with a hint to install ``godnb[notebook]``; outside a kernel (a terminal
IPython) no widget is built. Something that can not change any more (a job that ended, a
profile table) is shown static, without a widget: nothing is left to follow, and a saved
notebook then needs no widget state to show it. In IPython the objects display through
:func:`godnb.notebook.saved.show` instead, which also rewrites a live view static once
it ends.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from godnb.core import display
from godnb.core.engine import Engine
from godnb.core.handles import JobGroup, JobHandle
from godnb.core.timeline import Timeline
from godnb.notebook.formatters import (
    format_engine_html,
    format_engine_text,
    format_group_html,
    format_group_text,
    format_job_html,
    format_job_text,
    format_pipeline_html,
    format_pipeline_text,
    format_profile_html,
    format_profile_text,
)
from godnb.notebook.snapshots import (
    snapshot_engine,
    snapshot_group,
    snapshot_job,
    snapshot_pipeline,
)
from godnb.utils.profile import ProfileTable
from godnb.views.timeline import format_timeline_html, format_timeline_text

__all__ = ["Report", "finality", "in_kernel", "install", "kind_of", "render", "static_bundle",
           "use_widgets", "widgets_available", "widgets_enabled"]

HINT_HTML = ('<div style="color:#757575;font-size:11px">live view unavailable: '
             '<code>pip install "godnb[notebook]"</code></div>')
VIEW_KINDS = ("job", "group", "queue", "engine", "profile", "pipeline", "timeline")

_forced: bool | None = None


class Report:
    """A static display: plain text plus HTML (what ``%god status`` returns).

    Example:
        >>> r = Report("3 jobs", "<b>3 jobs</b>")
        >>> repr(r), r._repr_html_()
        ('3 jobs', '<b>3 jobs</b>')
    """

    def __init__(self, text: str, html: str) -> None:
        self.text = text
        self.html = html

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.html}


def widgets_available() -> bool:
    """True when ipywidgets can be imported (it is not imported here)."""
    return "ipywidgets" in sys.modules or importlib.util.find_spec("ipywidgets") is not None


def in_kernel() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def use_widgets(flag: bool | None) -> None:
    """Force widgets on or off in displays (None: automatic, i.e. only in a kernel)."""
    global _forced
    _forced = flag


def widgets_enabled() -> bool:
    if _forced is not None:
        return _forced and widgets_available()
    return in_kernel() and widgets_available()


def _is_pipeline(obj: Any) -> bool:
    cls = type(obj)
    return (cls.__name__ == "Pipeline" or cls.__module__.endswith(".pipeline")) \
        and callable(getattr(obj, "profile", None))


def kind_of(obj: Any) -> str | None:
    """Which view displays ``obj``: job, group, engine, profile, pipeline, timeline; or
    None."""
    if isinstance(obj, JobHandle):
        return "job"
    if isinstance(obj, JobGroup):
        return "group"
    if isinstance(obj, Engine):
        return "engine"
    if isinstance(obj, ProfileTable):
        return "profile"
    if _is_pipeline(obj):
        return "pipeline"
    if isinstance(obj, Timeline):
        return "timeline"
    return None


_STATIC: dict[str, Callable[[Any], tuple[str, str]]] = {
    "job": lambda h: _both(snapshot_job(h), format_job_text, format_job_html),
    "group": lambda g: _both(snapshot_group(g), format_group_text, format_group_html),
    "engine": lambda e: _both(snapshot_engine(e), format_engine_text, format_engine_html),
    "profile": lambda t: (format_profile_text(t), format_profile_html(t)),
    "pipeline": lambda p: _both(snapshot_pipeline(p), format_pipeline_text,
                                format_pipeline_html),
    "timeline": lambda t: _both(t.snapshot(), format_timeline_text, format_timeline_html),
}


def _both(snapshot: Any, text: Callable[[Any], str], html: Callable[[Any], str]
          ) -> tuple[str, str]:
    return text(snapshot), html(snapshot)


def static_bundle(obj: Any) -> dict[str, str] | None:
    """``text/plain`` and ``text/html`` of ``obj`` without any widget; None if unknown."""
    kind = kind_of(obj)
    if kind is None:
        return None
    text, html = _STATIC[kind](obj)
    return {"text/plain": text, "text/html": html}


def finality(kind: str, obj: Any) -> tuple[bool, bool]:
    """``(final now, final for good)`` of the object a ``kind`` view shows.

    Jobs, groups, finished pipelines and profile tables stay final; an engine (queue,
    engine, timeline and live profile views) is final while idle and live again with new
    work.
    """
    if kind in ("job", "group"):
        done = bool(obj.done())
        return done, done
    if kind == "pipeline":
        finished = snapshot_pipeline(obj).finished
        return finished, finished
    if isinstance(obj, ProfileTable):
        return True, True
    if isinstance(obj, Timeline):
        obj = obj.engine  # a timeline follows its engine, like the queue view
    if isinstance(obj, Engine):
        if obj.closed:
            return True, True
        return obj.stats().active == 0, False
    return True, True


def render(obj: Any) -> dict[str, Any] | None:
    """The renderer installed into ``godnb.core.display``: widget + text + HTML.

    Only text and HTML for what can not change any more (a finished job or group, a
    profile table).
    """
    kind = kind_of(obj)
    if kind is None:
        return None
    ended = kind != "engine" and finality(kind, obj)[1]
    if widgets_enabled() and not ended:
        from godnb.notebook.widgets import make_view

        bundle: dict[str, Any] = make_view(kind, obj)._repr_mimebundle_()
        return bundle
    static = static_bundle(obj)
    assert static is not None
    if not widgets_available():
        static["text/html"] += HINT_HTML
    return static


def _make_view(kind: str) -> Callable[..., Any]:
    def factory(obj: Any, **kwargs: Any) -> Any:
        from godnb.notebook.widgets import make_view

        return make_view(kind, obj, **kwargs)

    factory.__name__ = f"{kind}_view"
    return factory


def install() -> None:
    """Make godnb objects display richly (idempotent)."""
    display.set_renderer(render)
    for kind in VIEW_KINDS:
        display.register_view(kind, _make_view(kind))


def register_formatters(shell: Any) -> None:
    """Teach IPython to show a :class:`ProfileTable` (it has no ``_repr_mimebundle_``)."""
    formatter = getattr(getattr(shell, "display_formatter", None), "mimebundle_formatter", None)
    if formatter is not None:
        formatter.for_type(ProfileTable, render)

