"""Everyday notebook life in core: keyed runs, single-flight caching, the default engine,
the cell a job came from, interrupts, and remote tracebacks."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobCancelled, JobFailed, JobStatus
from godnb.core.engine import default_engine, set_default_engine
from godnb.core.origin import set_origin_hook
from godnb.core.submission import OPTION_NAMES
from godnb.execution.remote import RemoteTraceback
from tests.core import funcs
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def gated(gate: threading.Event, value: Any = None) -> Any:
    gate.wait(10)
    return value


@pytest.fixture
def eng() -> Iterator[Engine]:
    with Engine(threads=2, default=False) as engine:
        yield engine


# -- keyed runs: the latest run wins -------------------------------------------------------
def test_a_new_run_with_a_key_cancels_the_unfinished_one(eng: Engine) -> None:
    gate = threading.Event()
    first = eng.submit(gated, gate, 1, key="sweep")
    other = eng.submit(gated, gate, 9, key="other")
    second = eng.submit(gated, gate, 2, key="sweep")
    assert first.status is JobStatus.CANCELLED and first.key == "sweep"
    gate.set()
    assert second.result(timeout=10) == 2 and other.result(timeout=10) == 9
    with pytest.raises(JobCancelled, match=rf"replaced by job {second.job_id} \(key 'sweep'\)"):
        first.result()
    third = eng.submit(abs, -3, key="sweep")  # the previous run had ended: nothing to cancel
    assert third.result(timeout=10) == 3 and second.status is JobStatus.COMPLETED
    assert "key" in OPTION_NAMES


def test_map_and_the_builder_take_a_key(eng: Engine) -> None:
    gate = threading.Event()
    g1 = eng.map(gated, [gate] * 4, key="grid")
    built = eng.job(gated, gate, "b").key("grid").submit()
    assert g1.counts()["cancelled"] == 4  # the whole earlier map was replaced
    g2 = eng.map(gated, [gate] * 3, [5, 6, 7], key="grid")
    assert built.status is JobStatus.CANCELLED
    gate.set()
    assert g2.results(timeout=10) == [5, 6, 7]
    assert isinstance(g1.exceptions()[0], JobCancelled)


def test_a_cancel_reason_shows_and_a_plain_cancel_has_none(eng: Engine) -> None:
    gate = threading.Event()
    h = eng.submit(gated, gate)
    assert h.cancel("no longer needed")
    plain = eng.submit(gated, gate)
    assert plain.cancel()
    gate.set()
    with pytest.raises(JobCancelled, match=r"was cancelled: no longer needed$"):
        h.result()
    with pytest.raises(JobCancelled, match=r"\(gated\) was cancelled$"):
        plain.result()


# -- single flight -------------------------------------------------------------------------
def test_identical_jobs_in_flight_run_once_and_share_the_result(eng: Engine) -> None:
    calls: list[int] = []
    gate = threading.Event()

    def slow_square(x: int) -> int:
        calls.append(x)
        gate.wait(10)
        return x * x

    a = eng.submit(slow_square, 4, cache=True)
    wait_until(lambda: calls, 5, "the first call to start")
    b = eng.submit(slow_square, 4, cache=True)
    g = eng.map(slow_square, [4, 5], cache=True)
    assert b.status is JobStatus.PENDING and not b.done()
    gate.set()
    assert a.result(timeout=10) == b.result(timeout=10) == 16
    assert g.results(timeout=10) == [16, 25]
    assert sorted(calls) == [4, 5]  # 4 ran once for three jobs
    assert b.cached and g[0].cached and not a.cached
    row = next(r for r in eng.profile().rows if r.task.endswith("slow_square"))
    assert row.cache_hits == 2 and row.count == 4


def test_a_follower_shares_the_error_and_runs_itself_if_the_leader_is_cancelled(
        eng: Engine) -> None:
    gate = threading.Event()

    def flaky(x: int) -> int:
        gate.wait(10)
        raise ValueError(f"bad {x}")

    a = eng.submit(flaky, 1, cache=True)
    b = eng.submit(flaky, 1, cache=True)
    gate.set()
    with pytest.raises(JobFailed, match="ValueError: bad 1"):
        b.result(timeout=10)
    assert isinstance(a.exception(), JobFailed)

    hold = threading.Event()

    def held(x: int) -> int:
        hold.wait(10)
        return x

    c = eng.submit(held, 7, cache=True)
    d = eng.submit(held, 7, cache=True)
    assert c.cancel()
    hold.set()
    assert d.result(timeout=10) == 7 and not d.cached  # it ran on its own
    assert eng.wait(10)


def test_without_key_or_cache_nothing_is_tracked(eng: Engine) -> None:
    eng.map(abs, range(100)).results(timeout=10)
    assert eng._keyed.latest == {} and eng._inflight.leaders == {}


# -- the default engine --------------------------------------------------------------------
def test_the_first_engine_made_becomes_the_default() -> None:
    set_default_engine(None)
    with Engine(threads=1, name="mine") as first, Engine(threads=1, name="second") as second:
        assert default_engine() is first  # %god status now shows the user's engine
        assert god.submit(abs, -1).result(timeout=10) == 1 and first.stats().submitted == 1
        chosen = Engine(threads=1, default=True)
        assert default_engine() is chosen
        set_default_engine(second)  # still wins
        assert default_engine() is second
        chosen.shutdown()
        with Engine(threads=1, default=False) as private:
            assert default_engine() is second and private is not second
    # every default was shut down: a fresh one is made on demand
    fresh = default_engine()
    try:
        assert fresh.name == "default" and not fresh.closed
    finally:
        fresh.shutdown()


# -- the cell a job came from --------------------------------------------------------------
def test_jobs_record_the_origin_once_per_call(eng: Engine) -> None:
    asked: list[int] = []

    def hook() -> tuple[int, str]:
        asked.append(1)
        return 12, "cell-abc"

    set_origin_hook(hook)
    try:
        h = eng.submit(abs, -1)
        g = eng.map(abs, range(50))
    finally:
        set_origin_hook(None)
    plain = eng.submit(abs, -2)
    assert len(asked) == 2  # once per submit/map call, not per job
    assert (h.cell, h.cell_id) == (12, "cell-abc")
    assert {(x.cell, x.cell_id) for x in g} == {(12, "cell-abc")}
    assert plain.cell is None and plain.cell_id is None
    set_origin_hook(lambda: 1 / 0)  # type: ignore[arg-type, return-value]
    try:
        assert eng.submit(abs, -3).cell is None  # a broken hook never breaks a submit
    finally:
        set_origin_hook(None)


# -- interrupts ----------------------------------------------------------------------------
def _interrupt_soon(started: Callable[[], bool]) -> threading.Thread:
    main = threading.main_thread().ident
    assert main is not None

    def fire() -> None:
        wait_until(started, 10, "the job to start")
        time.sleep(0.05)  # let the main thread block in its wait
        signal.pthread_kill(main, signal.SIGINT)

    t = threading.Thread(target=fire)
    t.start()
    return t


@pytest.mark.parametrize("cancel", [True, False])
def test_an_interrupted_result_cancels_the_job_only_if_asked(eng: Engine, cancel: bool
                                                             ) -> None:
    h = eng.submit(funcs.cooperative, 20)
    t = _interrupt_soon(lambda: h.status is JobStatus.RUNNING)
    with pytest.raises(KeyboardInterrupt):
        h.result(timeout=20, cancel_on_interrupt=cancel)
    t.join()
    if cancel:
        assert h.status is JobStatus.CANCELLED
        with pytest.raises(JobCancelled, match="interrupted"):
            h.result()
    else:
        assert h.status is JobStatus.RUNNING
        h.cancel()


def test_interrupted_group_and_engine_waits_cancel_what_they_waited_for(eng: Engine) -> None:
    g = eng.map(funcs.cooperative, [20, 20])
    t = _interrupt_soon(lambda: g.counts()["running"] == 2)
    with pytest.raises(KeyboardInterrupt):
        g.results(cancel_on_interrupt=True)
    t.join()
    assert g.counts()["cancelled"] == 2
    h = eng.submit(funcs.cooperative, 20)
    t = _interrupt_soon(lambda: h.status is JobStatus.RUNNING)
    with pytest.raises(KeyboardInterrupt):
        eng.wait(cancel_on_interrupt=True)
    t.join()
    assert h.status is JobStatus.CANCELLED


def test_a_cancelled_async_wait_cancels_the_jobs_only_if_asked() -> None:
    async def main() -> tuple[JobStatus, JobStatus, JobStatus]:
        async with Engine(threads=2, default=False) as eng:
            asked = eng.submit(funcs.cooperative, 20)
            waiter = asyncio.ensure_future(asked.result_async(cancel_on_interrupt=True))
            group = eng.map(funcs.cooperative, [20])
            gwaiter = asyncio.ensure_future(group.results_async(cancel_on_interrupt=True))
            plain = eng.submit(funcs.cooperative, 20)
            pwaiter = asyncio.ensure_future(plain.result_async())
            await asyncio.sleep(0.1)
            for w in (waiter, gwaiter, pwaiter):
                w.cancel()
            await asyncio.gather(waiter, gwaiter, pwaiter, return_exceptions=True)
            statuses = asked.status, group[0].status, plain.status
            plain.cancel()
            return statuses

    assert asyncio.run(main()) == (JobStatus.CANCELLED, JobStatus.CANCELLED,
                                   JobStatus.RUNNING)


def test_a_cancelled_wait_async_cancels_every_unfinished_job() -> None:
    async def main() -> JobStatus:
        async with Engine(threads=2, default=False) as eng:
            h = eng.submit(funcs.cooperative, 20)
            waiter = asyncio.ensure_future(eng.wait_async(cancel_on_interrupt=True))
            await asyncio.sleep(0.1)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            return h.status

    assert asyncio.run(main()) is JobStatus.CANCELLED


# -- tracebacks ----------------------------------------------------------------------------
def test_a_process_failure_carries_the_workers_traceback_as_its_cause() -> None:
    with Engine(threads=1, processes=1, default=False) as eng:
        h = eng.submit(funcs.boom, "deep", backend="process")
        with pytest.raises(JobFailed) as info:
            h.result(timeout=30)
    cause = info.value.__cause__
    assert isinstance(cause, RuntimeError) and str(cause) == "deep"
    remote = cause.__cause__
    assert isinstance(remote, RemoteTraceback)
    assert 'in boom\n    raise RuntimeError(message)' in remote.tb
    assert "processes.py" not in remote.tb  # starts at the user's function
    assert os.path.basename(funcs.__file__) in remote.tb
