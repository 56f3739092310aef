"""Tasks for the CLI tests, loaded in workers with ``--import tests.cli.cli_tasks``."""

from __future__ import annotations

import os
import time

import godnb as god


def _touch(path: str, text: str = "") -> None:
    with open(path, "a") as f:
        f.write(text)


@god.task(name="cli.add")
def add(a: float, b: float) -> float:
    return a + b


@god.task(name="cli.fail")
def fail(message: str = "bad record") -> None:
    raise ValueError(message)


@god.task(name="cli.nap")
def nap(seconds: float, started: str = "", finished: str = "") -> str:
    """Sleeps ``seconds`` ignoring cancellation; marks files when it starts and ends."""
    if started:
        _touch(started)
    time.sleep(seconds)
    if finished:
        _touch(finished)
    return f"slept {seconds}"


@god.task(name="cli.cooperative")
def cooperative(seconds: float, started: str, saw_cancel: str) -> str:
    """A thread job that stops when cancelled and records that it saw the flag."""
    _touch(started)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if god.cancelled():
            _touch(saw_cancel)
            return "stopped"
        time.sleep(0.01)
    return "ran to the end"


@god.task(name="cli.proc_sleep", backend="process")
def proc_sleep(seconds: float, started: str) -> int:
    """A process job that can only be stopped by killing its process."""
    _touch(started, str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@god.task(name="cli.progress")
def with_progress(steps: int, pause: float) -> int:
    for i in range(steps):
        time.sleep(pause)
        god.progress(i + 1, total=steps, message="steps")
    return steps
