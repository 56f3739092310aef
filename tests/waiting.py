"""Waiting in tests: poll a condition instead of sleeping a fixed time.

Every poll in the suite has a deadline: a condition that never comes fails the test with
what it waited for, instead of hanging until pytest-timeout kills the whole run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: What a poll waited for: a description, or a function that describes the state at the
#: deadline (e.g. which threads are still alive).
What = str | Callable[[], str]


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, what: What = "condition",
               interval: float = 0.01) -> Any:
    """Return ``pred()``'s first true value; fail the test if none comes within ``timeout``.

    ``pred`` is called at least once, so ``timeout=0`` checks the condition now.
    """
    poll = _Poll(pred, timeout, what)
    while (value := poll()) is _NOT_YET:
        time.sleep(interval)
    return value


async def wait_until_async(pred: Callable[[], Any], timeout: float = 30.0,
                           what: What = "condition", interval: float = 0.001) -> Any:
    """:func:`wait_until` for a coroutine: it polls between turns of the running loop, so
    the jobs and tasks on that loop keep running while it waits."""
    poll = _Poll(pred, timeout, what)
    while (value := poll()) is _NOT_YET:
        await asyncio.sleep(interval)
    return value


_NOT_YET = object()


class _Poll:
    """One check of ``pred`` against the deadline: its true value, _NOT_YET, or a failure."""

    def __init__(self, pred: Callable[[], Any], timeout: float, what: What) -> None:
        self.pred, self.timeout, self.what = pred, timeout, what
        self.deadline = time.monotonic() + timeout

    def __call__(self) -> Any:
        value = self.pred()
        if value:
            return value
        if time.monotonic() > self.deadline:
            what = self.what() if callable(self.what) else self.what
            raise AssertionError(f"timed out after {self.timeout} s waiting for {what}")
        return _NOT_YET
