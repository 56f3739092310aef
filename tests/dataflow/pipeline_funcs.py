"""Module-level stage functions for the pipeline tests: picklable, so process stages can
run them. Parameters come first so ``functools.partial(fn, param)`` makes a stage."""

from __future__ import annotations

import asyncio
import os
import threading
import time


def double(x: int) -> int:
    return 2 * x


def inc(x: int) -> int:
    return x + 1


def is_odd(x: int) -> bool:
    return x % 2 == 1


def cpu(x: int) -> int:
    total = 0
    for i in range(50):
        total += (x ^ i) * i
    return total


def pid(_: object) -> int:
    return os.getpid()


def fail_on(bad: int, x: int) -> int:
    if x == bad:
        raise ValueError(f"bad item {x}")
    return 2 * x


def die_on(bad: int, x: int) -> int:
    if x == bad:
        os._exit(13)  # the worker process dies without a word
    return 2 * x


def exit_on(bad: int, x: int) -> int:
    if x == bad:
        raise SystemExit(3)  # what a thread worker can do that is closest to dying
    return 2 * x


def sleep_on(bad: int, seconds: float, x: int) -> int:
    if x == bad:
        time.sleep(seconds)
    return 2 * x


def slow_first(delay: float, x: int) -> int:
    """Item 0 is slow, so unordered output puts it last."""
    if x == 0:
        time.sleep(delay)
    return x


def sleepy(delay: float, x: int) -> int:
    time.sleep(delay)
    return x


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def afail_on(bad: int, x: int) -> int:
    await asyncio.sleep(0)
    if x == bad:
        raise ValueError(f"bad item {x}")
    return 2 * x


async def ahang_on(bad: int, x: int) -> int:
    if x == bad:
        await asyncio.sleep(60)
    return 2 * x


async def aslow_first(delay: float, x: int) -> int:
    if x == 0:
        await asyncio.sleep(delay)
    return x


async def aloop_id(_: object) -> int:
    return id(asyncio.get_running_loop())


class Gate:
    """A hang that the test can end: ``wait_on(gate, bad)`` blocks item ``bad`` until
    ``gate.release()`` (thread stages only: an Event does not cross processes)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def release(self) -> None:
        self.event.set()

    def hang_on(self, bad: int, x: int) -> int:
        if x == bad:
            self.event.wait(30)
        return 2 * x


class Concurrency:
    """Counts calls running at once (thread stages)."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, x: int) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.delay)
            return x
        finally:
            with self.lock:
                self.now -= 1
