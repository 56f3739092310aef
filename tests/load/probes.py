"""Helpers of the load suite: waiting, and timing ``stats()`` while the engine is busy."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from tests.waiting import wait_until

LONG = os.environ.get("GODNB_LOAD", "").lower() == "long"
#: The longest any wait of the suite may take: below pytest's timeout, so a stuck wait
#: fails with what it waited for instead of being killed.
BOUND = 500.0 if LONG else 100.0


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

    def wait_for(self, done: Callable[[], Any], what: str, timeout: float = BOUND,
                 interval: float = 0.002) -> None:
        """Wait (bounded) for ``done()``, timing ``stats()`` on every poll meanwhile."""
        def probed() -> Any:
            self()
            return done()

        wait_until(probed, timeout, what, interval)
