"""``async for`` over a sync pipeline: its stages run on a helper thread, items cross to
the caller's loop through a small bounded buffer (backpressure holds across the bridge).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from godnb.dataflow.runtime import close_quietly

__all__ = ["PipelineAsyncIterator"]

_ITEM, _END, _ERR = 0, 1, 2


class _Bridge:
    """Runs a sync pipeline iterator on a ``godnb-pipe-aiter`` thread and hands its items
    to an event loop through a small bounded deque (``cap`` items)."""

    def __init__(self, gen: Iterator[Any], loop: asyncio.AbstractEventLoop, cap: int = 16
                 ) -> None:
        self._loop = loop
        self._cond = threading.Condition()  # an RLock: a finalizer may run under it
        self._buf: deque[tuple[int, Any]] = deque()
        self._cap = cap
        self._waiter: asyncio.Future[None] | None = None
        self._stop = False
        self._finished = False
        self.ended: asyncio.Future[None] = loop.create_future()
        self.thread = threading.Thread(target=self._main, args=(gen,), daemon=True,
                                       name="godnb-pipe-aiter")
        self.thread.start()

    def _main(self, gen: Iterator[Any]) -> None:
        try:
            for x in gen:
                if not self._put(_ITEM, x):
                    break
            else:
                self._put(_END, None)
        except BaseException as e:
            self._put(_ERR, e)
        finally:
            close_quietly(gen)  # on this thread: stages and workers shut down here
            self._put(_END, None)
            _call_soon(self._loop, _resolve, self.ended)

    def _put(self, kind: int, value: Any) -> bool:
        with self._cond:
            while kind == _ITEM and len(self._buf) >= self._cap and not self._stop:
                self._cond.wait(0.1)  # timed: a consumer that vanished can not strand us
            if self._stop:
                return False
            self._buf.append((kind, value))
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _call_soon(self._loop, _resolve, waiter)
        return True

    async def next(self) -> Any:
        while True:
            with self._cond:
                if self._finished:
                    raise StopAsyncIteration
                if self._buf:
                    kind, value = self._buf.popleft()
                    self._cond.notify()
                    break
                waiter = self._waiter = self._loop.create_future()
            await waiter
        if kind == _ITEM:
            return value
        self._finished = True
        # The end (or the error) is reported once the stages are torn down, so that after
        # an `async for` finishes nothing of the pipeline is left running.
        if not self.ended.done():
            await self.ended
        self.thread.join()
        if kind == _ERR:
            raise value
        raise StopAsyncIteration

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._finished = True
            self._buf.clear()
            self._cond.notify_all()

    async def aclose(self) -> None:
        self.stop()
        if not self.ended.done():
            await self.ended
        self.thread.join()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


class PipelineAsyncIterator(AsyncIterator[Any]):
    """``async for`` over a pipeline. ``await it.aclose()`` (or ``async with``) shuts the
    stages down at once; a dropped iterator stops them in the background."""

    def __init__(self, iterate: Callable[[asyncio.AbstractEventLoop], Iterator[Any]]) -> None:
        self._iterate = iterate
        self._bridge: _Bridge | None = None
        self._closed = False

    def __aiter__(self) -> PipelineAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        if self._bridge is None:
            if self._closed:
                raise StopAsyncIteration
            loop = asyncio.get_running_loop()
            self._bridge = _Bridge(self._iterate(loop), loop)
            weakref.finalize(self, self._bridge.stop)
        return await self._bridge.next()

    async def aclose(self) -> None:
        self._closed = True
        if self._bridge is not None:
            await self._bridge.aclose()

    async def __aenter__(self) -> PipelineAsyncIterator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
