"""Lazy, chainable data pipelines: ``Pipeline(source).map(f).batch(32).map(g, workers=4)``.

A :class:`Pipeline` is an immutable template: every operator returns a new pipeline, so
one can be iterated many times, extended in different ways and composed
(``p.then(fragment)`` or ``p | fragment``). Nothing runs until it is iterated; each
iteration builds fresh stage generators and worker resources and tears them down when
the iteration ends, fails, or is left early (``break``, ``close()``, garbage collection).

Example:
    >>> p = Pipeline(range(10)).map(lambda x: x * x).filter(lambda x: x % 2).batch(2)
    >>> p.collect()
    [[1, 9], [25, 49], [81]]
    >>> p.profile().stage("batch[2]").items_in
    5

Backpressure: a sequential stage holds at most the item it works on (``batch`` and
``window`` hold one batch or window), a parallel stage at most ``buffer`` items
(default ``2 * workers`` items, or chunks of them on processes), so an infinite source
runs in constant memory: items are pulled only as the consumer asks for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from godnb.dataflow.bridge import PipelineAsyncIterator
from godnb.dataflow.profile import PipelineProfile, StageProfile, StageStats
from godnb.dataflow.runtime import (
    ON_ERROR,
    PipelineError,
    PipelineRun,
    close_quietly,
)
from godnb.dataflow.sources import describe_source, is_source, open_source
from godnb.dataflow.stages import (
    BatchStage,
    BufferStage,
    FilterStage,
    FlatMapStage,
    MapStage,
    SkipStage,
    Stage,
    StageContext,
    TakeStage,
    TapStage,
    WindowStage,
)
from godnb.execution.context import check_cancelled, progress
from godnb.registry import get_plugin
from godnb.utils.formatting import format_count

if TYPE_CHECKING:
    from godnb.core.engine import Engine
    from godnb.core.handles import JobHandle

__all__ = ["Pipeline", "PipelineAsyncIterator", "PipelineError"]


class Pipeline:
    """A lazy chain of stages over a source.

    Args:
        source: an iterable, an iterator or generator, an async iterable, or a
            zero-argument callable returning one (called at each iteration, which makes a
            generator source reusable). ``None`` makes a fragment to compose later.
        on_error: what a failing item does by default: ``"raise"`` a
            :class:`PipelineError` (naming the stage and the input index, with the
            original exception as ``__cause__``), ``"skip"`` it, or ``"collect"`` the
            error in :attr:`errors` and go on. Stages can override it.
        profile: time the stage functions (cheap; ``False`` keeps item counts only).
        name: a label for jobs and displays.

    Iterators and generators given as the source are consumed (and not closed) by the
    first iteration; iterables and callables give every iteration a fresh start.
    """

    __slots__ = ("__weakref__", "_last", "_on_error", "_profile", "_source", "_stages",
                 "name")

    def __init__(self, source: Any = None, *, on_error: str = "raise", profile: bool = True,
                 name: str | None = None) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, "
                             f"got {on_error!r}")
        if source is not None and not is_source(source):
            raise TypeError(f"Pipeline() takes an iterable, an async iterable or a "
                            f"zero-argument callable returning one, got "
                            f"{type(source).__name__}")
        self._source = source
        self._stages: tuple[Stage, ...] = ()
        self._on_error = on_error
        self._profile = bool(profile)
        self.name = name
        self._last: PipelineRun | None = None

    # -- building ------------------------------------------------------------------------
    def _with(self, stages: tuple[Stage, ...], source: Any = None) -> Pipeline:
        p = Pipeline(self._source if source is None else source, on_error=self._on_error,
                     profile=self._profile, name=self.name)
        p._stages = stages
        return p

    def pipe(self, stage: Stage | str, /, *args: Any, **kwargs: Any) -> Pipeline:
        """Append a stage: an instance, or a registered stage name with its arguments.

        Example:
            >>> Pipeline([3, 1]).pipe("map", str).collect()
            ['3', '1']
        """
        if isinstance(stage, str):
            stage = get_plugin("stage", stage)(*args, **kwargs)
        elif args or kwargs:
            raise TypeError("pipe() takes arguments only with a stage name")
        if not isinstance(stage, Stage):
            raise TypeError(f"pipe() takes a Stage or a stage name, got {type(stage).__name__}")
        return self._with((*self._stages, stage))

    def map(self, fn: Callable[[Any], Any], *, workers: int = 1, backend: str | None = None,
            ordered: bool = True, buffer: int | None = None, chunksize: int | None = None,
            timeout: float | None = None, on_error: str | None = None) -> Pipeline:
        """``fn(item)`` for each item; in parallel with ``workers > 1`` or a ``backend``.

        Args:
            fn: a function of one item (``functools.partial`` works). A coroutine function
                runs on the ``"async"`` backend.
            workers: parallel workers (threads, processes, or concurrent tasks).
            backend: ``"thread"`` (the default when parallel), ``"process"`` (``fn``
                must pickle: a module-level function) or ``"async"``.
            ordered: keep input order (a reorder buffer); False yields in completion order.
            buffer: most items in flight at once (default ``2 * workers``, times the chunk
                size on processes).
            chunksize: items per process task (default: adaptive, growing until a chunk
                takes a few ms; 1 when ``timeout`` is set, so a timeout kills one item).
            timeout: seconds per item; a hung item fails with :class:`TimeoutError` as
                the cause (processes are killed, tasks cancelled, threads abandoned).
            on_error: overrides the pipeline's policy for this stage.
        """
        return self._with((*self._stages, MapStage(
            fn, workers=workers, backend=backend, ordered=ordered, buffer=buffer,
            chunksize=chunksize, timeout=timeout, on_error=on_error)))

    def filter(self, pred: Callable[[Any], Any] | None, *, on_error: str | None = None
               ) -> Pipeline:
        """Keep the items for which ``pred(item)`` is true (``None``: truthy items)."""
        return self._with((*self._stages, FilterStage(pred, on_error=on_error)))

    def flat_map(self, fn: Callable[[Any], Iterable[Any]], *, on_error: str | None = None
                 ) -> Pipeline:
        """Pass on each element of the iterable ``fn(item)`` returns (lazily)."""
        return self._with((*self._stages, FlatMapStage(fn, on_error=on_error)))

    def batch(self, size: int, timeout: float | None = None) -> Pipeline:
        """Lists of ``size`` items; with ``timeout``, a partial batch goes out that many
        seconds after its first item arrived."""
        return self._with((*self._stages, BatchStage(size, timeout)))

    def window(self, size: int, step: int | None = None, *, partial: bool = False
               ) -> Pipeline:
        """Tuples of ``size`` consecutive items every ``step`` items (default 1)."""
        return self._with((*self._stages, WindowStage(size, step, partial=partial)))

    def take(self, n: int) -> Pipeline:
        """The first ``n`` items; nothing more is pulled from upstream."""
        return self._with((*self._stages, TakeStage(n)))

    def skip(self, n: int) -> Pipeline:
        """Drop the first ``n`` items."""
        return self._with((*self._stages, SkipStage(n)))

    def tap(self, fn: Callable[[Any], Any], *, on_error: str | None = None) -> Pipeline:
        """Call ``fn(item)`` for its side effect; items pass through unchanged."""
        return self._with((*self._stages, TapStage(fn, on_error=on_error)))

    def buffer(self, n: int) -> Pipeline:
        """Run the upstream on its own thread, up to ``n`` items ahead."""
        return self._with((*self._stages, BufferStage(n)))

    def then(self, other: Pipeline) -> Pipeline:
        """This pipeline followed by the stages of ``other`` (a pipeline without source).

        Example:
            >>> double = Pipeline().map(lambda x: 2 * x)
            >>> Pipeline([1, 2]).then(double).then(double).collect()
            [4, 8]
        """
        if not isinstance(other, Pipeline):
            raise TypeError(f"then() takes a Pipeline, got {type(other).__name__}")
        if other._source is not None:
            raise ValueError("then() appends the stages of a pipeline without a source; "
                             "build the fragment as Pipeline().map(...), or use "
                             "Pipeline(first).then(...) to read one pipeline from another")
        return self._with(self._stages + other._stages)

    def __or__(self, other: Pipeline | Stage | Callable[[Any], Any]) -> Pipeline:
        """``p | fragment`` = ``p.then(fragment)``; ``p | stage`` and ``p | fn`` (a map)."""
        if isinstance(other, Pipeline):
            return self.then(other)
        if isinstance(other, Stage):
            return self.pipe(other)
        if callable(other):
            return self.map(other)
        return NotImplemented

    def over(self, source: Any) -> Pipeline:
        """The same stages over another source."""
        if source is None:
            raise TypeError("over() needs a source")
        return self._with(self._stages, source)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return self._stages

    @property
    def source(self) -> Any:
        return self._source

    # -- running --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        """Iterate the outputs. Leaving early closes every stage and worker: ``break``
        (then garbage collection), ``it.close()`` or ``contextlib.closing(iter(p))``."""
        self._need_source()
        return self._iterate(None)

    def _need_source(self) -> None:
        if self._source is None:
            raise TypeError("this pipeline has no source; give one with Pipeline(source) "
                            "or .over(source), or append it to another with then()")

    def _iterate(self, loop: asyncio.AbstractEventLoop | None) -> Iterator[Any]:
        # A generator: nothing (not even iter(source)) happens before the first next().
        labels = [stage.label(i) for i, stage in enumerate(self._stages)]
        head = StageStats("source", "source", timed=False)
        stats = [head] + [s.make_stats(lb) for s, lb in zip(self._stages, labels, strict=True)]
        run = self._last = PipelineRun(stats, [], profile=self._profile, loop=loop)
        chain: Iterator[Any] | None = None
        try:
            chain = open_source(self._source, run, head)
            for stage, label, st in zip(self._stages, labels, stats[1:], strict=True):
                chain = stage.build(chain, StageContext(label, st, run,
                                                        stage.on_error or self._on_error))
            yield from chain
        finally:
            close_quietly(chain)
            run.finish()

    def __aiter__(self) -> PipelineAsyncIterator:
        """``async for item in p``: stages run on a helper thread; async stages and async
        sources run on the caller's loop, which stays free while it waits."""
        self._need_source()
        return PipelineAsyncIterator(self._iterate)

    def collect(self) -> list[Any]:
        """Every output in a list."""
        return list(self)

    async def acollect(self) -> list[Any]:
        """Every output in a list, without blocking the running loop."""
        it = self.__aiter__()
        try:
            return [x async for x in it]
        finally:
            await it.aclose()

    def submit(self, engine: Engine | None = None, **options: Any) -> JobHandle:
        """Run the whole pipeline as one thread job; its output is the collected list.

        The job reports progress (source items read out of ``len(source)`` when the
        source has a length, else items out) and stops at the next item once cancelled.
        ``options`` go to ``engine.submit`` (priority, group, name, timeout, tags, ...).
        """
        self._need_source()
        if options.get("backend", "thread") != "thread":
            raise ValueError("a pipeline job runs on the 'thread' backend (its own parallel "
                             "stages pick their backends); drop the backend option")
        options["backend"] = "thread"
        options.setdefault("name", self.name or "pipeline")
        if engine is None:
            from godnb.core.engine import default_engine

            engine = default_engine()
        return engine.submit(_run_job, self, **options)

    # -- looking ----------------------------------------------------------------------------
    @property
    def errors(self) -> list[PipelineError]:
        """Errors collected by ``on_error="collect"`` in the last (or current) run."""
        return self._last.errors if self._last is not None else []

    def profile(self) -> PipelineProfile:
        """Per-stage counts and timings of the last run (or the current one, live)."""
        if self._last is not None:
            return self._last.snapshot()
        rows = [StageProfile(name="source", kind="source")]
        rows += [StageProfile(name=s.label(i), kind=s.make_stats("").kind)
                 for i, s in enumerate(self._stages)]
        return PipelineProfile(stages=rows, profiled=self._profile, started=False)

    def __repr__(self) -> str:
        parts = [f"Pipeline({describe_source(self._source)})", *map(repr, self._stages)]
        return " | ".join(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        from godnb.core.display import mimebundle

        return mimebundle(self)

    def _ipython_display_(self) -> None:
        from godnb.core.display import ipython_display

        ipython_display(self)


# -- as a job ---------------------------------------------------------------------------------
_PROGRESS_EVERY = 0.1  # seconds between progress reports


def _run_job(pipeline: Pipeline) -> list[Any]:
    total = _length(pipeline.source)
    out: list[Any] = []
    gen = iter(pipeline)
    last = 0.0
    try:
        for x in gen:
            out.append(x)
            check_cancelled()
            now = time.monotonic()
            if now - last >= _PROGRESS_EVERY:
                last = now
                _report(pipeline, total, len(out))
    finally:
        close_quietly(gen)
    _report(pipeline, total, len(out))
    return out


def _report(pipeline: Pipeline, total: int | None, n_out: int) -> None:
    run = pipeline._last
    read = run.stats[0].n_out if run is not None else 0
    done = read if total is not None else n_out
    progress(done, total=total, message=f"{format_count(read)} read, {format_count(n_out)} out")


def _length(source: Any) -> int | None:
    try:
        return len(source)
    except TypeError:
        return None
