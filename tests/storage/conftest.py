"""Fixtures for the store tests: every contract test runs once per store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from godnb.storage import MemoryStore, ShelveStore, SQLiteStore, Store

STORES = ["memory", "shelve", "sqlite"]
FILE_STORES = ["shelve", "sqlite"]
DURABLE_STORES = FILE_STORES  # they keep what they acknowledged through a kill -9
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _opener(kind: str, path: Path) -> Callable[[], Store]:
    if kind == "memory":
        return MemoryStore
    if kind == "shelve":
        return lambda: ShelveStore(path / "jobs.shelf")
    return lambda: SQLiteStore(path / "jobs.db")


@pytest.fixture
def open_store_kind(tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """``open(kind)`` opens that store on this test's path; closed at the end."""
    opened: list[Store] = []

    def open_(kind: str) -> Store:
        store = _opener(kind, tmp_path)()
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture(params=STORES)
def reopen(request: pytest.FixtureRequest, open_store_kind: Callable[[str], Store]
           ) -> Callable[[], Store]:
    """Opens this parametrized kind of store again (same file for the file stores)."""
    return lambda: open_store_kind(request.param)


@pytest.fixture
def store(reopen: Callable[[], Store]) -> Store:
    return reopen()


@pytest.fixture(params=FILE_STORES)
def file_store(request: pytest.FixtureRequest, open_store_kind: Callable[[str], Store]
               ) -> Callable[[], Store]:
    """Opens a store kept in a file; call it again (after close) to reopen that file."""
    return lambda: open_store_kind(request.param)


@pytest.fixture(params=DURABLE_STORES)
def durable_kind(request: pytest.FixtureRequest) -> str:
    """The name of each store that promises to survive ``kill -9``."""
    return str(request.param)
