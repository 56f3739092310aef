"""One registry for every pluggable piece: executors, stores and pipeline stages.

A class joins by subclassing :class:`Plugin` with a kind and a name::

    class MyExecutor(Executor, name="mine"): ...

Third-party packages can also expose plugins through the ``godnb.plugins`` entry-point
group; :func:`load_entry_points` imports them on demand and records a broken one with its
error instead of failing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar

__all__ = ["Plugin", "PluginInfo", "get_plugin", "load_entry_points", "plugin_names", "plugins"]

log = logging.getLogger("godnb.plugins")
ENTRY_POINT_GROUP = "godnb.plugins"


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin: its kind, name, class and where it came from."""

    kind: str
    name: str
    cls: type | None
    source: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_registry: dict[tuple[str, str], PluginInfo] = {}
_lock = threading.Lock()
_entry_points_loaded = False


class Plugin:
    """Base of pluggable classes. Subclass with ``kind=`` (a family) and ``name=``."""

    plugin_kind: ClassVar[str] = ""
    plugin_name: ClassVar[str] = ""

    def __init_subclass__(cls, kind: str | None = None, name: str | None = None, **kw: Any
                          ) -> None:
        super().__init_subclass__(**kw)
        if kind is not None:
            cls.plugin_kind = kind
        if name is not None:
            cls.plugin_name = name
            if not cls.plugin_kind:
                raise TypeError(f"{cls.__name__}: a named plugin needs a kind")
            _register(PluginInfo(cls.plugin_kind, name, cls, f"{cls.__module__}.{cls.__qualname__}"))


def _register(info: PluginInfo) -> None:
    with _lock:
        _registry[(info.kind, info.name)] = info


def load_entry_points() -> None:
    """Import the ``godnb.plugins`` entry points once; broken ones are recorded, not raised."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin must not break godnb
            log.warning("plugin %r (%s) failed to load: %s", ep.name, ep.value, e)
            _register(PluginInfo("unknown", ep.name, None, f"entry point {ep.value}",
                                 f"{type(e).__name__}: {e}"))
            continue
        kind = getattr(obj, "plugin_kind", "") or "unknown"
        _register(PluginInfo(kind, getattr(obj, "plugin_name", "") or ep.name,
                             obj if isinstance(obj, type) else None,
                             f"entry point {ep.value}"))


def plugins(kind: str | None = None) -> list[PluginInfo]:
    """Every registered plugin (optionally of one kind), sorted by kind and name."""
    load_entry_points()
    with _lock:
        items = list(_registry.values())
    return sorted((p for p in items if kind is None or p.kind == kind),
                  key=lambda p: (p.kind, p.name))


def plugin_names(kind: str) -> list[str]:
    """Names of the working plugins of one kind."""
    return [p.name for p in plugins(kind) if p.ok]


def get_plugin(kind: str, name: str) -> type:
    """The class registered as ``name``; ValueError listing the valid names otherwise."""
    info = _registry.get((kind, name))
    if info is None:
        load_entry_points()
        info = _registry.get((kind, name))
    if info is None or info.cls is None:
        valid = ", ".join(repr(n) for n in plugin_names(kind))
        why = f" ({info.error})" if info is not None and info.error else ""
        raise ValueError(f"unknown {kind} {name!r}{why}; valid names: {valid}")
    return info.cls
