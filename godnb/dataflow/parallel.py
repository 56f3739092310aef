"""Parallel ``map`` stages: a bounded window of work units on threads, processes or tasks.

The driver (:func:`parallel_map`) runs on the consumer's thread. It pulls items from the
upstream in chunks (``islice``: never more than the window allows), hands each chunk to
a backend as a :class:`_Unit` and passes results on as units complete: in input order
through a reorder buffer keyed by sequence number (``ordered=True``), or in completion
order. The window counts every item submitted and not yet passed on, including the ones
waiting in the reorder buffer, so a slow head item can not make memory grow.

Backends are plugins of kind ``"pipeline_backend"`` (``thread``, ``process``, ``async``;
a ``dask`` one can register later). Each iteration makes a fresh backend and closes it
in ``finally``; all of them post finished units to one ``SimpleQueue``, so the driver
waits in one place and a per-item ``timeout`` is enforced there too.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import pickle
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from godnb.dataflow.runtime import close_quietly
from godnb.execution.remote import describe, portable, with_remote_traceback
from godnb.registry import Plugin, get_plugin, plugin_names
from godnb.utils.naming import callable_repr

if TYPE_CHECKING:
    from godnb.dataflow.stages import StageContext

__all__ = ["AsyncBackend", "PipelineBackend", "ProcessBackend", "ThreadBackend",
           "backend_names", "check_backend", "parallel_map", "run_chunk_remote"]

_STRIDE = 16  # time one item in 16 inside a chunk (the chunk's total time is exact)
_CHUNK_TARGET = 0.005  # adaptive process chunks aim at ~5 ms of work: IPC costs ~0.1 ms
_MAX_CHUNK = 1024
_HEARTBEAT = 1.0  # without a timeout, how often a waiting driver checks its backend


class _Unit:
    """A chunk of consecutive items: what a worker gets, and what comes back."""

    __slots__ = ("abandoned", "busy", "errors", "failure", "finished", "handle", "index",
                 "items", "samples", "seq", "started", "values")

    def __init__(self, seq: int, index: int, items: list[Any]) -> None:
        self.seq = seq
        self.index = index  # input index of items[0] at this stage
        self.items = items
        self.values: list[Any] = []
        self.errors: dict[int, BaseException] | None = None  # position -> exception
        self.failure: BaseException | None = None  # the whole unit failed
        self.busy = 0.0
        self.samples: list[float] = []
        self.started: float | None = None
        self.handle: Any = None
        self.finished = False
        self.abandoned = False


def _run_chunk(fn: Callable[[Any], Any], items: list[Any], stride: int = _STRIDE
               ) -> tuple[list[Any], dict[int, BaseException] | None, float, list[float]]:
    """Apply ``fn`` to each item; one failing item does not stop the others.

    Returns (values, errors by position or None, total seconds, sampled item durations).
    Module-level so that a process worker can unpickle it.
    """
    values: list[Any] = []
    append = values.append
    errors: dict[int, BaseException] | None = None
    samples: list[float] = []
    pc = time.perf_counter
    start = pc()
    for k, x in enumerate(items):
        try:
            if stride and not k % stride:
                t0 = pc()
                append(fn(x))
                samples.append(pc() - t0)
            else:
                append(fn(x))
        except Exception as e:
            append(None)
            if errors is None:
                errors = {}
            errors[k] = e
    return values, errors, pc() - start, samples


def run_chunk_remote(fn: Callable[[Any], Any], items: list[Any], stride: int = _STRIDE
                      ) -> tuple[list[Any], dict[int, Any] | None, float, list[float]]:
    """:func:`_run_chunk` in a worker process: errors travel with their traceback text."""
    values, errors, busy, samples = _run_chunk(fn, items, stride)
    if errors:
        return values, {k: portable(e) for k, e in errors.items()}, busy, samples
    return values, None, busy, samples


class PipelineBackend(Plugin, kind="pipeline_backend"):
    """Worker resources of one parallel stage for one iteration.

    ``submit(unit)`` starts a unit; the backend later fills in ``unit.values/errors/busy/
    samples`` (or ``unit.failure``) and puts the unit on ``done``. ``started_at`` lets the
    driver time units out; ``abort`` stops one (False if it finished first); ``close``
    releases everything (``graceful``: the run ended normally, nothing is in flight).
    """

    adaptive_chunks: ClassVar[bool] = False
    timeout_note: ClassVar[str] = ""

    def __init__(self, fn: Callable[[Any], Any], workers: int, ctx: StageContext,
                 done: queue.SimpleQueue[_Unit], timeout: float | None) -> None:
        self.fn = fn
        self.workers = workers
        self.ctx = ctx
        self.done = done
        self.timeout = timeout
        self.stride = _STRIDE if ctx.run.profile else 0

    @classmethod
    def check_fn(cls, fn: Callable[[Any], Any]) -> None:
        """Raise early (when the stage is built) if ``fn`` can not run on this backend."""

    def submit(self, unit: _Unit) -> None:
        raise NotImplementedError

    def started_at(self, unit: _Unit) -> float | None:
        return unit.started

    def abort(self, unit: _Unit) -> bool:
        return False

    def check(self) -> None:
        """Raise if the backend can no longer finish units (called while waiting)."""

    def close(self, graceful: bool) -> None:
        """Release the workers."""


class ThreadBackend(PipelineBackend, name="thread"):
    """Daemon worker threads (``godnb-pipe-<stage>-<n>``) fed by a queue.

    A thread can not be stopped from outside: an item past its timeout is abandoned
    (its late result dropped) and a fresh thread takes the slot; the old one ends when
    the call returns.
    """

    timeout_note = ("a thread can not be stopped, so its worker was abandoned and replaced "
                    "(the call ends on its own)")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._in: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closing = False
        self._ids = itertools.count()
        self._threads: list[threading.Thread] = []
        self._abandoned: set[threading.Thread] = set()  # stuck in a timed-out call

    def _spawn(self) -> None:
        t = threading.Thread(target=self._work, daemon=True,
                             name=f"godnb-pipe-{self.ctx.label}-{next(self._ids)}")
        self._threads.append(t)
        t.start()

    def _work(self) -> None:
        fn, inq, done, stride = self.fn, self._in, self.done, self.stride
        while True:
            unit = inq.get()
            if unit is None or self._closing:
                return
            unit.handle = threading.current_thread()
            unit.started = time.perf_counter()
            try:
                unit.values, unit.errors, unit.busy, unit.samples = _run_chunk(
                    fn, unit.items, stride)
            except BaseException as e:  # SystemExit & co. fail the unit, not the thread
                unit.failure = e
            with self._lock:
                if unit.abandoned:
                    return  # timed out: a fresh thread has taken this one's place
                unit.finished = True
            done.put(unit)

    def submit(self, unit: _Unit) -> None:
        if len(self._threads) < self.workers:
            self._spawn()  # one per unit up to `workers`: 3 items never start 8 threads
        self._in.put(unit)

    def abort(self, unit: _Unit) -> bool:
        with self._lock:
            if unit.finished or self._closing:
                return False
            unit.abandoned = True
        self._abandoned.add(unit.handle)
        self._spawn()
        return True

    def close(self, graceful: bool) -> None:
        self._closing = True
        threads = self._threads
        for _ in threads:
            self._in.put(None)
        # Idle threads exit at once; a busy one finishes its call first. Wait a little
        # for those, then let them end on their own (daemons: they never block exit).
        deadline = time.monotonic() + 2.0
        me = threading.current_thread()
        for t in threads:
            if t is not me and t not in self._abandoned:
                t.join(max(0.0, deadline - time.monotonic()))


class ProcessBackend(PipelineBackend, name="process"):
    """A :class:`~godnb.concurrency.process_pool.ProcessPool`; chunks go to
    :func:`run_chunk_remote`, so IPC costs per chunk, not per item. A unit past its
    timeout is killed with its worker process (the pool replaces the worker)."""

    adaptive_chunks = True
    timeout_note = "its worker process was killed and replaced"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        from godnb.concurrency.process_pool import ProcessPool

        self._pool = ProcessPool(workers=self.workers)

    @classmethod
    def check_fn(cls, fn: Callable[[Any], Any]) -> None:
        try:
            pickle.dumps(fn)
        except Exception as e:
            raise TypeError(
                f"map(backend='process') needs a picklable function, and "
                f"{callable_repr(fn)} is not ({describe(e)}); "
                "define it at module level with def (not a lambda or a closure), or use "
                "backend='thread'") from e

    def submit(self, unit: _Unit) -> None:
        fut = self._pool.submit(run_chunk_remote, self.fn, unit.items, self.stride)
        unit.handle = fut
        fut.add_done_callback(functools.partial(self._finish, unit))

    def _finish(self, unit: _Unit, fut: Any) -> None:
        try:
            unit.values, errors, unit.busy, unit.samples = fut.result()
        except BaseException as e:  # WorkerDied, JobCancelled (our abort), pickling errors
            unit.failure = e
        else:
            if errors:
                unit.errors = {k: with_remote_traceback(*pair) for k, pair in errors.items()}
        self.done.put(unit)

    def started_at(self, unit: _Unit) -> float | None:
        # The pool marks a future running when a worker takes it; the driver polls this
        # while a timeout is set, so the deadline counts from (about) the real start.
        if unit.started is None and unit.handle is not None and unit.handle.running():
            unit.started = time.perf_counter()
        return unit.started

    def abort(self, unit: _Unit) -> bool:
        return bool(self._pool.cancel(unit.handle))

    def close(self, graceful: bool) -> None:
        self._pool.shutdown(wait=graceful)


class AsyncBackend(PipelineBackend, name="async"):
    """Tasks on an event loop, at most ``workers`` at once. In ``async for`` the loop is
    the caller's; in a sync iteration a private loop thread. ``fn(item)`` may return an
    awaitable (it is awaited) or a plain value; a blocking ``fn`` would stall the loop, so
    use ``backend="thread"`` for those. A timeout cancels the item's task."""

    timeout_note = "its task was cancelled"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._loop = self.ctx.run.loop()
        self._sem = asyncio.Semaphore(self.workers)  # binds to the loop on first use
        self._live: set[Any] = set()

    def submit(self, unit: _Unit) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._run(unit), self._loop)
        unit.handle = fut
        self._live.add(fut)
        fut.add_done_callback(functools.partial(self._finish, unit))

    async def _run(self, unit: _Unit) -> None:
        async with self._sem:
            unit.started = time.perf_counter()
            await _arun_chunk(self.fn, unit, self.timeout, self.stride)

    def _finish(self, unit: _Unit, fut: Any) -> None:
        self._live.discard(fut)
        if fut.cancelled():
            unit.failure = asyncio.CancelledError("the item's task was cancelled")
        elif fut.exception() is not None:
            unit.failure = fut.exception()
        self.done.put(unit)

    def started_at(self, unit: _Unit) -> None:
        return None  # timeouts are enforced per item on the loop (asyncio.wait_for)

    def check(self) -> None:
        if self._loop.is_closed():
            raise RuntimeError("the event loop of an async pipeline stage was closed "
                               "while items were in flight")

    def close(self, graceful: bool) -> None:
        for fut in list(self._live):
            fut.cancel()


