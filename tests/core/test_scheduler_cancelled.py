"""Cancelled jobs do not pile up in the scheduler: ``top(n)`` (``eng.pending(n)``) stays
O(n) and the queues shed cancelled slots, however many jobs were cancelled (issue 17,
case 8: ``pending(20)`` took 0.6 s under the engine lock with 200k cancelled)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import godnb.core.scheduler as scheduler_module
from godnb import Engine
from godnb.core.scheduler import Scheduler
from tests.core.test_scheduler import J

_ids = count()


class CountingIndex(dict):  # type: ignore[type-arg]
    """The scheduler's job index, counting lookups: the work a walk of the queues does."""

    lookups = 0

    def get(self, key: Any, default: Any = None) -> Any:
        CountingIndex.lookups += 1
        return super().get(key, default)


def slots(s: Scheduler) -> int:
    return sum(len(q) for level in s._levels.values() for q in level.groups.values())


def lookups_of(fn: Any) -> int:
    CountingIndex.lookups = 0
    fn()
    return CountingIndex.lookups


def counting(s: Scheduler) -> Scheduler:
    s._index = CountingIndex(s._index)
    return s


def test_cancelled_slots_are_dropped_once_they_outnumber_the_queued_jobs() -> None:
    s: Scheduler = Scheduler()
    jobs = [J() for _ in range(200_000)]
    s.submit_many(jobs)
    live = [J() for _ in range(5)]
    s.submit_many(live)
    for j in jobs:
        s.cancel(j.job_id)
    assert s.size() == 5
    # at most max(_COMPACT_MIN, queued) cancelled slots are kept
    assert slots(s) <= 5 + scheduler_module._COMPACT_MIN
    assert s.top(20) == live
    assert [s.next_job() for _ in range(5)] == live
    assert s.next_job() is None and slots(s) == 0


def test_top_is_o_n_with_a_cancelled_backlog_in_front_of_queued_jobs() -> None:
    """200k cancelled slots ahead of as many queued jobs (no rebuild is due): the first
    top(20) drops them as it walks, and every later call touches about 20 slots."""
    s = counting(Scheduler())
    cancelled = [J() for _ in range(200_000)]
    queued = [J() for _ in range(200_000)]
    s.submit_many(cancelled + queued)
    for j in cancelled:
        s.cancel(j.job_id)
    first = lookups_of(lambda: s.top(20))
    assert first <= 200_000 + 20 + 1
    assert slots(s) == 200_000  # the walked cancelled stretch is gone
    for _ in range(3):
        assert lookups_of(lambda: s.top(20)) <= 20
    assert s.top(20) == queued[:20]
    assert s.size() == 200_000


def test_top_with_cancelled_jobs_scattered_between_groups_keeps_its_order() -> None:
    s: Scheduler = Scheduler()
    a = [J(group="a") for _ in range(100)]
    b = [J(group="b") for _ in range(100)]
    s.submit_many(a + b + [J(priority=1)])
    for j in a[:60] + b[10:90]:
        s.cancel(j.job_id)
    top = s.top(10)
    assert top[0].priority == 1
    assert top[1:] == [a[60], b[0], a[61], b[1], a[62], b[2], a[63], b[3], a[64]]
    # and the order of what comes out is untouched by the drops
    assert s.top(10) == top
    assert [s.next_job() for _ in range(10)] == top


@contextmanager
def tiny_thresholds() -> Iterator[None]:
    saved = scheduler_module._COMPACT_MIN, scheduler_module._TRIM_MIN
    scheduler_module._COMPACT_MIN, scheduler_module._TRIM_MIN = 2, 1
    try:
        yield
    finally:
        scheduler_module._COMPACT_MIN, scheduler_module._TRIM_MIN = saved


ops = st.lists(st.one_of(
    st.tuples(st.just("submit"), st.integers(0, 2), st.sampled_from("abc")),
    st.tuples(st.just("cancel"), st.integers(0, 200)),
    st.tuples(st.just("next")),
    st.tuples(st.just("top"), st.integers(1, 8)),
), max_size=150)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_drops_never_change_what_comes_out(operations: list[tuple[Any, ...]]) -> None:
    """With rebuilds and drops on every chance, the scheduler gives what a model gives:
    the same jobs, in priority order, FIFO per group; top(n) is a prefix of that order."""
    with tiny_thresholds():
        s: Scheduler = Scheduler()
        model: dict[str, J] = {}
        submitted: list[J] = []
        for op in operations:
            if op[0] == "submit":
                j = J(op[1], op[2])
                submitted.append(j)
                model[j.job_id] = j
                s.submit(j)
            elif op[0] == "cancel" and submitted:
                j = submitted[op[1] % len(submitted)]
                assert s.cancel(j.job_id) == (model.pop(j.job_id, None) is not None)
            elif op[0] == "next":
                got = s.next_job()
                if got is None:
                    assert not model
                else:
                    assert got.priority == max(j.priority for j in model.values())
                    del model[got.job_id]
            elif op[0] == "top":
                top = s.top(op[1])
                assert len(top) == min(op[1], len(model))
                assert all(j.job_id in model for j in top)
                assert [j.priority for j in top] == sorted((j.priority for j in top),
                                                            reverse=True)
            assert s.size() == len(model)
            assert s._stale == slots(s) - len(model)
        rest = []
        while (j := s.next_job()) is not None:
            rest.append(j)
        assert {j.job_id for j in rest} == set(model)
        for g in "abc":
            order = [submitted.index(j) for j in rest if j.group == g]
            for p in (0, 1, 2):
                seq = [i for i in order if submitted[i].priority == p]
                assert seq == sorted(seq)


def _gate_wait(event: Any) -> None:
    event.wait(30)


def test_engine_pending_with_200k_cancelled_queued_jobs() -> None:
    import threading

    gate = threading.Event()
    with Engine(threads=1) as eng:
        blocker = eng.submit(_gate_wait, gate)
        g = eng.map(abs, range(200_000))
        later = eng.map(abs, range(30), priority=-1)
        g.cancel()
        scheduler = counting(eng._rt.schedulers["thread"])
        eng.pending(20)  # may drop what it walks past, once
        assert lookups_of(lambda: eng.pending(20)) <= 40
        assert [h.job_id for h in eng.pending(20)] == [h.job_id for h in later][:20]
        assert slots(scheduler) <= 30 + scheduler_module._COMPACT_MIN
        gate.set()
        assert blocker.result(30) is None
        assert later.results(timeout=30) == list(range(30))
