"""Helpers of the load suite: waiting, and timing ``stats()`` while the engine is busy."""

from __future__ import annotations

import os
import time
from typing import Any

LONG = os.environ.get("GODNB_LOAD", "").lower() == "long"


class StatsProbe:
    """Times ``eng.stats()`` calls; the engine must answer fast while it is loaded."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.samples: list[float] = []
        self.max_pending = 0

    def __call__(self) -> Any:
        t0 = time.perf_counter()
        stats = self.engine.stats()
        self.samples.append(time.perf_counter() - t0)
        self.max_pending = max(self.max_pending, stats.counts["pending"])
        return stats

    def summary(self) -> str:
        s = sorted(self.samples)
        p50 = s[len(s) // 2] * 1e3
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3
        return f"stats() under load: n={len(s)} p50={p50:.3f} ms p99={p99:.3f} ms " \
               f"max={s[-1] * 1e3:.3f} ms"

    @property
    def worst(self) -> float:
        return max(self.samples)
