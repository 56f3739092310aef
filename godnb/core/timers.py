"""One timer thread per engine for retry back-offs and thread-job timeouts.

Timers must not need the event loop: a blocking ``h.result()`` on the loop's thread waits
on thread and process jobs whose retries and timeouts still have to fire.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Timer", "TimerThread"]

log = logging.getLogger("godnb.timers")


class Timer:
    """A scheduled call; ``cancel()`` makes it a no-op (lazy removal)."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]
                 ) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerThread:
    """A heap of timers served by one daemon thread, started on first use."""

    def __init__(self, name: str = "godnb-timers", clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._name = name
        self._clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Call ``callback(*args)`` on the timer thread after ``delay`` seconds."""
        timer = Timer(self._clock() + max(0.0, delay), callback, args)
        with self._cond:
            if self._stopped:
                raise RuntimeError("timer thread is stopped")
            heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name,
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][2] is timer:
                self._cond.notify()
        return timer

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def stop(self) -> None:
        """Drop every pending timer and end the thread."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            with self._cond:
                timer = self._next_due()
                if timer is None:
                    return
            if not timer.cancelled:
                try:
                    timer.callback(*timer.args)
                except Exception:  # a timer must never kill the thread
                    log.exception("timer callback %r failed", timer.callback)

    def _next_due(self) -> Timer | None:
        while not self._stopped:
            if not self._heap:
                self._cond.wait()
                continue
            when, _, timer = self._heap[0]
            if timer.cancelled:
                heapq.heappop(self._heap)
                continue
            delay = when - self._clock()
            if delay <= 0:
                heapq.heappop(self._heap)
                return timer
            self._cond.wait(delay)
        return None
