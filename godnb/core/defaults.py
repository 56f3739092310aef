"""The default engine (what ``god.submit``, ``god.map`` and the ``%god`` magics use), and
the registry of engines not yet shut down.

The first :class:`~godnb.core.engine.Engine` made while no live default is set becomes
the default (``Engine(default=False)`` opts out); :func:`set_default_engine` replaces it.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from godnb.core.engine import Engine

__all__ = ["default_engine", "live_engines", "offer_default", "register", "set_default_engine",
           "unregister"]

_default: list[Engine | None] = [None]
_default_lock = threading.Lock()
_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def default_engine() -> Engine:
    """The engine used by ``god.submit``, ``god.map`` and ``%god``.

    The first :class:`Engine` made while no live default is set becomes the default
    (``Engine(default=False)`` opts out), so after ``eng = god.Engine(...)`` the magics
    drive ``eng``; :func:`set_default_engine` replaces it. With none, an engine named
    ``"default"`` is made on first use. A default that was shut down is replaced.
    """
    from godnb.core.engine import Engine  # the engine module imports this one

    with _default_lock:
        eng = _default[0]
        if eng is None or eng.closed:
            eng = _default[0] = Engine(name="default", default=False)
        return eng


def offer_default(engine: Engine, force: bool) -> None:
    """A new engine becomes the default if forced or if no live default is set."""
    with _default_lock:
        current = _default[0]
        if force or current is None or current.closed:
            _default[0] = engine


def set_default_engine(engine: Engine | None) -> Engine | None:
    """Make ``engine`` the default; returns the previous one (not shut down)."""
    from godnb.core.engine import Engine

    if engine is not None and not isinstance(engine, Engine):
        raise TypeError(f"set_default_engine() takes an Engine, got {type(engine).__name__}")
    with _default_lock:
        previous, _default[0] = _default[0], engine
    return previous


def live_engines() -> list[Engine]:
    """Engines not yet shut down (the test suite checks nothing leaks)."""
    return [e for e in list(_live_engines) if not e.closed]


def register(engine: Engine) -> None:
    """Count ``engine`` live (a new engine calls this)."""
    _live_engines.add(engine)


def unregister(engine: Engine) -> None:
    """``engine`` shut down: it is not live, nor the default, any more."""
    _live_engines.discard(engine)
    with _default_lock:
        if _default[0] is engine:
            _default[0] = None
