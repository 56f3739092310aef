"""Pipeline stages: immutable descriptions that build one generator per run.

A :class:`Stage` is a plugin of kind ``"stage"``; subclasses register by name
(``class MapStage(Stage, name="map")``), and ``Pipeline.pipe("map", fn)`` finds them
there. A stage holds configuration only: ``build(upstream, ctx)`` returns a fresh
iterator for one run, so a pipeline template can be iterated any number of times.

Why plain generators: a sequential stage costs one generator resume per item, with no
lock and no thread hop, which is what keeps a 5-stage chain within a small factor of
hand-written generator expressions. Each stage keeps its counters in locals and
publishes them to its :class:`StageStats` now and then and in ``finally``.

Profiling cost: a ``perf_counter()`` pair costs 0.1-0.3 us on a VM, more than a cheap
stage function. So a function that took longer than ``_SLOW`` is timed on every item
(the overhead is then a few percent), and a faster one only on every ``_STRIDE``-th item.
A sample stands for the items it skips (it is weighted by its gap), so a burst of slow
items, which is timed item by item, does not inflate the estimate for the fast majority;
``StageStats.snapshot`` scales the weighted sum to the items actually seen.
With ``profile=False`` map and filter use loops without the sampling check at all.
"""

from __future__ import annotations

import inspect
import queue
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from godnb.dataflow import parallel
from godnb.dataflow.profile import StageStats
from godnb.dataflow.runtime import (
    ON_ERROR,
    PipelineRun,
    Prefetch,
    close_quietly,
    stage_error,
)
from godnb.registry import Plugin
from godnb.utils.naming import callable_name, unwrap_partial

__all__ = ["BatchStage", "BufferStage", "FilterStage", "FlatMapStage", "MapStage", "SkipStage",
           "Stage", "StageContext", "TakeStage", "TapStage", "WindowStage"]

_SLOW = 20e-6
_STRIDE = 64
_NEVER = sys.maxsize  # "next item to time" when profiling is off
_DONE = object()


class StageContext:
    """What a stage's generator gets for one run: its name, stats and error policy."""

    __slots__ = ("label", "on_error", "run", "stats")

    def __init__(self, label: str, stats: StageStats, run: PipelineRun, on_error: str) -> None:
        self.label = label
        self.stats = stats
        self.run = run
        self.on_error = on_error

    def fail(self, index: int, item: Any, exc: BaseException) -> None:
        """Apply the error policy to ``item`` (input ``index``) that raised ``exc``."""
        err = stage_error(self.label, index, item, exc)
        if self.on_error == "raise":
            raise err
        if self.on_error == "collect":
            self.run.errors.append(err)

    def first_timed(self) -> int:
        return 0 if self.run.profile else _NEVER


def _check_on_error(on_error: str | None) -> str | None:
    if on_error is not None and on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, "
                         f"got {on_error!r}")
    return on_error


def _check_fn(fn: Any, what: str) -> Callable[..., Any]:
    if not callable(fn):
        raise TypeError(f"{what}() takes a callable, got {type(fn).__name__}: {fn!r}")
    return fn  # type: ignore[no-any-return]


