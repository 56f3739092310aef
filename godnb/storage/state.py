"""Durable job state: the :class:`Store` interface, its three stores and :func:`open_store`.

* :class:`SQLiteStore` - one SQLite file in WAL mode, shared by many engines and
  processes; what ``Engine(store="jobs.db")`` uses.
* :class:`ShelveStore` - a :mod:`shelve` file for one process; what it acknowledges
  survives ``kill -9`` (see :mod:`godnb.storage.dumbfile`).
* :class:`MemoryStore` - in memory, for tests and engines that need no durability.

Reading a store never unpickles anything: a pickled argument or result comes back as a
:class:`~godnb.storage.codec.Pickled` stand-in, loaded only on request.
"""

from __future__ import annotations

import os

from godnb.storage.base import Store
from godnb.storage.codec import LostCallable, NotStored, Pickled
from godnb.storage.memory import MemoryStore
from godnb.storage.recovery import STALE_AFTER, EngineInfo, RecoveryReport, engine_is_dead
from godnb.storage.shelve import ShelveStore
from godnb.storage.sqlite import SQLiteStore

__all__ = [
    "STALE_AFTER",
    "EngineInfo",
    "LostCallable",
    "MemoryStore",
    "NotStored",
    "Pickled",
    "RecoveryReport",
    "SQLiteStore",
    "ShelveStore",
    "Store",
    "engine_is_dead",
    "open_store",
]


def open_store(spec: Store | str | os.PathLike[str] | None) -> Store | None:
    """The store an engine's ``store=`` argument names.

    A :class:`Store` passes through, a path opens a :class:`SQLiteStore`, ``":memory:"``
    gives a :class:`MemoryStore`, and None means no store.

    Example:
        >>> open_store(None) is None
        True
        >>> open_store(":memory:")
        <MemoryStore>
    """
    if spec is None or isinstance(spec, Store):
        return spec
    if isinstance(spec, str | os.PathLike):
        path = os.fspath(spec)
        if path == ":memory:":
            return MemoryStore()
        if not path:
            raise ValueError("store path is empty; pass a file path such as 'godnb.db'")
        return SQLiteStore(path)
    raise TypeError(f"store must be a Store, a file path or None, got "
                    f"{type(spec).__name__}; e.g. store='jobs.db' or store=MemoryStore()")
