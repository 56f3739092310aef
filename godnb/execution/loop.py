"""The engine's event loop: the caller's running loop (a kernel's), or one of its own.

In a Jupyter kernel cells run on a running asyncio loop; the engine attaches to it so async
jobs, event streams and widget updates run there. With no running loop (scripts, the CLI
worker) the engine starts a loop in a daemon thread on first need. It never calls
``asyncio.run`` or ``run_until_complete`` on a running loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["EngineLoop", "LoopThread", "running_loop"]


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopThread:
    """An asyncio loop running forever on a daemon thread of its own.

    For async work where no loop runs: an engine outside a kernel, a pipeline's async
    stages in a plain ``for`` loop. :meth:`close` stops the loop, cancels what is left on
    it (waiting at most a second for tasks that swallow their cancel) and closes it.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(ready,), name=name,
                                       daemon=True)
        self.thread.start()
        ready.wait()

    def _main(self, ready: threading.Event) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for t in tasks:
                t.cancel()
            if tasks:  # bounded: a task that swallows its cancel must not keep us here
                loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
            loop.run_until_complete(_bounded(loop.shutdown_asyncgens(), 1.0))
        finally:
            loop.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop and (unless called from it) wait up to ``timeout`` for its thread."""
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # already closed
            pass
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)


async def _bounded(coro: Coroutine[Any, Any, Any], timeout: float) -> None:
    try:
        await asyncio.wait_for(coro, timeout)
    except (TimeoutError, asyncio.CancelledError):
        pass


class EngineLoop:
    """Holds the loop the engine uses, attached or owned."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop if loop is not None else running_loop()
        self.owned = self._loop is None
        self._thread: LoopThread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, starting an owned one in a thread on first use."""
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    self._start()
        assert self._loop is not None
        return self._loop

    @property
    def started(self) -> bool:
        return self._loop is not None

    def _start(self) -> None:
        self._thread = LoopThread("godnb-loop")
        self._loop = self._thread.loop

    def on_loop_thread(self) -> bool:
        """True when called from the thread that runs the engine's loop."""
        loop = self._loop
        return loop is not None and running_loop() is loop

    def call_soon(self, callback: object, *args: object) -> None:
        """Schedule ``callback(*args)`` on the loop from any thread."""
        loop = self.loop
        if loop.is_closed():
            return
        if running_loop() is loop:
            loop.call_soon(callback, *args)  # type: ignore[arg-type]
        else:
            loop.call_soon_threadsafe(callback, *args)  # type: ignore[arg-type]

    def close(self, timeout: float = 5.0) -> None:
        """Stop an owned loop's thread; an attached loop is left alone."""
        if not self.owned or self._thread is None:
            return
        self._thread.close(timeout)
        self._thread = None