def _check_count(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value


class Stage(Plugin, kind="stage"):
    """Base of pipeline stages. Subclass with ``name=`` and implement :meth:`build`.

    Example:
        >>> class Double(Stage, name="example-double"):
        ...     def build(self, upstream, ctx):
        ...         return (2 * x for x in upstream)
        >>> from godnb.core.pipeline import Pipeline
        >>> Pipeline([1, 2]).pipe("example-double").collect()
        [2, 4]
    """

    fn: Callable[..., Any] | None = None
    on_error: str | None = None
    stat_kind: ClassVar[str] = ""  # the profile's "kind" column (default: the plugin name)
    timed: ClassVar[bool] = True  # whether the stage runs a user function worth timing

    def label(self, position: int) -> str:
        base = f"{self.plugin_name}[{position}]"
        return base if self.fn is None else f"{base}:{callable_name(self.fn)}"

    def make_stats(self, label: str) -> StageStats:
        return StageStats(label, self.stat_kind or self.plugin_name, timed=self.timed)

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        """A fresh iterator over this stage's output for one run."""
        raise NotImplementedError(f"{type(self).__name__} must implement build()")

    def _params(self) -> list[str]:
        return [] if self.fn is None else [callable_name(self.fn)]

    def __repr__(self) -> str:
        return f"{self.plugin_name}({', '.join(self._params())})"


class MapStage(Stage, name="map"):
    """``fn(item)`` for every item; in parallel with ``workers > 1`` or a ``backend``.

    See :meth:`godnb.core.pipeline.Pipeline.map` for the parameters.
    """

    def __init__(self, fn: Callable[..., Any], *, workers: int = 1, backend: str | None = None,
                 ordered: bool = True, buffer: int | None = None, chunksize: int | None = None,
                 timeout: float | None = None, on_error: str | None = None) -> None:
        self.fn = _check_fn(fn, "map")
        self.workers = _check_count(workers, "workers")
        if backend is None and inspect.iscoroutinefunction(unwrap_partial(fn)):
            backend = "async"  # a coroutine function needs a loop, even with one worker
        if backend is None and (workers > 1 or timeout is not None):
            backend = "thread"
        self.backend = backend
        self.ordered = bool(ordered)
        self.buffer = None if buffer is None else _check_count(buffer, "buffer")
        self.chunksize = None if chunksize is None else _check_count(chunksize, "chunksize")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        self.on_error = _check_on_error(on_error)
        if backend is not None:
            parallel.check_backend(backend, fn)

    @property
    def parallel(self) -> bool:
        return self.backend is not None

    def make_stats(self, label: str) -> StageStats:
        return StageStats(label, "map", workers=self.workers, backend=self.backend)

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        fn = self.fn
        assert fn is not None
        if self.backend is not None:
            return parallel.parallel_map(
                upstream, ctx, fn=fn, backend=self.backend, workers=self.workers,
                ordered=self.ordered, buffer=self.buffer, chunksize=self.chunksize,
                timeout=self.timeout)
        if not ctx.run.profile:
            return _map_plain(upstream, fn, ctx)
        return _map(upstream, fn, ctx)

    def _params(self) -> list[str]:
        out = super()._params()
        if self.backend is not None:
            out += [f"workers={self.workers}", f"backend={self.backend!r}"]
            if not self.ordered:
                out.append("ordered=False")
        return out


# _map, _filter (and the other timed stages) each write out the same sampling loop on
# purpose: it runs once per item, and a shared helper would add a Python call per item,
# which the per-item overhead goal (<= 3x raw generators) can not afford.
def _map(up: Iterator[Any], fn: Callable[..., Any], ctx: StageContext) -> Iterator[Any]:
    st, fail, observe, pc = ctx.stats, ctx.fail, ctx.stats.latency.observe, time.perf_counter
    n = errs = timed = 0
    nxt = ctx.first_timed()
    busy = 0.0
    try:
        for x in up:
            n += 1
            try:
                if n < nxt:
                    y = fn(x)
                else:
                    t0 = pc()
                    y = fn(x)
                    d = pc() - t0
                    gap = 1 if d > _SLOW else _STRIDE
                    busy += d * gap
                    timed += gap
                    observe(d)
                    nxt = n + gap
                    st.flush(n, n - errs, errs, busy, timed)
            except Exception as e:
                errs += 1
                fail(n - 1, x, e)
                continue
            yield y
    finally:
        st.flush(n, n - errs, errs, busy, timed)
        close_quietly(up)


def _map_plain(up: Iterator[Any], fn: Callable[..., Any], ctx: StageContext) -> Iterator[Any]:
    # _map without timing: the hot loop of profile=False (counts are published at the end)
    n = errs = 0
    try:
        for x in up:
            n += 1
            try:
                y = fn(x)
            except Exception as e:
                errs += 1
                ctx.fail(n - 1, x, e)
                continue
            yield y
    finally:
        ctx.stats.flush(n, n - errs, errs, 0.0, 0)
        close_quietly(up)


class FilterStage(Stage, name="filter"):
    """Keep the items for which ``pred(item)`` is true (``None``: the truthy items)."""

    def __init__(self, pred: Callable[[Any], Any] | None, *, on_error: str | None = None
                 ) -> None:
        self.fn = bool if pred is None else _check_fn(pred, "filter")
        self.on_error = _check_on_error(on_error)

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        if not ctx.run.profile:
            return _filter_plain(upstream, self.fn, ctx)  # type: ignore[arg-type]
        return _filter(upstream, self.fn, ctx)  # type: ignore[arg-type]


def _filter_plain(up: Iterator[Any], fn: Callable[..., Any], ctx: StageContext
                  ) -> Iterator[Any]:
    n = k = errs = 0
    try:
        for x in up:
            n += 1
            try:
                keep = fn(x)
            except Exception as e:
                errs += 1
                ctx.fail(n - 1, x, e)
                continue
            if keep:
                k += 1
                yield x
    finally:
        ctx.stats.flush(n, k, errs, 0.0, 0)
        close_quietly(up)


def _filter(up: Iterator[Any], fn: Callable[..., Any], ctx: StageContext) -> Iterator[Any]:
    st, fail, observe, pc = ctx.stats, ctx.fail, ctx.stats.latency.observe, time.perf_counter
    n = k = errs = timed = 0
    nxt = ctx.first_timed()
    busy = 0.0
    try:
        for x in up:
            n += 1
            try:
                if n < nxt:
                    keep = fn(x)
                else:
                    t0 = pc()
                    keep = fn(x)
                    d = pc() - t0
                    gap = 1 if d > _SLOW else _STRIDE
                    busy += d * gap
                    timed += gap
                    observe(d)
                    nxt = n + gap
                    st.flush(n, k, errs, busy, timed)
            except Exception as e:
                errs += 1
                fail(n - 1, x, e)
                continue
            if keep:
                k += 1
                yield x
    finally:
        st.flush(n, k, errs, busy, timed)
        close_quietly(up)


class TapStage(Stage, name="tap"):
    """Call ``fn(item)`` for its side effect and pass the item on unchanged."""

    def __init__(self, fn: Callable[[Any], Any], *, on_error: str | None = None) -> None:
        self.fn = _check_fn(fn, "tap")
        self.on_error = _check_on_error(on_error)

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        fn = self.fn
        assert fn is not None

        def call(x: Any) -> Any:
            fn(x)
            return x

        return _map(upstream, call, ctx)


class FlatMapStage(Stage, name="flat_map"):
    """``fn(item)`` returns an iterable; its elements are passed on one by one (lazily)."""

    def __init__(self, fn: Callable[[Any], Any], *, on_error: str | None = None) -> None:
        self.fn = _check_fn(fn, "flat_map")
        self.on_error = _check_on_error(on_error)

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        return _flat_map(upstream, self.fn, ctx)  # type: ignore[arg-type]


def _flat_map(up: Iterator[Any], fn: Callable[..., Any], ctx: StageContext) -> Iterator[Any]:
    # The work of a generator-returning fn happens while its elements are pulled, so a
    # timed item accumulates the time of fn(x) and of every next(), not the time spent
    # downstream while this stage is suspended at `yield`.
    st, fail, observe, pc = ctx.stats, ctx.fail, ctx.stats.latency.observe, time.perf_counter
    n = k = errs = timed = 0
    nxt = ctx.first_timed()
    busy = 0.0
    try:
        for x in up:
            n += 1
            sample = n >= nxt
            t0 = pc() if sample else 0.0
            d = 0.0
            try:
                out = iter(fn(x))
                while (y := next(out, _DONE)) is not _DONE:
                    k += 1
                    if sample:
                        d += pc() - t0
                        yield y
                        t0 = pc()
                    else:
                        yield y
            except Exception as e:
                errs += 1
                fail(n - 1, x, e)
                continue
            if sample:
                d += pc() - t0
                gap = 1 if d > _SLOW else _STRIDE
                busy += d * gap
                timed += gap
                observe(d)
                nxt = n + gap
                st.flush(n, k, errs, busy, timed)
    finally:
        st.flush(n, k, errs, busy, timed)
        close_quietly(up)


class _CountStage(Stage):
    """A stage configured by one count ``n`` (take, skip)."""

    timed = False

    def __init__(self, n: int) -> None:
        self.n = _check_count(n, f"{self.plugin_name}(n)", 0)

    def _params(self) -> list[str]:
        return [str(self.n)]


class TakeStage(_CountStage, name="take"):
    """The first ``n`` items; the upstream is closed before the last one is passed on."""

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        return _take(upstream, self.n, ctx.stats)


def _take(up: Iterator[Any], limit: int, st: StageStats) -> Iterator[Any]:
    n = 0
    try:
        if limit <= 0:
            return
        for x in up:
            n += 1
            st.n_in = st.n_out = n
            if n >= limit:
                # Shut the upstream (and its workers) down now, not when the consumer asks
                # for one more item: it may never ask.
                close_quietly(up)
                yield x
                return
            yield x
    finally:
        close_quietly(up)


class SkipStage(_CountStage, name="skip"):
    """Drop the first ``n`` items."""

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        return _skip(upstream, self.n, ctx.stats)


def _skip(up: Iterator[Any], count: int, st: StageStats) -> Iterator[Any]:
    n = 0
    try:
        for x in up:
            n += 1
            st.n_in = n
            if n > count:
                st.n_out = n - count
                yield x
    finally:
        close_quietly(up)


class BatchStage(Stage, name="batch"):
    """Lists of ``size`` items (the last may be shorter).

    With ``timeout`` a batch is also passed on ``timeout`` seconds after its first item
    arrived, however full it is. Waiting with a deadline needs the upstream on another
    thread, so then the upstream runs on a ``godnb-pipe-batch`` thread behind a queue of
    ``size`` items; without a timeout the stage is a plain generator.
    """

    timed = False

    def __init__(self, size: int, timeout: float | None = None) -> None:
        self.size = _check_count(size, "batch size")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ValueError(f"batch timeout must be a positive number of seconds or None, "
                             f"got {timeout!r}")
        self.timeout = timeout

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        if self.timeout is None:
            return _batch(upstream, self.size, ctx.stats)
        return _batch_timed(upstream, self.size, self.timeout, ctx)

    def _params(self) -> list[str]:
        return [str(self.size)] + ([] if self.timeout is None else [f"timeout={self.timeout}"])


def _batch(up: Iterator[Any], size: int, st: StageStats) -> Iterator[list[Any]]:
    n = k = 0
    buf: list[Any] = []
    try:
        for x in up:
            n += 1
            buf.append(x)
            if len(buf) >= size:
                k += 1
                st.n_in, st.n_out = n, k
                st.depth(size)
                out, buf = buf, []
                yield out
        st.n_in = n
        if buf:
            st.depth(len(buf))
            k += 1
            st.n_out = k
            yield buf
    finally:
        st.n_in = n
        close_quietly(up)


def _batch_timed(up: Iterator[Any], size: int, timeout: float, ctx: StageContext
                 ) -> Iterator[list[Any]]:
    st = ctx.stats
    feed = Prefetch(up, size, f"godnb-pipe-{ctx.label}", st)
    try:
        ended = False
        while not ended:
            try:
                buf = [feed.get()]
            except StopIteration:
                return
            deadline = time.monotonic() + timeout
            while len(buf) < size:
                left = deadline - time.monotonic()
                try:
                    buf.append(feed.get(timeout=max(left, 0.0)))
                except queue.Empty:
                    break
                except StopIteration:
                    ended = True
                    break
            st.depth(len(buf))
            st.n_out += 1
            yield buf
    finally:
        feed.close()


class WindowStage(Stage, name="window"):
    """Tuples of ``size`` consecutive items, starting every ``step`` items (default 1).

    ``step < size`` overlaps windows, ``step > size`` skips items between them. Only full
    windows are passed on, unless ``partial=True`` (then the trailing shorter ones too).
    """

    timed = False

    def __init__(self, size: int, step: int | None = None, *, partial: bool = False) -> None:
        self.size = _check_count(size, "window size")
        self.step = 1 if step is None else _check_count(step, "window step")
        self.partial = bool(partial)

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        return _window(upstream, self.size, self.step, self.partial, ctx.stats)

    def _params(self) -> list[str]:
        return [str(self.size), f"step={self.step}"] + (["partial=True"] if self.partial else [])


def _window(up: Iterator[Any], size: int, step: int, partial: bool, st: StageStats
            ) -> Iterator[tuple[Any, ...]]:
    buf: deque[Any] = deque()
    start = n = k = 0  # start: input index of the next window's first item
    try:
        for i, x in enumerate(up):
            n = i + 1
            if i < start:
                continue  # a gap between windows (step > size)
            buf.append(x)
            if len(buf) == size:
                k += 1
                st.n_in, st.n_out = n, k
                st.depth(size)
                yield tuple(buf)
                start += step
                _drop(buf, step)
        st.n_in = n
        while partial and buf:
            k += 1
            st.n_out = k
            yield tuple(buf)
            _drop(buf, step)
    finally:
        st.n_in = n
        close_quietly(up)


def _drop(buf: deque[Any], count: int) -> None:
    if count >= len(buf):
        buf.clear()
    else:
        for _ in range(count):
            buf.popleft()


class BufferStage(Stage, name="buffer"):
    """Run everything upstream on its own thread, up to ``n`` items ahead of the consumer.

    The one sequential stage with a thread hop (a ``godnb-pipe-buffer`` thread and a
    bounded queue): use it to overlap a slow producer with a slow consumer.
    """

    timed = False

    def __init__(self, n: int) -> None:
        self.n = _check_count(n, "buffer size")

    def build(self, upstream: Iterator[Any], ctx: StageContext) -> Iterator[Any]:
        return _buffer(upstream, self.n, ctx)

    def _params(self) -> list[str]:
        return [str(self.n)]


def _buffer(up: Iterator[Any], n: int, ctx: StageContext) -> Iterator[Any]:
    st = ctx.stats
    feed = Prefetch(up, n, f"godnb-pipe-{ctx.label}", st)
    try:
        while True:
            try:
                x = feed.get()
            except StopIteration:
                return
            st.n_out += 1
            yield x
    finally:
        feed.close()