async def _arun_chunk(fn: Callable[[Any], Any], unit: _Unit, timeout: float | None,
                      stride: int) -> None:
    pc = time.perf_counter
    start = pc()
    for k, x in enumerate(unit.items):
        t0 = pc()
        try:
            value = fn(x)
            if inspect.isawaitable(value):
                value = await (value if timeout is None else asyncio.wait_for(value, timeout))
        except Exception as e:
            if isinstance(e, TimeoutError) and timeout is not None and pc() - t0 >= timeout:
                e = TimeoutError(f"item ran longer than timeout={timeout} s; its task was "
                                 f"cancelled")
            value = None
            unit.errors = unit.errors or {}
            unit.errors[k] = e
        if stride and not k % stride:
            unit.samples.append(pc() - t0)
        unit.values.append(value)
    unit.busy = pc() - start


def backend_names() -> list[str]:
    return plugin_names("pipeline_backend")


def check_backend(name: str, fn: Callable[[Any], Any]) -> type[PipelineBackend]:
    """The backend class for ``name``; ValueError listing the valid names otherwise."""
    try:
        cls = get_plugin("pipeline_backend", name)
    except ValueError:
        valid = ", ".join(repr(n) for n in backend_names())
        raise ValueError(f"unknown backend {name!r} for a parallel map; valid backends: "
                         f"{valid}") from None
    cls.check_fn(fn)  # type: ignore[attr-defined]
    return cls


