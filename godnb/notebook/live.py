"""Coalesced, loop-only refreshes for live views (no widget code here).

The rules (see NOTEBOOK-NOTES): only the kernel's event loop writes widget state; worker
threads only mark a view dirty. A :class:`Refresher` turns any number of ``request()``
calls, from any thread, into at most one pending flush on the loop, at least
``interval`` seconds after the previous one (10 per second at the default 0.1 s). The
flush reads the *latest* state, so nothing is lost by dropping the requests in between,
and a request that arrives after a flush started schedules another one: the final state
is always flushed.

A view that polls (queue, engine, group summaries) returns True from its flush to be
called again after ``interval``; it returns False once there is nothing left to follow.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from godnb.execution.loop import running_loop

__all__ = ["Refresher", "view_loop"]

log = logging.getLogger("godnb.notebook")


def view_loop(owner: Any = None) -> asyncio.AbstractEventLoop | None:
    """The loop a view should write its widgets from.

    In a kernel cell that is the kernel's running loop. Elsewhere (a script, a test) it is
    the engine's own loop, found on ``owner`` (an Engine, a JobHandle or a JobGroup).
    """
    loop = running_loop()
    if loop is not None:
        return loop
    if isinstance(owner, list | tuple):
        owner = owner[0] if owner else None
    engine_loop = getattr(owner, "loop", None)
    if isinstance(engine_loop, asyncio.AbstractEventLoop):
        return engine_loop
    return None


class Refresher:
    """At most one pending flush, run on ``loop``, spaced at least ``interval`` apart.

    Example:
        >>> r = Refresher(None, lambda: False)   # no loop: request() is a no-op
        >>> r.request()
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None, flush: Callable[[], bool],
                 interval: float = 0.1) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.loop = loop
        self.interval = interval
        self._flush = flush
        self._lock = threading.Lock()
        self._scheduled = False
        self._closed = False
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._later: asyncio.TimerHandle | None = None  # a request_in() waiting
        self.flushes = 0  # how many flushes ran (tests and curious users)

    @property
    def closed(self) -> bool:
        return self._closed

    def request(self) -> None:
        """Ask for a flush (any thread). Cheap when one is already pending."""
        if self._scheduled or self._closed or self.loop is None:
            return
        with self._lock:
            if self._scheduled or self._closed:
                return
            self._scheduled = True
        loop = self.loop
        try:
            if running_loop() is loop:
                self._arm()
            else:
                loop.call_soon_threadsafe(self._arm)
        except RuntimeError:  # the loop was closed (engine shut down): nothing to update
            self._closed = True

    def _arm(self) -> None:
        assert self.loop is not None
        delay = self._last + self.interval - self.loop.time()
        if delay > 0:
            self._timer = self.loop.call_later(delay, self._fire)
        else:
            # call_soon, not a direct call: requests queued behind this one coalesce.
            self.loop.call_soon(self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._scheduled = False  # before reading state: later requests re-arm
            self._timer = None
        if self._closed or self.loop is None:
            return
        self._last = self.loop.time()
        self.flushes += 1
        try:
            again = self._flush()
        except Exception:  # a display bug must not kill the loop callback chain
            log.exception("godnb view refresh failed")
            again = False
        if again:
            self.request()

    def request_in(self, delay: float) -> None:
        """Ask for a flush in ``delay`` seconds, unless one is asked for already (any
        thread). For a clock that must tick while nothing else happens."""
        loop = self.loop
        if self._closed or loop is None or self._later is not None or loop.is_closed():
            return
        if running_loop() is loop:
            self._later = loop.call_later(delay, self._later_fire)
        else:
            loop.call_soon_threadsafe(self._arm_later, delay)

    def _arm_later(self, delay: float) -> None:
        if self._later is None and not self._closed and self.loop is not None:
            self._later = self.loop.call_later(delay, self._later_fire)

    def _later_fire(self) -> None:
        self._later = None
        self.request()

    def touch(self) -> None:
        """Record a flush done outside the refresher, so the next one waits ``interval``."""
        if self.loop is not None:
            self._last = self.loop.time()

    def close(self) -> None:
        """Stop: pending flushes are dropped, later requests ignored."""
        self._closed = True
        timers = [t for t in (self._timer, self._later) if t is not None]
        self._timer = self._later = None
        if timers and self.loop is not None and not self.loop.is_closed():
            try:
                for timer in timers:
                    if running_loop() is self.loop:
                        timer.cancel()
                    else:
                        self.loop.call_soon_threadsafe(timer.cancel)
            except RuntimeError:
                pass
