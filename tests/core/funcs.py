"""Module-level job functions: picklable, so every backend (process included) can run them."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import godnb as god


def double(x: int) -> int:
    return 2 * x


def boom(message: str = "boom") -> None:
    raise RuntimeError(message)


def type_error() -> None:
    raise TypeError("programming error")


def fatal() -> None:
    raise god.FatalError("give up")


def fail_until(path: str, succeed_on: int) -> str:
    """Fails with ConnectionError until called ``succeed_on`` times (counted in a file)."""
    n = 1
    if os.path.exists(path):
        with open(path) as f:
            n = int(f.read() or 0) + 1
    with open(path, "w") as f:
        f.write(str(n))
    if n < succeed_on:
        raise ConnectionError(f"attempt {n} failed")
    return f"ok after {n}"


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def cooperative(limit: float = 30.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        god.check_cancelled()
        time.sleep(0.005)
    return "ran to the end"


def report(n: int) -> int:
    for i in range(n):
        god.progress(i + 1, total=n, message=f"step {i + 1}")
        time.sleep(0.002)
    return n


def die(code: int = 3) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def adouble(x: int) -> int:
    await asyncio.sleep(0.001)
    return 2 * x


async def aboom() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("async boom")


async def asleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


async def areport(n: int) -> int:
    for i in range(n):
        god.progress(i + 1, total=n)
        await asyncio.sleep(0.002)
    return n


async def afail_until(path: str, succeed_on: int) -> str:
    return fail_until(path, succeed_on)
