"""The engine's event loop: the caller's running loop (a kernel's), or one of its own.

In a Jupyter kernel cells run on a running asyncio loop; the engine attaches to it so async
jobs, event streams and widget updates run there. With no running loop (scripts, the CLI
worker) the engine starts a loop in a daemon thread on first need. It never calls
``asyncio.run`` or ``run_until_complete`` on a running loop.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["EngineLoop", "running_loop"]


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EngineLoop:
    """Holds the loop the engine uses, attached or owned."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop if loop is not None else running_loop()
        self.owned = self._loop is None
        self._thread: threading.Thread | None = None
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
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="godnb-loop", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop

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
        if not self.owned or self._thread is None or self._loop is None:
            return
        loop = self._loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
