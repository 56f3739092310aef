"""The async backend's worker tasks: one worker runs many jobs, and a cancel or timeout of
one job never reaches the next job on the same worker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.execution.context import current_job_id
from tests.waiting import wait_until_async

pytestmark = pytest.mark.timeout(60)


async def nap(seconds: float, value: object = None) -> object:
    await asyncio.sleep(seconds)
    return value


async def stubborn(value: object) -> object:
    """Swallows its cancel and returns anyway."""
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(0)
    return value


async def with_asyncio_timeout() -> tuple[str, int]:
    """How ``asyncio.timeout`` ended, and how many cancels the job's task has pending."""
    pending = asyncio.current_task().cancelling()  # type: ignore[union-attr]
    try:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(30)
    except TimeoutError:
        return "timed out", pending
    return "slept", pending


async def raises_cancelled() -> None:
    raise asyncio.CancelledError("the job's own")


def test_cancel_does_not_reach_the_next_job_of_the_worker() -> None:
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            slow = eng.submit(nap, 30, backend="async")
            after = eng.submit(nap, 0.01, "next", backend="async")
            await wait_until_async(lambda: slow.status is JobStatus.RUNNING, 30, "slow to run")
            assert slow.cancel()
            assert await after == "next"
            assert slow.status is JobStatus.CANCELLED
            assert eng.stats().counts["cancelled"] == 1

    asyncio.run(main())


def test_after_a_cancel_the_next_job_can_use_asyncio_timeout() -> None:
    # The next job on the worker must not start in a task that is being cancelled
    # (asyncio.timeout, TaskGroup and user code read Task.cancelling()).
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            slow = eng.submit(nap, 30)
            after = eng.submit(with_asyncio_timeout)
            await wait_until_async(lambda: slow.status is JobStatus.RUNNING, 30, "slow to run")
            slow.cancel()
            assert await after == ("timed out", 0)

    asyncio.run(main())


def test_a_job_cancelling_itself_does_not_cancel_the_next() -> None:
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            async def cancels_itself(i: int) -> int:
                eng.get(current_job_id()).cancel()  # and returns without another await
                return i

            first = eng.submit(cancels_itself, 0)
            rest = eng.map(nap, [0.01] * 3, [1, 2, 3])
            assert await rest == [1, 2, 3]
            assert first.status is JobStatus.CANCELLED

    asyncio.run(main())


def test_a_job_cancelling_its_own_task_does_not_stall_the_queue() -> None:
    async def cancels_its_task() -> None:
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        await asyncio.sleep(1)

    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            first = eng.submit(cancels_its_task)
            rest = eng.map(nap, [0.0] * 3, [1, 2, 3])  # queued behind it, same worker
            assert await rest == [1, 2, 3]
            assert first.status is JobStatus.FAILED  # not cancelled through the engine
            assert first.outcome.error.type == "CancelledError"  # type: ignore[union-attr]

    asyncio.run(main())


def test_timeout_then_the_worker_goes_on() -> None:
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            slow = eng.submit(nap, 30, timeout=0.05, backend="async")
            rest = eng.map(nap, [0.0] * 5, range(5))
            with pytest.raises(god.JobTimeout):
                await slow
            assert await rest == [0, 1, 2, 3, 4]

    asyncio.run(main())


def test_a_job_that_swallows_its_cancel_stays_cancelled() -> None:
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            h = eng.submit(stubborn, "ignored")
            after = eng.submit(nap, 0, "next")
            await wait_until_async(lambda: h.status is JobStatus.RUNNING, 30, "the job to run")
            h.cancel()
            assert await after == "next"  # the worker is not left cancelled
            assert h.status is JobStatus.CANCELLED

    asyncio.run(main())


def test_a_job_raising_cancelled_error_itself_fails_and_the_next_runs() -> None:
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            bad = eng.submit(raises_cancelled)
            after = eng.submit(nap, 0, "next")
            assert await after == "next"
            assert bad.status is JobStatus.FAILED
            assert "cancelled" in str(bad.outcome.error).lower()

    asyncio.run(main())


def test_jobs_that_never_suspend_still_let_the_loop_turn() -> None:
    async def main() -> None:
        async with Engine(async_limit=1) as eng:
            seen: list[int] = []

            async def instant(i: int) -> int:
                return i

            group = eng.map(instant, range(2_000))
            asyncio.get_running_loop().call_soon(lambda: seen.append(group.finished_count))
            assert len(await group) == 2_000
            # The callback ran while the jobs were still running, not after all of them.
            assert seen and seen[0] < 2_000

    asyncio.run(main())


