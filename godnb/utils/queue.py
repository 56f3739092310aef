"""A small thread-safe bounded FIFO on :class:`collections.deque` for internal hand-offs."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Closed", "Empty", "Full", "WorkQueue"]

T = TypeVar("T")


class Closed(Exception):
    """The queue was closed: no more puts, and gets end once it is drained."""


class Empty(Exception):
    """``get`` timed out with nothing to return."""


class Full(Exception):
    """``put`` timed out on a full queue."""


class WorkQueue(Generic[T]):
    """Bounded FIFO with blocking ``put``/``get``, timeouts and ``close``.

    Example:
        >>> q = WorkQueue(maxsize=2)
        >>> q.put(1); q.put(2); len(q)
        2
        >>> q.get()
        1
    """

    def __init__(self, maxsize: int = 0) -> None:
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0 (0 = unbounded), got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, timeout: float | None = None) -> None:
        """Append ``item``, waiting up to ``timeout`` for room. Raises Full or Closed."""
        with self._not_full:
            if self.maxsize:
                deadline = None if timeout is None else time.monotonic() + timeout
                while len(self._items) >= self.maxsize and not self._closed:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise Full(f"queue full ({self.maxsize} items)")
                    self._not_full.wait(remaining)
            if self._closed:
                raise Closed("queue is closed")
            self._items.append(item)
            self._not_empty.notify()

    def get(self, timeout: float | None = None) -> T:
        """Pop the oldest item, waiting up to ``timeout``. Raises Empty, or Closed when drained."""
        with self._not_empty:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    raise Closed("queue is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Empty("no item within timeout")
                self._not_empty.wait(remaining)
            item = self._items.popleft()
            self._not_full.notify()
            return item

    def close(self) -> None:
        """Refuse further puts and wake every waiter."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
