"""What one pipeline run shares between its stages: errors, stats, an event loop, threads.

Nothing here runs user code by itself. :class:`PipelineRun` is created per iteration and
torn down in the iteration's ``finally``: it owns the stage statistics, the collected
errors and (lazily) a private event loop thread for async stages and async sources.
:class:`Prefetch` moves an upstream iterator onto its own thread behind a bounded queue
(``buffer(n)`` and ``batch(size, timeout=...)`` need that; every other sequential stage
runs on the consumer's thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import queue
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

from godnb.dataflow.profile import PipelineProfile, StageStats
from godnb.errors import PipelineError
from godnb.execution.loop import LoopThread
from godnb.execution.remote import describe

__all__ = ["PipelineError", "PipelineRun", "Prefetch", "close_quietly", "stage_error"]

ON_ERROR = ("raise", "skip", "collect")
_HINT = "pass on_error='skip' or 'collect' to keep going past failing items"


def stage_error(stage: str, index: int, item: Any, exc: BaseException) -> PipelineError:
    """The error for ``item`` (input ``index`` of ``stage``) failing with ``exc``."""
    err = PipelineError(f"stage {stage} failed on input {index}: {describe(exc)}; {_HINT}",
                        stage=stage, index=index, item=item)
    err.__cause__ = exc
    err.__suppress_context__ = True
    return err


def close_quietly(it: Any) -> None:
    """Close an iterator the pipeline made (a stage generator); other iterators are left."""
    close = getattr(it, "close", None)
    if close is not None:
        close()


class PipelineRun:
    """State of one iteration: stats per stage, errors, and the loop async work runs on.

    ``loop`` is the caller's running loop in ``async for`` (async stages then run there);
    otherwise a private :class:`LoopThread` is started the first time something needs one.
    """

    def __init__(self, stats: list[StageStats], errors: list[PipelineError], *,
                 profile: bool = True, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.stats = stats
        self.errors = errors
        self.profile = profile
        self.started = time.perf_counter()
        self.ended: float | None = None
        self._loop = loop
        self._loop_thread: LoopThread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.ended is None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop async stages use (made on first use in a sync iteration)."""
        if self._loop is not None:
            return self._loop
        with self._lock:
            if self.ended is not None:
                raise RuntimeError("this pipeline run has ended; iterate the pipeline again")
            if self._loop_thread is None:
                self._loop_thread = LoopThread("godnb-pipe-loop")
            return self._loop_thread.loop

    def call(self, coro: Coroutine[Any, Any, Any]) -> cf.Future[Any]:
        """Schedule ``coro`` on the run's loop from a non-loop thread."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop())
        except BaseException:  # e.g. the loop is closed: do not leak a never-awaited coroutine
            coro.close()
            raise

    def wait(self, fut: cf.Future[Any]) -> Any:
        """``fut.result()``, but in slices, so a loop that closed under us can not hang."""
        while True:
            done, _ = cf.wait([fut], timeout=0.5)
            if done:
                return fut.result()
            if self.loop().is_closed():
                fut.cancel()
                raise RuntimeError("the event loop running this pipeline's async work was "
                                   "closed; iterate the pipeline while its loop runs")

    def finish(self) -> None:
        if self.ended is None:
            self.ended = time.perf_counter()
        with self._lock:
            lt, self._loop_thread = self._loop_thread, None
        if lt is not None:
            lt.close()

    def snapshot(self) -> PipelineProfile:
        end = self.ended if self.ended is not None else time.perf_counter()
        elapsed = end - self.started
        return PipelineProfile(stages=[s.snapshot(elapsed) for s in self.stats],
                               elapsed=elapsed, running=self.ended is None,
                               profiled=self.profile)


_END = object()


class Prefetch:
    """Pull ``upstream`` on a thread of its own into a queue of at most ``maxsize`` items.

    ``get(timeout)`` returns the next item, raises :class:`queue.Empty` after ``timeout``,
    :class:`StopIteration` at the end, or re-raises what the upstream raised. The upstream
    is iterated and closed only on the producer thread (a generator can not be closed
    while another thread runs it); ``close()`` asks the producer to stop and drains the
    queue so it never stays blocked on a full one.
    """

    def __init__(self, upstream: Iterator[Any], maxsize: int, name: str,
                 stats: StageStats) -> None:
        self._q: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize)
        self._stop = False
        self._stats = stats
        self._thread = threading.Thread(target=self._main, args=(upstream,), name=name,
                                        daemon=True)
        self._thread.start()

    def _main(self, up: Iterator[Any]) -> None:
        st, q = self._stats, self._q
        try:
            for x in up:
                st.n_in += 1
                if not self._put((True, x)):
                    return
                st.depth(q.qsize())
            self._put((False, _END))
        except BaseException as e:  # handed to the consumer, raised there
            self._put((False, e))
        finally:
            close_quietly(up)

    def _put(self, entry: tuple[bool, Any]) -> bool:
        # A timed put, so a consumer that vanished without close() can not strand us.
        while not self._stop:
            try:
                self._q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float | None = None) -> Any:
        ok, value = self._q.get(timeout=timeout)
        if ok:
            return value
        if value is _END:
            raise StopIteration
        raise value

    def close(self, timeout: float = 2.0) -> None:
        """Stop the producer; wait up to ``timeout`` for it (it may be inside a slow
        upstream call; it then exits on its own after that call)."""
        self._stop = True
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            _drain(self._q)
            self._thread.join(0.02)
        _drain(self._q)


def _drain(q: queue.Queue[Any]) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass

