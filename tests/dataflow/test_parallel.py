"""Parallel map stages on every backend: order, bounds, failures, shutdown and memory."""

from __future__ import annotations

import functools
import gc
import itertools
import multiprocessing
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godnb.core.pipeline import Pipeline, PipelineError
from godnb.errors import WorkerDied
from tests.dataflow import pipeline_funcs as pf
from tests.waiting import wait_until

BACKENDS = ["thread", "process", "async"]
DOUBLE = {"thread": pf.double, "process": pf.double, "async": pf.adouble}
FAIL_ON_3 = {"thread": functools.partial(pf.fail_on, 3),
             "process": functools.partial(pf.fail_on, 3),
             "async": functools.partial(pf.afail_on, 3)}
SLOW_FIRST = {"thread": functools.partial(pf.slow_first, 0.3),
              "process": functools.partial(pf.slow_first, 0.3),
              "async": functools.partial(pf.aslow_first, 0.3)}


def pipe_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t.name.startswith(("godnb-pipe", "godnb-proc")))


def assert_shut_down(within: float = 0.0) -> None:
    wait_until(lambda: not pipe_threads() and not multiprocessing.active_children(), within,
               lambda: f"the stage's workers to end; left: {pipe_threads()} "
                       f"{multiprocessing.active_children()}")


# -- same output as plain Python ----------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-100, 100), max_size=80), st.integers(1, 4), st.integers(1, 9),
       st.integers(1, 5))
def test_thread_map_matches_reference(xs: list[int], workers: int, buffer: int,
                                      chunksize: int) -> None:
    p = Pipeline(xs).map(pf.double, workers=workers, buffer=buffer, chunksize=chunksize)
    assert p.collect() == [2 * x for x in xs]
    q = Pipeline(xs).map(pf.double, workers=workers, ordered=False, buffer=buffer)
    assert sorted(q.collect()) == sorted(2 * x for x in xs)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunksize", [None, 1, 7])
@pytest.mark.parametrize("n", [0, 1, 57])
def test_ordered_map_on_each_backend(backend: str, chunksize: int | None, n: int) -> None:
    p = Pipeline(range(n)).map(DOUBLE[backend], workers=2, backend=backend,
                               chunksize=chunksize)
    assert p.collect() == [2 * x for x in range(n)]
    rows = p.profile().stages
    assert rows[0].items_out == rows[1].items_in == rows[1].items_out == n


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_unordered_map_yields_in_completion_order(backend: str) -> None:
    fn = SLOW_FIRST[backend]
    ordered = Pipeline(range(6)).map(fn, workers=2, backend=backend, chunksize=1).collect()
    unordered = Pipeline(range(6)).map(fn, workers=2, backend=backend, chunksize=1,
                                       ordered=False).collect()
    assert ordered == list(range(6))
    assert sorted(unordered) == list(range(6))
    assert unordered[-1] == 0  # the slow first item came out last


def test_process_stage_really_uses_other_processes() -> None:
    import os

    pids = set(Pipeline(range(20)).map(pf.pid, workers=2, backend="process",
                                       chunksize=1).collect())
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


# -- bounded in-flight work ---------------------------------------------------------------------

def test_in_flight_items_never_exceed_the_buffer() -> None:
    pulled = 0

    def source() -> Iterator[int]:
        nonlocal pulled
        for x in range(200):
            pulled += 1
            yield x

    busy = pf.Concurrency(delay=0.001)
    p = Pipeline(source()).map(busy, workers=3, buffer=5)
    consumed = 0
    for _ in p:
        consumed += 1
        assert pulled - consumed <= 5  # submitted and not yet passed on
    assert consumed == 200
    assert busy.peak <= 3
    assert p.profile().stages[1].max_queue_depth <= 5


