"""Job functions for the output-capture tests (module level, so process jobs can pickle them)."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("tests.output_tasks")


def chatty(n: int, tag: str = "line") -> int:
    for i in range(n):
        print(f"{tag} {i}")
    return n


def mixed(tag: str) -> str:
    print(f"{tag} out")
    print(f"{tag} err", file=sys.stderr)
    log.warning("%s logged", tag)
    return tag


def quiet_then_print(pause: float) -> str:
    print("early")
    time.sleep(pause)  # the flusher must send "early" before the job ends
    return "done"


def fail_after_print(tag: str) -> None:
    print(f"{tag} before failing")
    raise KeyError("id")
