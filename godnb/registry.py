"""One registry for every pluggable piece: executors, stores and pipeline stages.

A class joins by subclassing :class:`Plugin` with a kind and a name::

    class MyExecutor(Executor, name="mine"): ...

Third-party packages can also expose plugins through the ``godnb.plugins`` entry-point
group; :func:`load_entry_points` imports them on demand and records a broken one with its
error instead of failing.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar

__all__ = ["Plugin", "PluginInfo", "add_builtin_modules", "get_plugin", "load_entry_points",
           "plugin_names", "plugins"]

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
_load_lock = threading.Lock()  # one loader at a time; the others wait for a full list
_entry_points_loaded = False

# Modules whose import registers built-in plugins. ``import godnb`` does not import all of
# them (the process pool and the pipeline load on first use), so listing and lookup import
# them first: a fresh session's ``god.plugins()`` then shows every built-in. The top-level
# package names godnb's own (this module sits below every package it would name).
_builtin_modules: list[str] = []


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
            _register(PluginInfo(cls.plugin_kind, name, cls,
                                 f"{cls.__module__}.{cls.__qualname__}"))


def _register(info: PluginInfo) -> None:
    with _lock:
        _registry[(info.kind, info.name)] = info


def add_builtin_modules(*modules: str) -> None:
    """Import ``modules`` (their import registers plugins) before the next listing or lookup.

    Example:
        >>> add_builtin_modules("godnb.concurrency.threads")
    """
    global _entry_points_loaded
    with _load_lock:
        new = [m for m in modules if m not in _builtin_modules]
        if new:
            _builtin_modules.extend(new)
            _entry_points_loaded = False


def load_entry_points() -> None:
    """Import the built-in plugin modules and the ``godnb.plugins`` entry points, once.

    A broken plugin is recorded with its error (see :func:`plugins`), never raised: a bad
    third-party package must not break godnb.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    with _load_lock:
        if _entry_points_loaded:
            return
        for module in list(_builtin_modules):
            _import_builtin(module)
        try:
            eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        except Exception as e:  # broken installed metadata
            log.warning("could not read the %r entry points: %s", ENTRY_POINT_GROUP, e)
            eps = []
        for ep in eps:
            _load_entry_point(ep)
        _entry_points_loaded = True


def _import_builtin(module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:  # the module is there but an import inside it is not
            _broken(module.rpartition(".")[2], f"module {module}", e)
    except Exception as e:
        _broken(module.rpartition(".")[2], f"module {module}", e)


def _load_entry_point(ep: Any) -> None:
    name = getattr(ep, "name", "?")
    value = getattr(ep, "value", "?")
    try:
        obj = ep.load()
    except Exception as e:  # a broken plugin must not break godnb
        _broken(name, f"entry point {value}", e)
        return
    kind = getattr(obj, "plugin_kind", "") or "unknown"
    _register(PluginInfo(kind, getattr(obj, "plugin_name", "") or name,
                         obj if isinstance(obj, type) else None, f"entry point {value}"))


def _broken(name: str, source: str, exc: BaseException) -> None:
    log.warning("plugin %r (%s) failed to load: %s: %s", name, source, type(exc).__name__, exc)
    _register(PluginInfo("unknown", name, None, source, f"{type(exc).__name__}: {exc}"))


def plugins(kind: str | None = None) -> list[PluginInfo]:
    """Every registered plugin (optionally of one kind), sorted by kind and name.

    Each :class:`PluginInfo` says where the plugin came from (``source``: a class path or
    ``"entry point module:attr"``); a plugin that failed to load has kind ``"unknown"``,
    no class and its ``error``, and is listed whatever ``kind`` asks for.

    Example:
        >>> "thread" in [p.name for p in plugins("executor")]
        True
    """
    load_entry_points()
    with _lock:
        items = list(_registry.values())
    return sorted((p for p in items if kind is None or p.kind == kind or not p.ok),
                  key=lambda p: (p.kind, p.name))


def plugin_names(kind: str) -> list[str]:
    """Names of the working plugins of one kind."""
    return [p.name for p in plugins(kind) if p.ok and p.kind == kind]


def get_plugin(kind: str, name: str) -> type:
    """The class registered as ``name``; ValueError listing the valid names otherwise.

    If a plugin of that name failed to load, the message carries its error.
    """
    info = _registry.get((kind, name))
    if info is None:
        load_entry_points()
        info = _registry.get((kind, name)) or _registry.get(("unknown", name))
    if info is None or info.cls is None:
        valid = ", ".join(repr(n) for n in plugin_names(kind))
        why = (f" (the plugin {name!r} from {info.source} failed to load: {info.error})"
               if info is not None and info.error else "")
        raise ValueError(f"unknown {kind} {name!r}{why}; valid names: {valid}")
    return info.cls