def test_worker_threads_are_named_for_the_leak_checker() -> None:
    names: list[str] = []
    p = Pipeline(range(4)).map(lambda x: names.append(threading.current_thread().name),
                               workers=2)
    p.collect()
    assert names and all(n.startswith("godnb-pipe-map[0]:<lambda>-") for n in names)


# -- failures never hang the pipeline -------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_raising_worker_fails_the_pipeline_with_stage_and_index(backend: str) -> None:
    p = Pipeline(range(8)).map(FAIL_ON_3[backend], workers=2, backend=backend)
    with pytest.raises(PipelineError, match=r"map\[0\]:(a?fail_on) failed on input 3: "
                                            r"ValueError: bad item 3") as info:
        p.collect()
    assert (info.value.index, info.value.item) == (3, 3)
    assert isinstance(info.value.__cause__, ValueError)
    assert_shut_down(within=3)

    skip = Pipeline(range(8), on_error="skip").map(FAIL_ON_3[backend], workers=2,
                                                   backend=backend)
    assert skip.collect() == [0, 2, 4, 8, 10, 12, 14]
    collect = Pipeline(range(8), on_error="collect").map(FAIL_ON_3[backend], workers=2,
                                                         backend=backend, ordered=False)
    assert sorted(collect.collect()) == [0, 2, 4, 8, 10, 12, 14]
    assert [e.index for e in collect.errors] == [3]
    assert collect.profile().stages[1].errors == 1


def test_process_errors_carry_the_worker_traceback() -> None:
    p = Pipeline(range(5)).map(functools.partial(pf.fail_on, 3), workers=2,
                               backend="process")
    with pytest.raises(PipelineError) as info:
        p.collect()
    remote = info.value.__cause__.__cause__
    assert "in fail_on" in str(remote) and "ValueError: bad item 3" in str(remote)


@pytest.mark.timeout(60)
def test_a_dying_process_worker_fails_its_item_and_the_pool_goes_on() -> None:
    die = functools.partial(pf.die_on, 3)
    with pytest.raises(PipelineError, match=r"input 3: WorkerDied") as info:
        Pipeline(range(8)).map(die, workers=2, backend="process", chunksize=1).collect()
    assert isinstance(info.value.__cause__, WorkerDied)
    assert_shut_down(within=3)
    p = Pipeline(range(8), on_error="skip").map(die, workers=2, backend="process",
                                                chunksize=1)
    assert p.collect() == [0, 2, 4, 8, 10, 12, 14]


@pytest.mark.timeout(60)
def test_a_dying_worker_in_a_chunk_loses_the_chunk_and_says_so() -> None:
    p = Pipeline(range(8), on_error="collect").map(functools.partial(pf.die_on, 3),
                                                   workers=2, backend="process", chunksize=4)
    assert p.collect() == [8, 10, 12, 14]
    assert [e.index for e in p.errors] == [0, 1, 2, 3]
    assert "whole chunk of inputs 0..3 was lost" in "".join(p.errors[0].__cause__.__notes__)


def test_a_thread_worker_that_exits_fails_only_its_item() -> None:
    p = Pipeline(range(6), on_error="collect").map(functools.partial(pf.exit_on, 2),
                                                   workers=2)
    assert p.collect() == [0, 2, 6, 8, 10]
    assert isinstance(p.errors[0].__cause__, SystemExit)


