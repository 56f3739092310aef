"""Stores for job state; see :mod:`godnb.storage.state`."""

from godnb.storage.state import (
    STALE_AFTER,
    EngineInfo,
    LostCallable,
    MemoryStore,
    NotStored,
    Pickled,
    RecoveryReport,
    ShelveStore,
    SQLiteStore,
    Store,
    engine_is_dead,
    open_store,
)

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