class _Chunker:
    """Chunk size: fixed, or adaptive (process backend): grow until a chunk takes about
    ``_CHUNK_TARGET`` seconds, at most 4x per step, so tiny items amortise IPC and heavy
    items still spread over the workers one at a time."""

    def __init__(self, fixed: int | None, adaptive: bool) -> None:
        self.size = fixed or 1
        self.adaptive = fixed is None and adaptive

    def learn(self, unit: _Unit) -> None:
        if not self.adaptive or unit.failure is not None or not unit.items:
            return
        per_item = unit.busy / len(unit.items)
        want = int(_CHUNK_TARGET / per_item) if per_item > 0 else _MAX_CHUNK
        self.size = max(1, min(want, self.size * 4, _MAX_CHUNK))


def parallel_map(up: Iterator[Any], ctx: StageContext, *, fn: Callable[[Any], Any],
                 backend: str, workers: int, ordered: bool, buffer: int | None,
                 chunksize: int | None, timeout: float | None) -> Iterator[Any]:
    """The generator of one parallel map stage for one run (see the module docstring)."""
    cls = check_backend(backend, fn)
    st = ctx.stats
    done: queue.SimpleQueue[_Unit] = queue.SimpleQueue()
    # A timeout kills a whole unit, so exact per-item timeouts need one item per unit.
    chunker = _Chunker(chunksize, cls.adaptive_chunks and timeout is None)
    be: PipelineBackend = cls(fn, workers, ctx, done, timeout)
    inflight: dict[int, _Unit] = {}
    ready: dict[int, _Unit] = {}  # the reorder buffer
    held = seq = next_seq = index = 0  # held: items submitted and not yet passed on
    exhausted = graceful = False
    try:
        while True:
            cap = buffer or 2 * workers * chunker.size
            size = min(chunker.size, cap)
            while not exhausted and (held == 0 or held + size <= cap):
                items = list(itertools.islice(up, size))
                if not items:
                    exhausted = True
                    break
                unit = _Unit(seq, index, items)
                seq += 1
                index += len(items)
                held += len(items)
                st.n_in = index
                st.depth(held)
                inflight[unit.seq] = unit
                be.submit(unit)
                if len(inflight) >= workers and not done.empty():
                    break  # every worker is busy and results wait: pass them on first
            if not inflight and not ready:
                break
            unit = _next_done(done, inflight, be, timeout)
            chunker.learn(unit)
            if not ordered:
                held -= len(unit.items)
                yield from _emit(unit, ctx)
                continue
            ready[unit.seq] = unit
            while next_seq in ready:
                unit = ready.pop(next_seq)
                next_seq += 1
                held -= len(unit.items)
                yield from _emit(unit, ctx)
        graceful = True
    finally:
        be.close(graceful)
        close_quietly(up)


