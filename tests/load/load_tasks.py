"""Job functions for the load suite: module level, so process workers can import them."""

from __future__ import annotations

import asyncio
import os
import time

import godnb as god
from godnb.execution.context import current


def _attempt() -> int:
    ctx = current()
    return ctx.attempt if ctx is not None else 0


# -- sync (thread and process backends) -------------------------------------------------

def ok(i: int) -> int:
    return 2 * i


def boom(i: int) -> None:
    raise ValueError(f"injected failure {i}")


def flaky(i: int) -> int:
    """Fails its first attempt with a retryable error."""
    if _attempt() == 1:
        raise ConnectionError(f"injected transient failure {i}")
    return 2 * i


def linger(cap: float) -> str:
    """Runs until cancelled (cooperatively: thread jobs) or killed (process jobs)."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        if god.cancelled():
            return "stopped"
        time.sleep(0.002)
    return "cap reached"


def die(code: int) -> None:
    os._exit(code)


def die_first(i: int) -> int:
    """Kills its worker process on the first attempt; succeeds on the retry."""
    if _attempt() == 1:
        os._exit(3)
    return 2 * i


def nap(i: int, seconds: float) -> int:
    time.sleep(seconds)
    return i


def noop(i: int) -> None:
    return None


# -- async ------------------------------------------------------------------------------

async def aok(i: int) -> int:
    await asyncio.sleep(0)
    return 2 * i


async def aboom(i: int) -> None:
    await asyncio.sleep(0)
    raise ValueError(f"injected failure {i}")


async def aflaky(i: int) -> int:
    await asyncio.sleep(0)
    if _attempt() == 1:
        raise ConnectionError(f"injected transient failure {i}")
    return 2 * i


async def alinger(cap: float) -> str:
    await asyncio.sleep(cap)
    return "cap reached"
