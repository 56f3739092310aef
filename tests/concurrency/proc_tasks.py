"""Picklable job functions for the process-executor tests (module level, so they pickle)."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import threading
import time
from typing import Any

from godnb.execution.context import progress


def add(a: int, b: int) -> int:
    return a + b


def getpid() -> int:
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def exit_with(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def segfault() -> None:
    faulthandler.disable()  # no crash dump on the test's stderr: the crash is the point
    ctypes.string_at(0)


def started_then_sleep(seconds: float, value: Any = None) -> Any:
    """Report progress first (so a test knows the job is in the child), then sleep."""
    progress(0, message="started")
    time.sleep(seconds)
    return value


def report_steps(n: int) -> str:
    for i in range(1, n + 1):
        progress(i, total=n, message=f"step {i}")
        time.sleep(0.001)
    return "finished"


def return_lock() -> Any:
    return threading.Lock()


class TwoArgError(Exception):
    """Pickles, but can not be rebuilt from its args: its __init__ wants two."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


def raise_two_arg() -> None:
    raise TwoArgError("left", "right")


def raise_system_exit() -> None:
    raise SystemExit(4)


def value_of(obj: Any) -> Any:
    return obj.value


def spawn_grandchild_then_sleep(pid_file: str, seconds: float) -> None:
    """Start ``sleep 60`` (a grandchild of the engine), record its pid, then sleep."""
    import subprocess

    child = subprocess.Popen(["sleep", "60"])
    with open(pid_file, "w") as f:
        f.write(str(child.pid))
    time.sleep(seconds)


def record_pid_then_sleep(pid_dir: str, seconds: float) -> None:
    with open(os.path.join(pid_dir, str(os.getpid())), "w") as f:
        f.write("x")
    time.sleep(seconds)