@pytest.mark.timeout(60)
def test_a_hung_thread_item_times_out_and_its_worker_is_replaced() -> None:
    gate = pf.Gate()
    try:
        p = Pipeline(range(6)).map(functools.partial(gate.hang_on, 2), workers=2, timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(PipelineError, match=r"input 2: TimeoutError: item ran longer than "
                                                r"timeout=0.2 s; a thread can not be stopped"):
            p.collect()
        assert time.monotonic() - t0 < 5
        skip = Pipeline(range(6), on_error="skip").map(functools.partial(gate.hang_on, 2),
                                                       workers=2, timeout=0.2)
        assert skip.collect() == [0, 2, 6, 8, 10]
    finally:
        gate.release()  # the abandoned threads return and end
    assert_shut_down(within=5)


@pytest.mark.timeout(60)
def test_a_hang_times_out_while_other_workers_keep_delivering() -> None:
    gate = pf.Gate()
    try:
        p = (Pipeline(itertools.count(), on_error="collect")
             .map(functools.partial(gate.hang_on, 2), workers=2, timeout=0.2, ordered=False)
             .map(functools.partial(pf.sleepy, 0.002)).take(300))
        assert len(p.collect()) == 300  # ~0.6 s of steady output from the other worker
        assert [(e.index, type(e.__cause__)) for e in p.errors] == [(2, TimeoutError)]
    finally:
        gate.release()


@pytest.mark.timeout(60)
def test_a_hung_process_item_is_killed_at_its_timeout() -> None:
    hang = functools.partial(pf.sleep_on, 2, 60.0)
    t0 = time.monotonic()
    with pytest.raises(PipelineError, match=r"input 2: TimeoutError: .*worker process was "
                                            r"killed"):
        Pipeline(range(6)).map(hang, workers=2, backend="process", timeout=0.5).collect()
    assert_shut_down(within=3)
    p = Pipeline(range(6), on_error="skip").map(hang, workers=2, backend="process",
                                                timeout=0.5)
    assert p.collect() == [0, 2, 6, 8, 10]
    assert time.monotonic() - t0 < 20


@pytest.mark.timeout(60)
def test_a_hung_async_item_is_cancelled_at_its_timeout() -> None:
    hang = functools.partial(pf.ahang_on, 2)
    with pytest.raises(PipelineError, match=r"input 2: TimeoutError: item ran longer than "
                                            r"timeout=0.2 s; its task was cancelled"):
        Pipeline(range(6)).map(hang, workers=2, timeout=0.2).collect()
    p = Pipeline(range(6), on_error="skip").map(hang, workers=2, timeout=0.2)
    assert p.collect() == [0, 2, 6, 8, 10]


# -- leaving early shuts the workers down ---------------------------------------------------------

def _leave_early(p: Pipeline, how: str) -> None:
    if how == "break":
        for x in p:
            if x >= 10:
                break
    elif how == "close":
        it = iter(p)
        next(it)
        it.close()
    elif how == "take":
        assert len(p.take(3).collect()) == 3
    else:  # garbage collection of an iterator caught in a reference cycle
        it = iter(p)
        next(it)
        cycle: list[Any] = [it]
        cycle.append(cycle)
        del it, cycle
        gc.collect()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["break", "close", "take", "gc"])
def test_leaving_early_leaves_no_threads_or_processes(backend: str, how: str) -> None:
    p = Pipeline(itertools.count()).map(DOUBLE[backend], workers=2, backend=backend)
    _leave_early(p.buffer(2).batch(3, timeout=5).flat_map(iter), how)
    assert_shut_down()  # at once: closing joins every worker


# -- constant memory on an infinite source --------------------------------------------------------

def _peak_bytes(p: Pipeline) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in p:
            pass
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.timeout(120)
def test_an_infinite_source_runs_in_constant_memory() -> None:
    def pulling(n: int) -> Pipeline:  # n items pulled from an infinite source
        return (Pipeline(itertools.count()).take(n).map(pf.double).filter(lambda x: x % 3)
                .map(pf.inc, workers=2, chunksize=50).batch(10).flat_map(iter).window(3)
                .map(sum))

    small = _peak_bytes(pulling(10_000))
    large = _peak_bytes(pulling(100_000))
    assert large - small < 32 * 1024, (small, large)


def test_the_process_window_bounds_memory_too() -> None:
    p = Pipeline(itertools.count()).map(pf.cpu, workers=2, backend="process", buffer=64)
    q = p.take(2000)
    assert len(q.collect()) == 2000
    assert q.profile().stages[1].max_queue_depth <= 64

