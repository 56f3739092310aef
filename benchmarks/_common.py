"""Shared helpers for the benchmarks: timing, and printing a table with ratios."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def best_of(fn: Callable[[], float], repeat: int = 3) -> float:
    """Median of ``repeat`` runs of ``fn`` (each returns seconds)."""
    return statistics.median(fn() for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def machine() -> str:
    return (f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores, {platform.machine()}")


def table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = [f"\n{title}  ({machine()})", "  ".join(h.ljust(w) for h, w in zip(header, widths,
                                                                           strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def verdict(ratio: float, goal: float, higher_is_better: bool = True) -> str:
    ok = ratio >= goal if higher_is_better else ratio <= goal
    sign = ">=" if higher_is_better else "<="
    return f"{'PASS' if ok else 'MISS'} (goal {sign} {goal:g}x)"
