"""Async iteration: ``async for`` over pipelines, async stages and async sources."""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from godnb.core.pipeline import Pipeline, PipelineError
from tests.dataflow import pipeline_funcs as pf
from tests.waiting import wait_until_async


def pipe_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("godnb-pipe"))


async def wait_no_threads(within: float = 3.0) -> None:
    await wait_until_async(lambda: not pipe_threads(), within,
                           lambda: f"the pipeline threads to end; left: {pipe_threads()}")


async def acount(n: int | None = None) -> AsyncIterator[int]:
    for i in itertools.count() if n is None else range(n):
        await asyncio.sleep(0)
        yield i


def test_async_for_gives_the_same_items_as_for() -> None:
    p = Pipeline(range(30)).map(pf.double).filter(lambda x: x % 3).batch(4)

    async def main() -> list[Any]:
        return [b async for b in p]

    assert asyncio.run(main()) == p.collect()


def test_async_stages_run_on_the_callers_loop_in_async_for() -> None:
    p = Pipeline(range(5)).map(pf.aloop_id, workers=3)

    async def main() -> tuple[set[int], int]:
        return {x async for x in p}, id(asyncio.get_running_loop())

    ids, caller = asyncio.run(main())
    assert ids == {caller}
    # a sync iteration runs them on a private loop thread, gone afterwards
    assert caller not in set(p.collect())
    assert pipe_threads() == []


def test_async_source_and_async_stage_in_async_for() -> None:
    p = Pipeline(functools.partial(acount, 20)).map(pf.adouble, workers=4, ordered=False)

    async def main() -> list[int]:
        return await p.acollect()

    assert sorted(asyncio.run(main())) == [2 * x for x in range(20)]


def test_sync_iteration_inside_a_running_loop_does_not_deadlock() -> None:
    async def main() -> list[int]:
        # a blocking collect() on the loop thread: the async stage uses a private loop
        return Pipeline(range(5)).map(pf.adouble, workers=2).collect()

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]


@pytest.mark.timeout(60)
def test_errors_surface_in_async_for() -> None:
    p = Pipeline(range(10)).map(functools.partial(pf.afail_on, 4), workers=2)

    async def main() -> list[int]:
        out = []
        async for x in p:
            out.append(x)
        return out

    with pytest.raises(PipelineError, match=r"map\[0\]:afail_on failed on input 4"):
        asyncio.run(main())
    assert pipe_threads() == []


@pytest.mark.timeout(60)
def test_aclose_shuts_everything_down_at_once() -> None:
    p = Pipeline(acount).map(pf.adouble, workers=2).map(pf.inc, workers=2)

    async def main() -> None:
        async with aiter(p) as it:
            assert await anext(it) == 1
            assert pipe_threads() != []
        assert pipe_threads() == []
        with pytest.raises(StopAsyncIteration):
            await anext(it)

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_break_out_of_async_for_stops_the_stages() -> None:
    p = Pipeline(itertools.count()).map(pf.double, workers=2).buffer(4)

    async def main() -> None:
        async for x in p:
            if x > 10:
                break
        gc.collect()
        await wait_no_threads()

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_cancelling_the_consumer_task_leaves_nothing_behind() -> None:
    p = Pipeline(acount).map(pf.adouble, workers=2)

    async def consume() -> None:
        async for _ in p:
            await asyncio.sleep(0.01)

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gc.collect()
        await wait_no_threads()

    asyncio.run(main())
