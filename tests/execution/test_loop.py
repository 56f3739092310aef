"""LoopThread (an asyncio loop on a thread of its own) and EngineLoop (the engine's loop:
the caller's, or an owned LoopThread started on first use).

Threads here are named ``godnb-...``, so the leak check fails a test that leaves one behind.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from godnb.execution.loop import EngineLoop, LoopThread, running_loop

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lt() -> Iterator[LoopThread]:
    loop_thread = LoopThread("godnb-test-loop")
    try:
        yield loop_thread
    finally:
        loop_thread.close()


def godnb_loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "godnb-loop"]


# -- LoopThread ---------------------------------------------------------------------------------

def test_the_loop_runs_on_its_own_named_daemon_thread(lt: LoopThread) -> None:
    assert lt.thread.name == "godnb-test-loop" and lt.thread.daemon
    assert lt.loop.is_running()

    async def where() -> tuple[str, asyncio.AbstractEventLoop | None]:
        return threading.current_thread().name, running_loop()

    fut = asyncio.run_coroutine_threadsafe(where(), lt.loop)
    assert fut.result(timeout=10) == ("godnb-test-loop", lt.loop)
    assert running_loop() is None  # nothing runs a loop in this thread


def test_close_stops_the_thread_and_closes_the_loop(lt: LoopThread) -> None:
    lt.close(timeout=10)
    assert not lt.thread.is_alive()
    assert lt.loop.is_closed()
    lt.close(timeout=10)  # again: harmless


def test_close_cancels_the_tasks_left_on_the_loop(lt: LoopThread) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.run_coroutine_threadsafe(forever(), lt.loop)
    assert started.wait(10)
    lt.close(timeout=10)
    assert cancelled.is_set()
    assert not lt.thread.is_alive()


def test_a_task_that_swallows_its_cancel_does_not_hold_close_past_its_bound(
        lt: LoopThread) -> None:
    started = threading.Event()
    swallowed: list[int] = []

    async def stubborn() -> None:
        started.set()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed.append(1)  # and keeps going

    asyncio.run_coroutine_threadsafe(stubborn(), lt.loop)
    assert started.wait(10)
    # close() waits a second for cancelled tasks, then closes the loop anyway: with a
    # 30 s join the thread must be gone, not stuck behind the task
    lt.close(timeout=30)
    assert not lt.thread.is_alive()
    assert swallowed == [1] and lt.loop.is_closed()


def test_an_async_generator_left_open_is_closed_with_the_loop(lt: LoopThread) -> None:
    closed = threading.Event()
    kept: list[object] = []  # keeps the generator alive (and open) past the task

    async def agen() -> object:
        try:
            yield 1
            yield 2
        finally:
            closed.set()

    async def take_one() -> object:
        gen = agen()
        value = await gen.__anext__()
        kept.append(gen)
        return value

    assert asyncio.run_coroutine_threadsafe(take_one(), lt.loop).result(timeout=10) == 1
    lt.close(timeout=10)
    assert closed.is_set() and not lt.thread.is_alive()


def test_close_from_the_loop_thread_itself_does_not_wait_for_itself(lt: LoopThread) -> None:
    lt.loop.call_soon_threadsafe(lt.close)  # would deadlock if it joined its own thread
    lt.thread.join(10)
    assert not lt.thread.is_alive()
    assert lt.loop.is_closed()


# -- EngineLoop ---------------------------------------------------------------------------------

def test_engine_loop_attaches_to_the_running_loop_and_leaves_it_alone() -> None:
    async def main() -> None:
        here = asyncio.get_running_loop()
        holder = EngineLoop()
        assert holder.loop is here and not holder.owned and holder.started
        assert holder.on_loop_thread()
        other: list[bool] = []
        t = threading.Thread(target=lambda: other.append(holder.on_loop_thread()),
                             name="other")
        t.start()
        t.join(10)
        assert other == [False]
        ran = asyncio.Event()
        holder.call_soon(ran.set)  # on the loop's own thread: a plain call_soon
        await asyncio.wait_for(ran.wait(), 10)
        holder.close()
        assert here.is_running() and not here.is_closed()
        assert godnb_loop_threads() == []  # attached: it never started a loop of its own

    asyncio.run(main())


def test_engine_loop_uses_a_given_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        holder = EngineLoop(loop)
        assert holder.loop is loop and not holder.owned and not holder.on_loop_thread()
        holder.close()
        assert not loop.is_closed()
    finally:
        loop.close()


def test_engine_loop_without_a_running_loop_starts_its_own_on_first_use() -> None:
    holder = EngineLoop()
    try:
        assert holder.owned and not holder.started
        assert godnb_loop_threads() == []  # nothing started yet
        loop = holder.loop
        assert holder.started and loop.is_running()
        assert len(godnb_loop_threads()) == 1
        assert not holder.on_loop_thread()
        seen: list[str] = []
        done = threading.Event()
        holder.call_soon(lambda: (seen.append(threading.current_thread().name), done.set()))
        assert done.wait(10) and seen == ["godnb-loop"]
        on_loop = asyncio.run_coroutine_threadsafe(_on_loop_thread(holder), loop)
        assert on_loop.result(timeout=10) is True
    finally:
        holder.close()
    assert godnb_loop_threads() == [] and loop.is_closed()
    holder.call_soon(lambda: None)  # after close: dropped, no error
    holder.close()  # again: harmless


async def _on_loop_thread(holder: EngineLoop) -> bool:
    return holder.on_loop_thread()


def test_engine_loop_starts_one_loop_when_many_threads_ask_at_once() -> None:
    holder = EngineLoop()
    loops: list[asyncio.AbstractEventLoop] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait(10)
        loops.append(holder.loop)

    threads = [threading.Thread(target=ask, name=f"asker-{i}") for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(loops) == 8 and len(set(map(id, loops))) == 1
        assert len(godnb_loop_threads()) == 1
    finally:
        holder.close()
