"""One thread that runs callbacks in order, outside any engine lock.

A job ends under its engine's lock. The done callbacks of a future are user code (and
joblib's, which takes a lock of its own and then submits more work): run there, they could
deadlock or stall the engine. They are handed to :data:`callbacks` instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["CallbackThread", "callbacks"]

log = logging.getLogger("godnb.callbacks")


class CallbackThread:
    """Runs callbacks in order on one thread, outside any engine lock.

    Started on demand; it leaves after ``linger`` seconds without work, so a program (or
    a test) that stops using futures keeps no thread.
    """

    def __init__(self, name: str = "godnb-callbacks", linger: float = 0.2) -> None:
        self.name = name
        self.linger = linger
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._thread: threading.Thread | None = None

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the callback thread, after what was handed in before."""
        with self._lock:
            self._queue.append((fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self.name,
                                                daemon=True)
                self._thread.start()
            else:
                self._ready.notify()

    def _serve(self) -> None:
        queue = self._queue
        while True:
            with self._lock:
                if not queue:
                    self._ready.wait(self.linger)
                    if not queue:
                        self._thread = None
                        return
                fn, args = queue.popleft()
            try:
                fn(*args)
            except Exception:  # a callback must not end the thread
                log.exception("callback %r failed", fn)


callbacks = CallbackThread()
os.register_at_fork(after_in_child=callbacks._reset)  # the thread did not come along