def _next_done(done: queue.SimpleQueue[_Unit], inflight: dict[int, _Unit],
               be: PipelineBackend, timeout: float | None) -> _Unit:
    wait = _HEARTBEAT if timeout is None else min(0.05, timeout / 4)
    while True:
        unit: _Unit | None
        try:
            unit = done.get(timeout=wait)
        except queue.Empty:
            unit = None
            be.check()
        # Look for overdue units on every wake-up, not only when nothing arrives: other
        # workers may deliver results without pause while one unit hangs.
        if timeout is not None and (late := _expire(inflight, be, timeout)) is not None:
            if unit is not None:
                done.put(unit)  # not lost: handled by the next call
            return late
        if unit is not None and inflight.get(unit.seq) is unit:  # else: late, timed out
            del inflight[unit.seq]
            return unit


def _expire(inflight: dict[int, _Unit], be: PipelineBackend, timeout: float) -> _Unit | None:
    now = time.perf_counter()
    for unit in list(inflight.values()):
        started = be.started_at(unit)
        limit = timeout * len(unit.items)
        if started is not None and now - started > limit and be.abort(unit):
            del inflight[unit.seq]
            what = "item" if len(unit.items) == 1 else f"chunk of {len(unit.items)} items"
            unit.failure = TimeoutError(f"{what} ran longer than timeout={timeout} s; "
                                        f"{be.timeout_note}")
            return unit
    return None


def _emit(unit: _Unit, ctx: StageContext) -> Iterator[Any]:
    st = ctx.stats
    if unit.failure is None:
        st.observe(unit.busy, unit.samples, len(unit.items))
    if unit.failure is not None:
        exc = unit.failure
        if len(unit.items) > 1:
            last = unit.index + len(unit.items) - 1
            exc.add_note(f"the whole chunk of inputs {unit.index}..{last} was lost; "
                         "chunksize=1 pins down the failing item")
        for k, x in enumerate(unit.items):
            st.errors += 1
            ctx.fail(unit.index + k, x, exc)
        return
    errors = unit.errors
    for k, value in enumerate(unit.values):
        if errors is not None and k in errors:
            st.errors += 1
            ctx.fail(unit.index + k, unit.items[k], errors[k])
            continue
        st.n_out += 1
        yield value