def test_never_more_than_the_limit_at_once() -> None:
    running = 0
    peak = 0

    async def track(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        return i

    async def main() -> None:
        async with Engine(async_limit=7) as eng:
            assert await eng.map(track, range(200)) == list(range(200))
            assert eng.stats().workers["async"]["busy"] == 0

    asyncio.run(main())
    assert peak == 7


def test_jobs_that_wait_all_run_at_once_as_the_pool_grows() -> None:
    """Workers start on demand, yet every waiting job gets one (up to the limit)."""
    running = 0
    peak = 0

    async def hold(release: asyncio.Event) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    async def main() -> None:
        release = asyncio.Event()
        async with Engine(async_limit=500) as eng:
            group = eng.map(hold, [release] * 300)
            for _ in range(1_000):  # a turn of the loop per pass; the pool doubles per turn
                if running == 300:
                    break
                await asyncio.sleep(0)
            assert running == 300
            release.set()
            await group
            assert group.counts()["completed"] == 300

    asyncio.run(main())
    assert peak == 300


def test_a_burst_of_jobs_that_never_wait_needs_few_worker_tasks() -> None:
    tasks: set[int] = set()

    async def instant(i: int) -> int:
        tasks.add(id(asyncio.current_task()))
        return i

    async def main() -> None:
        async with Engine(async_limit=1_000) as eng:
            assert await eng.map(instant, range(5_000)) == list(range(5_000))

    asyncio.run(main())
    assert 1 <= len(tasks) <= 4  # not a task per job, nor the limit's 1,000


def test_shutdown_without_wait_cancels_the_running_and_the_queued() -> None:
    async def main() -> None:
        eng = Engine(async_limit=2)
        group = eng.map(nap, [30] * 5)
        await wait_until_async(lambda: group.counts()["running"] >= 2, 30, "two jobs to run")
        eng.shutdown(wait=False)
        assert group.counts()["cancelled"] == 5

    asyncio.run(main())


def test_job_context_is_the_current_job_in_each_job() -> None:
    async def report(i: int) -> int:
        god.progress(i, 10)
        await asyncio.sleep(0)
        return i

    async def main() -> None:
        async with Engine(async_limit=2) as eng:
            handles = [eng.submit(report, i) for i in range(6)]
            assert [await h for h in handles] == list(range(6))
            assert all(h.progress.done == h.progress.total for h in handles)

    asyncio.run(main())


async def until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate`` on the loop, failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


class Deaf:
    """Async jobs that swallow every cancel and keep awaiting until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.swallowed = 0

    async def run(self) -> str:
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.swallowed += 1  # and keep waiting
        return "released"


def test_jobs_ignoring_their_cancel_do_not_jam_the_pool() -> None:
    """Issue 17 case 3: async_limit=2, two jobs that swallow CancelledError time out; after
    the grace their workers are abandoned and replaced, so a quick job still runs."""
    async def main() -> None:
        from godnb.concurrency.async_tasks import AsyncExecutor

        deaf = Deaf()
        executor = AsyncExecutor(2, cancel_grace=0.1)
        async with Engine(executors={"async": executor}) as eng:
            try:
                stuck = [eng.submit(deaf.run, timeout=0.2) for _ in range(2)]
                while not all(h.status is JobStatus.RUNNING for h in stuck):
                    await asyncio.sleep(0.001)
                quick = eng.submit(nap, 0, "quick")  # both workers are taken
                for h in stuck:
                    with pytest.raises(god.JobTimeout):
                        await h
                assert await asyncio.wait_for(quick, 10) == "quick"
                await until(lambda: len(executor._abandoned) == 2)
                assert deaf.swallowed >= 2  # they really ignored it
                assert executor.info().busy == 0
                after = eng.map(nap, [0.0] * 4, range(4))  # the pool keeps its size
                assert await asyncio.wait_for(after, 10) == [0, 1, 2, 3]
            finally:
                deaf.release.set()
            # the abandoned workers exit once their job returns
            await until(lambda: not executor._abandoned)
            assert [h.status for h in stuck] == [JobStatus.FAILED] * 2

    asyncio.run(main())


def test_a_job_that_ends_within_the_grace_keeps_its_worker() -> None:
    async def main() -> None:
        from godnb.concurrency.async_tasks import AsyncExecutor

        executor = AsyncExecutor(1, cancel_grace=30)
        async with Engine(executors={"async": executor}) as eng:
            h = eng.submit(stubborn, "late")  # swallows once, then returns on its own
            while h.status is not JobStatus.RUNNING:
                await asyncio.sleep(0.001)
            h.cancel()
            assert await eng.submit(nap, 0, "next") == "next"
            assert not executor._abandoned and len(executor._workers) == 1

    asyncio.run(main())


def test_cancel_grace_is_checked() -> None:
    from godnb.concurrency.async_tasks import AsyncExecutor

    for bad in (-1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="cancel_grace"):
            AsyncExecutor(2, cancel_grace=bad)  # type: ignore[arg-type]
    assert AsyncExecutor(2).cancel_grace == AsyncExecutor.cancel_grace == 1.0
