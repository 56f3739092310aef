"""Where a pipeline's items come from: iterables, generators, async iterables, factories.

:func:`open_source` turns what ``Pipeline(source)`` was given into the iterator the first
stage pulls from, counting items read; an async source is read from the sync stages one
item at a time on the run's loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from godnb.dataflow.profile import StageStats
from godnb.dataflow.runtime import PipelineRun, close_quietly
from godnb.errors import PipelineError
from godnb.execution.remote import describe

__all__ = ["describe_source", "is_source", "open_source"]


def _iterable(obj: Any) -> bool:
    # Look at the type: a class (`list`, `itertools.count`) has an `__iter__` attribute
    # but is a factory, not an iterable.
    return hasattr(type(obj), "__iter__")


def _async_iterable(obj: Any) -> bool:
    return hasattr(type(obj), "__aiter__")


def is_source(obj: Any) -> bool:
    return _iterable(obj) or _async_iterable(obj) or callable(obj)


def describe_source(source: Any) -> str:
    if source is None:
        return ""
    try:
        return f"{type(source).__name__}[{len(source)}]"
    except TypeError:
        return type(source).__name__


def open_source(source: Any, run: PipelineRun, st: StageStats) -> Iterator[Any]:
    if callable(source) and not _iterable(source) and not _async_iterable(source):
        source = source()
    if _iterable(source):
        it = iter(source)
        return _source(it, st, own=it is not source)
    if _async_iterable(source):
        ait = source.__aiter__()
        return _source(_from_async(ait, run, own=ait is not source), st, own=True)
    raise TypeError(f"the pipeline's source factory returned {type(source).__name__}, "
                    f"not an iterable or async iterable")


def _source(it: Iterator[Any], st: StageStats, own: bool) -> Iterator[Any]:
    n = 0
    try:
        for x in it:
            n += 1
            st.n_out = n
            yield x
    except PipelineError:
        raise  # a pipeline used as a source: its own stage names are the useful ones
    except Exception as e:
        raise PipelineError(f"the pipeline's source raised {describe(e)} after {n} items",
                            stage="source", index=n) from e
    finally:
        st.n_out = n
        if own:
            close_quietly(it)


async def _anext(ait: Any) -> tuple[bool, Any]:
    try:
        return True, await ait.__anext__()
    except StopAsyncIteration:
        return False, None


def _from_async(ait: Any, run: PipelineRun, own: bool) -> Iterator[Any]:
    """An async iterator read from a sync thread, one item at a time, on the run's loop."""
    try:
        while True:
            ok, x = run.wait(run.call(_anext(ait)))
            if not ok:
                return
            yield x
    finally:
        aclose = getattr(ait, "aclose", None)
        if own and aclose is not None:
            try:
                run.wait(run.call(aclose()))
            except Exception:  # the loop is gone: nothing left to close it on
                pass
