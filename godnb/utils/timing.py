"""Timing and metrics: histograms, counters, ``@timed`` and stopwatches.

Everything here is cheap to feed (the engine calls :meth:`Histogram.observe` on its hot
path) and sorts only when a snapshot is asked for. Profile tables (``eng.profile()``) and
their formatters live in :mod:`godnb.utils.profile`.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Counter",
    "Histogram",
    "HistogramSnapshot",
    "MetricsRegistry",
    "MetricsSnapshot",
    "percentile_of",
    "Stopwatch",
    "check_reservoir",
    "finite_or_none",
    "metrics",
    "timed",
    "timer",
]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_RESERVOIR = 4096


def percentile_of(ordered: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan when empty."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _check_percent(p: float) -> None:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
        raise ValueError(f"percentile must be a number from 0 to 100, got {p!r}; "
                         f"e.g. percentile(95) for p95")


def finite_or_none(x: float) -> float | None:
    """``x``, or None when it is NaN (a percentile of no samples yet)."""
    return None if x != x else x


def check_reservoir(maxlen: int) -> None:
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
        raise ValueError(f"maxlen must be an int >= 1 (samples kept for percentiles), "
                         f"got {maxlen!r}")


class HistogramSnapshot(BaseModel):
    """A frozen summary of a :class:`Histogram`; the statistics are None when empty.

    Example:
        >>> HistogramSnapshot(count=0, sum=0.0).p50 is None
        True
    """

    model_config = ConfigDict(frozen=True)

    count: int
    sum: float
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class Histogram:
    """Distribution of observed values: exact count/sum/min/max, sampled percentiles.

    Percentiles come from the last ``maxlen`` observations (a sliding window, so they
    follow recent behaviour and memory stays bounded); ``count``, ``sum``, ``min``,
    ``max`` and ``mean`` cover every observation. Statistics of an empty histogram are
    ``nan``.

    Example:
        >>> h = Histogram()
        >>> for ms in (1, 2, 3, 4):
        ...     h.observe(ms / 1000)
        >>> h.count, round(h.mean, 4), round(h.p50, 4)
        (4, 0.0025, 0.0025)
    """

    def __init__(self, maxlen: int = DEFAULT_RESERVOIR) -> None:
        check_reservoir(maxlen)
        self._samples: deque[float] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    def __repr__(self) -> str:
        return f"Histogram(count={self._count}, mean={self.mean:.6g})"

    def observe(self, value: float) -> None:
        """Record one value (a duration in seconds, a size, ...)."""
        with self._lock:
            self._samples.append(value)
            self._count += 1
            self._sum += value
            if value < self._min:
                self._min = value
            if value > self._max:
                self._max = value

    @property
    def count(self) -> int:
        return self._count

    @property
    def sum(self) -> float:
        return self._sum

    @property
    def min(self) -> float:
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        return self._max if self._count else math.nan

    @property
    def mean(self) -> float:
        with self._lock:
            return self._sum / self._count if self._count else math.nan

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0..100) of the recent samples.

        Example:
            >>> h = Histogram(); h.observe(10.0); h.observe(20.0)
            >>> h.percentile(50)
            15.0
        """
        return self.percentiles(p)[0]

    def percentiles(self, *ps: float) -> list[float]:
        """Several percentiles with one sort of the samples."""
        for p in ps:
            _check_percent(p)
        with self._lock:
            ordered = sorted(self._samples)
        return [percentile_of(ordered, p) for p in ps]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def snapshot(self) -> HistogramSnapshot:
        """A frozen summary, with None for the statistics of an empty histogram."""
        with self._lock:
            ordered = sorted(self._samples)
            count, total, low, high = self._count, self._sum, self._min, self._max
        if not count:
            return HistogramSnapshot(count=0, sum=0.0)
        p50, p95, p99 = (percentile_of(ordered, p) for p in (50, 95, 99))
        return HistogramSnapshot(count=count, sum=total, min=low, max=high,
                                 mean=total / count, p50=p50, p95=p95, p99=p99)

    def reset(self) -> None:
        """Forget every observation."""
        with self._lock:
            self._samples.clear()
            self._count, self._sum = 0, 0.0
            self._min, self._max = math.inf, -math.inf


class Counter:
    """A thread-safe integer counter.

    Example:
        >>> c = Counter(); c.inc(); c.inc(4); c.value
        5
    """

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Counter(value={self._value})"

    def inc(self, amount: int = 1) -> None:
        """Add ``amount`` (may be negative)."""
        with self._lock:
            self._value += amount

    @property
    def value(self) -> int:
        return self._value

    def reset(self) -> None:
        """Set the counter back to 0."""
        with self._lock:
            self._value = 0


class MetricsSnapshot(BaseModel):
    """Every metric of a :class:`MetricsRegistry` at one moment."""

    model_config = ConfigDict(frozen=True)

    counters: dict[str, int] = Field(default_factory=dict)
    histograms: dict[str, HistogramSnapshot] = Field(default_factory=dict)


