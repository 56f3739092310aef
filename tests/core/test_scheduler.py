from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import count, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godnb.core.scheduler import Scheduler
from godnb.models import Job
from tests.waiting import wait_until

_ids = count()


@dataclass
class J:
    priority: int = 0
    group: str = "default"
    job_id: str = field(default_factory=lambda: f"j{next(_ids)}")


def drain(s: Scheduler) -> list:
    out = []
    while (j := s.next_job()) is not None:
        out.append(j)
    return out


def test_empty_returns_none() -> None:
    s: Scheduler = Scheduler()
    assert s.next_job() is None
    assert s.peek() is None
    assert s.size() == 0


def test_works_with_real_jobs() -> None:
    s: Scheduler = Scheduler()
    s.submit(Job(payload={"task": "t"}, priority=1))
    s.submit(Job(payload={"task": "t"}, priority=9))
    assert [j.priority for j in drain(s)] == [9, 1]


def test_higher_priority_first_fifo_within_group() -> None:
    s: Scheduler = Scheduler()
    jobs = [J(p) for p in (1, 5, 3, 5, 1)]
    for j in jobs:
        s.submit(j)
    out = drain(s)
    assert [j.priority for j in out] == [5, 5, 3, 1, 1]
    assert out[0] is jobs[1] and out[1] is jobs[3]
    assert out[3] is jobs[0] and out[4] is jobs[4]


def test_fairness_between_groups() -> None:
    s: Scheduler = Scheduler()
    for _ in range(10_000):
        s.submit(J(group="big"))
    small = [J(group="small") for _ in range(10)]
    for j in small:
        s.submit(j)
    first = [s.next_job() for _ in range(20)]
    assert [j for j in first if j.group == "small"] == small


def test_round_robin_among_three_groups() -> None:
    s: Scheduler = Scheduler()
    for g in "aaaabbc":
        s.submit(J(group=g))
    assert "".join(j.group for j in drain(s)) == "abcabaa"


def test_peek_does_not_remove() -> None:
    s: Scheduler = Scheduler()
    j = J(3)
    s.submit(j)
    assert s.peek() is j
    assert s.size() == 1
    assert s.next_job() is j


def test_cancel() -> None:
    s: Scheduler = Scheduler()
    a, b, c = J(), J(), J()
    for j in (a, b, c):
        s.submit(j)
    assert s.cancel(b.job_id) is True
    assert s.cancel(b.job_id) is False
    assert s.cancel("nope") is False
    assert s.size() == 2
    assert drain(s) == [a, c]


def test_cancel_front_then_peek_skips_it() -> None:
    s: Scheduler = Scheduler()
    a, b = J(), J()
    s.submit(a)
    s.submit(b)
    s.cancel(a.job_id)
    assert s.peek() is b


def test_duplicate_submit_rejected() -> None:
    s: Scheduler = Scheduler()
    j = J()
    s.submit(j)
    with pytest.raises(ValueError, match="already queued"):
        s.submit(j)


def test_next_job_timeout_waits_for_a_submit() -> None:
    s: Scheduler = Scheduler()
    j = J()
    t = threading.Timer(0.05, s.submit, args=(j,))
    t.start()
    assert s.next_job(timeout=5) is j
    t.join()


def test_wake_ends_a_wait_on_an_empty_queue() -> None:
    # Shutdown relies on this: a worker blocked in next_job() must return, not sit out
    # its poll timeout.
    s: Scheduler = Scheduler()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(s.next_job(timeout=60)))
    waiter.start()
    wait_until(lambda: s._ready._waiters, 30, "the waiter to block", interval=0.001)
    s.wake()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert got == [None]


def test_top_lists_in_priority_order_without_removing() -> None:
    s: Scheduler = Scheduler()
    for p in (1, 3, 2):
        s.submit(J(p))
    assert [j.priority for j in s.top(2)] == [3, 2]
    assert s.size() == 3


def test_take_returns_in_order() -> None:
    s: Scheduler = Scheduler()
    for p in (1, 3, 2):
        s.submit(J(p))
    assert [j.priority for j in s.take(5)] == [3, 2, 1]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.integers(0, 3), st.sampled_from("abc")),
        st.tuples(st.just("cancel"), st.integers(0, 200)),
        st.tuples(st.just("next")),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_property_exactly_once_priority_and_fair(operations: list[tuple]) -> None:
    s: Scheduler = Scheduler()
    submitted: list[J] = []
    cancelled: set[str] = set()
    out: list[J] = []
    model: dict[str, J] = {}
    for op in operations:
        if op[0] == "submit":
            j = J(op[1], op[2])
            submitted.append(j)
            model[j.job_id] = j
            s.submit(j)
        elif op[0] == "cancel" and submitted:
            j = submitted[op[1] % len(submitted)]
            assert s.cancel(j.job_id) == (j.job_id in model)
            if model.pop(j.job_id, None) is not None:
                cancelled.add(j.job_id)
        elif op[0] == "next":
            got = s.next_job()
            if got is None:
                assert not model
            else:
                # nothing queued has a higher priority than what came out
                assert got.priority == max(j.priority for j in model.values())
                del model[got.job_id]
                out.append(got)
        assert s.size() == len(model)
    rest = drain(s)
    # the drained tail is in non-increasing priority order
    assert [j.priority for j in rest] == sorted((j.priority for j in rest), reverse=True)
    # fairness: within a priority, groups alternate while several have jobs
    by_prio: dict[int, list[J]] = defaultdict(list)
    for j in rest:
        by_prio[j.priority].append(j)
    for jobs in by_prio.values():
        remaining = Counter(j.group for j in jobs)
        for a, b in pairwise(jobs):
            remaining[a.group] -= 1
            if sum(1 for n in remaining.values() if n > 0) > 1 and remaining[a.group] > 0:
                assert a.group != b.group
    got = out + rest
    assert len({j.job_id for j in got}) == len(got)
    assert {j.job_id for j in got} == {j.job_id for j in submitted} - cancelled
    # FIFO within a group and priority
    for jobs in by_prio.values():
        for g in "abc":
            seq = [j for j in jobs if j.group == g]
            order = [submitted.index(j) for j in seq]
            assert order == sorted(order)


def test_threads_lose_and_duplicate_nothing() -> None:
    s: Scheduler = Scheduler()
    n_threads, per_thread = 8, 2_000
    taken: list[list[J]] = [[] for _ in range(n_threads)]
    done_submitting = threading.Event()

    def producer_consumer(i: int) -> None:
        for k in range(per_thread):
            s.submit(J(k % 5, f"g{i}"))
            if k % 2:
                j = s.next_job()
                if j is not None:
                    taken[i].append(j)
        while not done_submitting.is_set() or s.size():
            j = s.next_job(timeout=0.01)
            if j is not None:
                taken[i].append(j)

    threads = [threading.Thread(target=producer_consumer, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    try:  # sleep between polls: a busy loop would starve the workers of the GIL
        wait_until(lambda: sum(map(len, taken)) + s.size() >= n_threads * per_thread, 60,
                   "every job to be submitted", interval=0.001)
    finally:
        done_submitting.set()  # else the consumers never end
        for t in threads:
            t.join(30)
    ids = [j.job_id for lst in taken for j in lst]
    assert len(ids) == n_threads * per_thread
    assert len(set(ids)) == len(ids)
