"""Job functions for the Dask tests, at module level so worker processes import them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import godnb as god


def add(a: int, b: int) -> int:
    return a + b


def pid(_: Any = None) -> int:
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def fail_until(marker: str, times: int) -> str:
    """Raise a retryable error the first ``times`` calls (counted in a file), then succeed."""
    path = Path(marker)
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    if n < times:
        raise ConnectionError(f"transient failure {n + 1}")
    return f"ok after {n + 1}"


def sleep(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


def wait_for_file(path: str, timeout: float = 30.0) -> str:
    """Block until ``path`` exists (the test's way to release a running task)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)
    return "released"


def started_then_wait(started: str, path: str) -> str:
    """Say we run (create ``started``), then wait for ``path``."""
    Path(started).write_text(str(os.getpid()))
    return wait_for_file(path)


def progress_then_wait(path: str, steps: int = 3) -> str:
    """Report ``steps`` progress steps, then wait for the test to look and release us."""
    for i in range(1, steps + 1):
        god.progress(i, total=steps, message=f"step {i}")
        time.sleep(0.06)  # above the 50 ms throttle, so every step is sent
    return wait_for_file(path)


def until_cancelled(started: str, out: str, timeout: float = 30.0) -> str:
    """Spin until god.cancelled() turns true; record in ``out`` that it did."""
    Path(started).write_text("1")
    deadline = time.monotonic() + timeout
    while not god.cancelled():
        if time.monotonic() > deadline:
            Path(out).write_text("never cancelled")
            return "timeout"
        time.sleep(0.01)
    Path(out).write_text("cancelled")
    return "stopped"


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_once(marker: str) -> str:
    """Kill this worker process the first time; succeed when Dask re-runs it elsewhere."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return f"survived in {os.getpid()}"


def square(x: int) -> int:
    if x == 13:
        raise ValueError("unlucky 13")
    return x * x


def touch(path: str) -> str:
    Path(path).write_text("ran")
    return path