class MetricsRegistry:
    """Named counters and histograms, created on first use.

    A name belongs to one kind of metric: asking for ``histogram("x")`` after
    ``counter("x")`` raises ``ValueError``.

    Example:
        >>> reg = MetricsRegistry()
        >>> reg.counter("jobs.submitted").inc()
        >>> reg.histogram("jobs.run_time").observe(0.25)
        >>> reg.snapshot().counters
        {'jobs.submitted': 1}
    """

    def __init__(self, reservoir: int = DEFAULT_RESERVOIR) -> None:
        check_reservoir(reservoir)
        self._reservoir = reservoir
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._lock = threading.Lock()

    def counter(self, name: str) -> Counter:
        """The counter called ``name``, made on first use."""
        with self._lock:
            found = self._counters.get(name)
            if found is None:
                self._check_free(name, self._histograms, "histogram")
                found = self._counters[name] = Counter()
            return found

    def histogram(self, name: str) -> Histogram:
        """The histogram called ``name``, made on first use."""
        with self._lock:
            found = self._histograms.get(name)
            if found is None:
                self._check_free(name, self._counters, "counter")
                found = self._histograms[name] = Histogram(self._reservoir)
            return found

    @staticmethod
    def _check_free(name: str, other: dict[str, Any], kind: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a metric name must be a non-empty str, got {name!r}")
        if name in other:
            raise ValueError(f"metric {name!r} is already a {kind}; pick another name")

    def snapshot(self) -> MetricsSnapshot:
        """Every metric's current value, as a frozen model."""
        with self._lock:
            counters, histograms = dict(self._counters), dict(self._histograms)
        return MetricsSnapshot(
            counters={name: c.value for name, c in sorted(counters.items())},
            histograms={name: h.snapshot() for name, h in sorted(histograms.items())},
        )

    def reset(self) -> None:
        """Zero every metric. The objects stay registered, so held references keep working."""
        with self._lock:
            metrics_: list[Counter | Histogram] = [*self._counters.values(),
                                                   *self._histograms.values()]
        for metric in metrics_:
            metric.reset()


metrics = MetricsRegistry()
"""The process-wide registry that ``@timed`` records into by default."""


# --- timing helpers ------------------------------------------------------------------

class Stopwatch:
    """Measures elapsed time; a context manager that starts on enter and stops on exit.

    Args:
        clock: Seconds from a monotonic clock (``time.perf_counter`` by default).
        histogram: When given, every :meth:`stop` observes the elapsed time into it.

    Example:
        >>> ticks = iter([1.0, 1.5])
        >>> with Stopwatch(clock=lambda: next(ticks)) as sw:
        ...     pass
        >>> sw.elapsed
        0.5
    """

    def __init__(
        self, clock: Callable[[], float] = time.perf_counter, histogram: Histogram | None = None,
    ) -> None:
        self._clock = clock
        self._histogram = histogram
        self._started: float | None = None
        self._elapsed = 0.0

    def start(self) -> Stopwatch:
        """Start (or restart) timing from now."""
        self._started = self._clock()
        self._elapsed = 0.0
        return self

    def stop(self) -> float:
        """Stop timing and return the elapsed seconds."""
        if self._started is None:
            raise RuntimeError("stop() called on a Stopwatch that is not running; call "
                               "start() first or use it as `with Stopwatch() as sw:`")
        self._elapsed = self._clock() - self._started
        self._started = None
        if self._histogram is not None:
            self._histogram.observe(self._elapsed)
        return self._elapsed

    @property
    def running(self) -> bool:
        return self._started is not None

    @property
    def elapsed(self) -> float:
        """Seconds so far while running, or the final time once stopped."""
        if self._started is not None:
            return self._clock() - self._started
        return self._elapsed

    def __enter__(self) -> Stopwatch:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def timer(
    clock: Callable[[], float] = time.perf_counter, histogram: Histogram | None = None,
) -> Stopwatch:
    """A :class:`Stopwatch` to use in a ``with`` block; read ``.elapsed`` after it.

    Example:
        >>> with timer() as t:
        ...     total = sum(range(100))
        >>> t.elapsed >= 0
        True
    """
    return Stopwatch(clock=clock, histogram=histogram)


@overload
def timed(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def timed(
    func: None = None, /, *, name: str | None = ..., registry: MetricsRegistry | None = ...,
    clock: Callable[[], float] = ...,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def timed(
    func: Callable[P, R] | None = None, /, *, name: str | None = None,
    registry: MetricsRegistry | None = None, clock: Callable[[], float] = time.perf_counter,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call's duration (successful or not) in a histogram.

    The histogram is ``registry.histogram(name)``; ``name`` defaults to the function's
    ``module.qualname`` and ``registry`` to :data:`metrics`. Async functions are timed
    from the first step to the awaited result.

    Example:
        >>> reg = MetricsRegistry()
        >>> @timed(name="work", registry=reg)
        ... def work():
        ...     return 42
        >>> work(), reg.histogram("work").count
        (42, 1)
    """
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        metric = f"{fn.__module__}.{fn.__qualname__}" if name is None else name
        hist = (metrics if registry is None else registry).histogram(metric)
        if inspect.iscoroutinefunction(fn):
            return _timed_async(fn, hist, clock)  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                hist.observe(clock() - start)

        return wrapper

    return decorate(func) if func is not None else decorate


def _timed_async(
    fn: Callable[P, Any], hist: Histogram, clock: Callable[[], float],
) -> Callable[P, Any]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        start = clock()
        try:
            return await fn(*args, **kwargs)
        finally:
            hist.observe(clock() - start)

    return wrapper
