"""Event fan-out: the engine emits, streams and displays subscribe.

Emitting is free while nobody listens. Async streams get a bounded buffer each: status
changes are always kept (every status change arrives, in order); progress events for the
same job are coalesced while the consumer is behind, and dropped past the buffer limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from godnb.models.events import EventKind, JobEvent

__all__ = ["EventHub", "Subscription"]

Listener = Callable[[JobEvent], Any]


class Subscription:
    """One async consumer's buffer of events, optionally for one job only."""

    def __init__(self, hub: EventHub, loop: asyncio.AbstractEventLoop, job_id: str | None,
                 limit: int = 10_000) -> None:
        self._hub = hub
        self._loop = loop
        self.job_id = job_id
        self._limit = limit
        self._buf: deque[JobEvent] = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.dropped = 0

    def push(self, event: JobEvent) -> None:
        """Add an event (any thread); wakes the consumer if it waits."""
        with self._lock:
            if self._closed:
                return
            buf = self._buf
            if event.kind is EventKind.PROGRESS:
                if buf and buf[-1].kind is EventKind.PROGRESS and buf[-1].job_id == event.job_id:
                    buf[-1] = event
                    return
                if len(buf) >= self._limit:
                    self.dropped += 1
                    return
            buf.append(event)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiter, self._waiter = self._waiter, None
        if waiter is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_wake, waiter)

    async def get(self) -> JobEvent | None:
        """The next event; None once closed and drained."""
        while True:
            with self._lock:
                if self._buf:
                    return self._buf.popleft()
                if self._closed:
                    return None
                waiter = self._waiter = self._loop.create_future()
            await waiter

    async def stream(self, until_final: bool) -> AsyncIterator[JobEvent]:
        try:
            while (event := await self.get()) is not None:
                yield event
                if until_final and event.is_final:
                    return
        finally:
            self._hub.unsubscribe(self)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventHub:
    """Routes events to async subscriptions (all jobs, or one job) and sync listeners."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: tuple[Subscription, ...] = ()
        self._by_job: dict[str, tuple[Subscription, ...]] = {}
        self._listeners: tuple[Listener, ...] = ()
        self.active = False  # read without the lock on the hot path

    def subscribe(self, job_id: str | None = None, limit: int = 10_000) -> Subscription:
        """A new subscription on the running loop (call from a coroutine)."""
        sub = Subscription(self, asyncio.get_running_loop(), job_id, limit)
        with self._lock:
            if job_id is None:
                self._all += (sub,)
            else:
                self._by_job[job_id] = (*self._by_job.get(job_id, ()), sub)
            self.active = True
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        with self._lock:
            self._all = tuple(s for s in self._all if s is not sub)
            if sub.job_id is not None:
                rest = tuple(s for s in self._by_job.get(sub.job_id, ()) if s is not sub)
                if rest:
                    self._by_job[sub.job_id] = rest
                else:
                    self._by_job.pop(sub.job_id, None)
            self._refresh()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` synchronously for every event; returns a remover.

        Listeners run on the emitting thread, under the engine's lock: they must be quick
        and must not block (hand work to a loop with ``call_soon_threadsafe``).
        """
        with self._lock:
            self._listeners += (listener,)
            self.active = True

        def remove() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)
                self._refresh()

        return remove

    def _refresh(self) -> None:
        self.active = bool(self._all or self._by_job or self._listeners)

    def wants(self, job_id: str) -> bool:
        return bool(self._all or self._listeners or job_id in self._by_job)

    def emit(self, event: JobEvent) -> None:
        for sub in self._all:
            sub.push(event)
        for sub in self._by_job.get(event.job_id, ()):
            sub.push(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a display bug must not break the engine
                import logging

                logging.getLogger("godnb.events").exception("event listener failed")

    def close(self) -> None:
        with self._lock:
            subs = list(self._all) + [s for subs in self._by_job.values() for s in subs]
        for sub in subs:
            sub.close()
