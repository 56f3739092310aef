"""Shared fixtures. The autouse ``no_leaks`` fixture fails any test that leaves godnb
threads, child processes or open engines behind."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from godnb.core.defaults import live_engines, set_default_engine


def _godnb_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("godnb-") and t.is_alive()}


def check_leaks(request: pytest.FixtureRequest,
                children: Callable[[], list[Any]] = multiprocessing.active_children,
                ) -> Iterator[None]:
    """The body of ``no_leaks``; a directory can reuse it with its own ``children``."""
    if request.node.get_closest_marker("allow_leaks"):
        yield
        return
    threads_before = _godnb_threads()
    engines_before = set(map(id, live_engines()))
    yield
    leaked_engines = [e for e in live_engines() if id(e) not in engines_before]
    for eng in leaked_engines:
        eng.shutdown(wait=False)
    set_default_engine(None)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        threads = _godnb_threads() - threads_before
        leaked_children = children()
        if not threads and not leaked_children:
            break
        time.sleep(0.02)
    assert not leaked_engines, f"test left engines open: {leaked_engines}; use `with Engine()`"
    assert not threads, f"test leaked threads: {sorted(t.name for t in threads)}"
    assert not leaked_children, f"test leaked child processes: {leaked_children}"


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    yield from check_leaks(request)


@pytest.fixture
def engine() -> Iterator[object]:
    from godnb import Engine

    eng = Engine(threads=4, processes=2)
    try:
        yield eng
    finally:
        eng.shutdown(wait=False)
